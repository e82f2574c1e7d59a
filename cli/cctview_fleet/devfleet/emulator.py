"""The AWS emulator of the local fleet: moto's server as a real HTTP endpoint.

boto3 (in the CLI and in the agents, over ``AWS_ENDPOINT_URL``) talks to it exactly as to AWS.
The local fleet registers here what Pulumi creates in a real account: one EC2 instance per node
with the fleet tags, one encrypted EBS data volume attached to each, and the bucket.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

from cctview_agent import awscalls
from cctview_agent.fleetconstants import (
    DATA_VOLUME_DEVICE,
    FLEET_TAG,
    GENERATION_TAG,
    NODE_TAG,
    SSH_HOST_TAG,
    SSH_PORT_TAG,
)
from cctview_fleet.cloud import aws
from cctview_fleet.cloud.stacks import Stack
from cctview_fleet.devfleet.errors import DevFleetError, PortError, ProcessStartError
from cctview_fleet.devfleet.processes import (
    ProcessRecord,
    free_port,
    is_alive,
    log_tail,
    spawn,
    stop,
    wait_for_port,
)
from cctview_fleet.devfleet.state import FleetState, save_state

HOST = "127.0.0.1"
_ATTEMPTS = 3


def start_moto(log: Path, *, mark: str, timeout: float = 30.0) -> tuple[ProcessRecord, str]:
    """Start ``moto.server`` on a free loopback port; retries when another process took it."""
    for _ in range(_ATTEMPTS):
        port = free_port(HOST)
        argv = [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)]
        # moto's 1,300 default AMIs cost seconds to load and nothing here uses them.
        env = {**os.environ, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}
        record = spawn("moto", "moto", argv, log, mark=mark, env=env, port=port)
        url = f"http://{HOST}:{port}"
        try:
            wait_for_port(record, HOST, port, timeout=timeout)
            _wait_http(record, url, timeout=timeout)
        except ProcessStartError:
            stop([record])
            if "Address already in use" in log_tail(record, 20):
                continue
            raise
        return record, url
    raise PortError(f"moto server could not bind a free port in {_ATTEMPTS} tries (log {log})")


def _wait_http(record: ProcessRecord, url: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=2) as response:
                if response.status < 500:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if not is_alive(record) or time.monotonic() > deadline:
            raise ProcessStartError(f"moto server at {url} does not answer (log {record.log})")
        time.sleep(0.1)


@dataclass(frozen=True, slots=True)
class Registration:
    """What the emulator holds for one node."""

    instance_id: str
    volume_id: str
    availability_zone: str


def _tags(pairs: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in pairs.items()]


@awscalls.acting_as(awscalls.DEPLOYER)  # stands in for `pulumi up`
def register_image(stack: Stack) -> str:
    """The fleet's own AMI in the emulator. The first EC2 call also builds moto's EC2 backend
    (a second or two), so ``dev up`` makes it in the background while other parts start."""
    with aws.translate_errors(stack, "ec2", "registering the local AMI", error=DevFleetError):
        image = aws.ec2(stack).register_image(
            Name=f"cctview-{stack.name}-debian-12",
            Description="stands in for the Debian 12 AMI of a real fleet",
            Architecture="x86_64",
            RootDeviceName="/dev/xvda",
        )
    return str(image["ImageId"])


@awscalls.acting_as(awscalls.DEPLOYER)  # stands in for `pulumi up`
def register_nodes(
    stack: Stack, image: str, nodes: list[tuple[str, int]]
) -> dict[str, Registration]:
    """One tagged instance and one attached, encrypted data volume per ``(node, ssh_port)``."""
    fleet = stack.name
    ec2 = aws.ec2(stack)
    with aws.translate_errors(stack, "ec2", "registering the local nodes", error=DevFleetError):
        registered: dict[str, Registration] = {}
        for name, port in nodes:
            tags = {
                "Name": f"cctview-{fleet}-{name}",
                FLEET_TAG: fleet,
                NODE_TAG: name,
                SSH_HOST_TAG: HOST,
                SSH_PORT_TAG: str(port),
            }
            instance = ec2.run_instances(
                ImageId=image,
                InstanceType="t2.micro",
                MinCount=1,
                MaxCount=1,
                TagSpecifications=[{"ResourceType": "instance", "Tags": _tags(tags)}],
            )["Instances"][0]
            zone = instance["Placement"]["AvailabilityZone"]
            volume_tags = {
                "Name": f"cctview-{fleet}-{name}-data-1",
                FLEET_TAG: fleet,
                NODE_TAG: name,
                GENERATION_TAG: "1",
            }
            volume = ec2.create_volume(
                AvailabilityZone=zone,
                Size=8,
                VolumeType="gp3",
                Encrypted=True,
                TagSpecifications=[{"ResourceType": "volume", "Tags": _tags(volume_tags)}],
            )
            ec2.attach_volume(
                VolumeId=volume["VolumeId"],
                InstanceId=instance["InstanceId"],
                Device=DATA_VOLUME_DEVICE,
            )
            registered[name] = Registration(instance["InstanceId"], volume["VolumeId"], zone)
    return registered


@awscalls.acting_as(awscalls.DEPLOYER)  # stands in for `pulumi up`
def tag_boot(stack: Stack, instance_id: str, boot_tags: dict[str, str]) -> None:
    """The tags a node's user data reads at boot (the program's ``node.boot_tags``)."""
    with aws.translate_errors(stack, "ec2", "tagging the local nodes", error=DevFleetError):
        aws.ec2(stack).create_tags(Resources=[instance_id], Tags=_tags(boot_tags))


@awscalls.acting_as(awscalls.DEPLOYER)  # stands in for `pulumi up`
def create_bucket(stack: Stack) -> None:
    s3 = aws.s3(stack)
    with aws.translate_errors(stack, "s3", f"creating bucket {stack.bucket}", error=DevFleetError):
        s3.create_bucket(Bucket=stack.bucket)


def register_in_emulator(state: FleetState, stack: Stack, image: str) -> FleetState:
    """One instance (tagged with its SSH port) and one data volume per node, as Pulumi makes."""
    registered = register_nodes(stack, image, [(n.name, n.ssh_port) for n in state.nodes])
    for node in list(state.nodes):
        state = state.with_node(
            replace(
                node,
                instance_id=registered[node.name].instance_id,
                volume_id=registered[node.name].volume_id,
            )
        )
    save_state(state)
    return state
