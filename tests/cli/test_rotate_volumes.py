"""rotate-volumes: the resumable state machine against a real moto server, and the command line.

The EC2 side is moto's server over HTTP; the node side is the real ``cctview-agent`` (volume
steps, and ``sync`` to the same moto server's S3) run as a local process instead of over SSH, so
the state machine is tested step by step without sshd. The test on the local fleet (real sshd,
real agents collecting from the camera simulator) is in test_rotate_volumes_fleet.py.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cctview_agent.layout import DataLayout
from cctview_agent.periods import Period
from cctview_fleet.app import app
from cctview_fleet.devfleet.nodes import (
    NodePaths,
    make_node_folder,
    mount_volume,
    node_environment,
    write_agent_files,
)
from cctview_fleet.ebsvolumes import Ec2Volumes
from cctview_fleet.errors import UnreachableError, VolumeError
from cctview_fleet.inventory import Node, discover
from cctview_fleet.nodevolumes import SshNodeVolumes
from cctview_fleet.ssh import CommandResult
from cctview_fleet.stacks import HOME_ENV, STACK_ENV, Stack, save_stack
from cctview_fleet.volumes import NodeRotation, RotateOptions
from tests.fixtures.s3 import MotoServer, write_period

PERIOD = 10
CAMERA = "cam-a"
NODE = "node-01"


class LocalConnection:
    """Runs the node's commands as local processes with the node's environment (no SSH).

    ``fail_before`` simulates the operator's link dropping just before a command containing the
    given text (once), which is how a rotation gets interrupted half-way.
    """

    def __init__(self, node: Node, env: dict[str, str]) -> None:
        self.node = node
        self.env = env
        self.fail_before: str | None = None
        self.commands: list[str] = []

    def run(
        self, command: str, stdin: str | bytes | None = None, *, timeout: float | None = 120.0
    ) -> CommandResult:
        if self.fail_before and self.fail_before in command:
            self.fail_before = None
            raise UnreachableError(self.node.name, f"connection dropped during `{command}`")
        self.commands.append(command)
        done = subprocess.run(
            ["bash", "-c", command],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        return CommandResult(done.returncode, done.stdout, done.stderr)


def register_node(ec2: Any, fleet: str) -> str:
    """What Pulumi (or ``dev up``) makes for a node: a tagged instance, an attached generation-1
    volume. moto accepts any AMI id, which spares its slow image catalogue."""

    def tags(kind: str, pairs: dict[str, str]) -> list[dict[str, Any]]:
        return [{"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in pairs.items()]}]

    instance = ec2.run_instances(
        ImageId="ami-12c6146b",
        InstanceType="t2.micro",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=tags(
            "instance",
            {
                "cctview:fleet": fleet,
                "cctview:node": NODE,
                "cctview:ssh-host": "127.0.0.1",
                "cctview:ssh-port": "9",  # discard: nothing listens, connections are refused
            },
        ),
    )["Instances"][0]
    volume = ec2.create_volume(
        AvailabilityZone=instance["Placement"]["AvailabilityZone"],
        Size=8,
        VolumeType="gp3",
        Encrypted=True,
        TagSpecifications=tags(
            "volume", {"cctview:fleet": fleet, "cctview:node": NODE, "cctview:generation": "1"}
        ),
    )
    ec2.attach_volume(
        VolumeId=volume["VolumeId"], InstanceId=instance["InstanceId"], Device="/dev/sdf"
    )
    return str(volume["VolumeId"])


class Rig:
    """One node registered in moto (instance + generation-1 volume) with a node folder."""

    def __init__(self, tmp_path: Path, moto: MotoServer, bucket: str) -> None:
        self.stack = Stack(
            name=f"t{uuid.uuid4().hex[:10]}",
            endpoint_url=moto.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            bucket=bucket,
            prefix="cctview",
        )
        self.old_volume = register_node(moto.client("ec2"), self.stack.name)
        self.paths: NodePaths = make_node_folder(tmp_path / NODE)
        mount_volume(self.paths, self.old_volume)
        write_agent_files(self.paths, NODE, period=PERIOD)
        self.node = discover(self.stack)[0]
        self.env = {**os.environ, **moto.env, **node_environment(self.paths, moto.endpoint_url)}
        self.conn = LocalConnection(self.node, self.env)
        self.ec2 = Ec2Volumes(self.stack, poll=0.05, timeout=20)

    @property
    def old_root(self) -> Path:
        return self.paths.volumes / self.old_volume

    def rotate(self, stack: Stack | None = None, **options: Any) -> Any:
        stack = stack or self.stack
        agent = SshNodeVolumes(self.conn, stack)  # type: ignore[arg-type]
        defaults: dict[str, Any] = {"force": True, "poll": 0.2, "drain_timeout": 20.0}
        return NodeRotation(
            self.node, self.ec2, agent, RotateOptions(**{**defaults, **options})
        ).run()

    def volumes(self) -> dict[str, Any]:
        return {v.volume_id: v for v in self.ec2.node_volumes(NODE)}

    def manifests_in_s3(self, moto: MotoServer) -> list[str]:
        listing = moto.client("s3").list_objects_v2(Bucket=self.stack.bucket, Prefix="cctview/")
        return sorted(
            o["Key"] for o in listing.get("Contents", []) if o["Key"].endswith(".manifest.json")
        )


def closed_periods(root: Path, count: int) -> list[Period]:
    """``count`` past periods of CAMERA with 3 frames each, closed (manifest), not yet synced."""
    first = Period.current(PERIOD).start - PERIOD * (count + 2)
    periods = [Period(first + i * PERIOD, PERIOD) for i in range(count)]
    for period in periods:
        write_period(root, CAMERA, period, 3, node=NODE)
    return periods


@pytest.fixture
def rig(tmp_path: Path, moto_server: MotoServer, s3_bucket: str) -> Rig:
    return Rig(tmp_path, moto_server, s3_bucket)


def test_rotation_switches_drains_through_sync_and_deletes_the_old_volume(
    rig: Rig, moto_server: MotoServer
) -> None:
    closed_periods(rig.old_root, 2)
    rotation = rig.rotate()

    assert rotation.outcome == "rotated" and rotation.old_fate == "deleted"
    volumes = rig.volumes()
    assert rig.old_volume not in volumes  # deleted in EC2
    new = volumes[rotation.new_volume]
    assert (new.generation, new.encrypted, new.az) == (2, True, rig.node.az)
    assert (new.instance_id, new.attachment_state) == (rig.node.instance_id, "attached")
    assert new.rotation == "complete"
    assert new.tags["cctview:rotation-from"] == rig.old_volume
    assert new.tags["cctview:fleet"] == rig.stack.name and new.tags["cctview:node"] == NODE
    # On the node: the link points at the new volume, the old folder is gone...
    assert rig.paths.data.resolve() == (rig.paths.volumes / new.volume_id).resolve()
    assert not rig.old_root.exists()
    # ... and only after both periods were uploaded and verified in S3.
    assert len(rig.manifests_in_s3(moto_server)) == 2


def test_below_the_threshold_nothing_is_created(rig: Rig) -> None:
    rotation = rig.rotate(force=False, threshold=100.0)
    assert rotation.outcome == "skipped" and rotation.new_volume is None
    assert list(rig.volumes()) == [rig.old_volume]


def test_old_volume_is_kept_when_sync_cannot_verify_and_a_rerun_finishes(
    rig: Rig, moto_server: MotoServer
) -> None:
    periods = closed_periods(rig.old_root, 2)
    broken = replace(rig.stack, bucket=f"missing-{uuid.uuid4().hex[:8]}")
    with pytest.raises(VolumeError) as failure:
        rig.rotate(stack=broken)
    message = str(failure.value)
    assert f"syncing the old volume {rig.old_volume} failed, so it is kept" in message
    assert f"rerun `cctview-fleet rotate-volumes {NODE}` to resume" in message
    old = rig.volumes()[rig.old_volume]
    assert old.rotation == "draining" and old.state == "in-use"
    for period in periods:  # every frame still there
        assert len(DataLayout(rig.old_root).frames_in(CAMERA, period)) == 3

    rotation = rig.rotate(force=False)  # the rerun resumes from the tags, no --force needed
    assert rotation.outcome == "resumed" and rotation.old_fate == "deleted"
    assert rig.old_volume not in rig.volumes()
    assert len(rig.manifests_in_s3(moto_server)) == 2


def test_open_periods_keep_the_old_volume_until_they_are_closed(rig: Rig) -> None:
    current = Period.current(PERIOD)
    write_period(rig.old_root, CAMERA, Period(current.start - PERIOD, PERIOD), 2, node=NODE)
    open_frame = DataLayout(rig.old_root).frame_path(CAMERA, current.start_ms)
    open_frame.parent.mkdir(parents=True, exist_ok=True)
    open_frame.write_bytes(b"open period")
    with pytest.raises(VolumeError, match=r"is not drained after 0\.5 s: 1 periods are still open"):
        rig.rotate(drain_timeout=0.5)
    assert rig.volumes()[rig.old_volume].rotation == "draining"
    assert open_frame.exists()


@pytest.mark.parametrize(
    ("interrupt", "tag_after_interrupt"),
    [
        ("volume prepare", "attached"),
        ("volume switch", "prepared"),
        ("volume retire", "switched"),
    ],
)
def test_an_interrupted_rotation_resumes_from_its_tags(
    rig: Rig, moto_server: MotoServer, interrupt: str, tag_after_interrupt: str
) -> None:
    closed_periods(rig.old_root, 1)
    rig.conn.fail_before = interrupt
    with pytest.raises(UnreachableError):
        rig.rotate()
    pending = [v for v in rig.volumes().values() if v.generation == 2]
    assert [v.rotation for v in pending] == [tag_after_interrupt]
    assert rig.old_volume in rig.volumes()

    rotation = rig.rotate(force=False)
    assert rotation.outcome == "resumed" and rotation.new_volume == pending[0].volume_id
    assert rig.old_volume not in rig.volumes()
    assert len([v for v in rig.volumes().values() if v.generation == 2]) == 1  # no second one
    assert rig.paths.data.resolve().name == pending[0].volume_id
    assert len(rig.manifests_in_s3(moto_server)) == 1


def test_keep_old_and_snapshot(rig: Rig) -> None:
    closed_periods(rig.old_root, 1)
    rotation = rig.rotate(keep_old=True, snapshot=True)
    assert rotation.old_fate == "kept" and rotation.snapshot
    old = rig.volumes()[rig.old_volume]
    assert (old.state, old.instance_id, old.rotation) == ("available", None, "kept")
    snapshot = rig.ec2.ec2.describe_snapshots(SnapshotIds=[rotation.snapshot])["Snapshots"][0]
    tags = {t["Key"]: t["Value"] for t in snapshot["Tags"]}
    assert tags["cctview:volume"] == rig.old_volume and snapshot["State"] == "completed"
    assert rig.rotate(force=False, threshold=100.0).outcome == "skipped"  # nothing pending


# -- the command line ----------------------------------------------------------------------


@pytest.fixture
def cli_env(rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Rig:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    monkeypatch.setenv(STACK_ENV, rig.stack.name)
    save_stack(rig.stack)
    return rig


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["node-99", "--force"], 1, "error: unknown node node-99; the fleet has: node-01\n"),
        (
            ["--threshold", "150"],
            2,
            "error: --threshold must be a disk use in percent between 0 and 100, not 150; "
            "e.g. --threshold 80\n",
        ),
        (
            ["--force"],
            2,
            "error: --force rotates named nodes only; name them, e.g. "
            "`cctview-fleet rotate-volumes node-01 --force`\n",
        ),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(
    cli_env: Rig, argv: list[str], code: int, message: str
) -> None:
    result = CliRunner().invoke(app, ["rotate-volumes", *argv])
    assert (result.exit_code, result.stderr) == (code, message)
    assert list(cli_env.volumes()) == [cli_env.old_volume]  # nothing was created


def test_cli_names_the_failed_node_and_says_how_to_resume(cli_env: Rig) -> None:
    """Over SSH to a node that is not there: the table shows why, the exit names the node."""
    start = time.monotonic()
    result = CliRunner().invoke(
        app, ["rotate-volumes", NODE, "--force", "--connect-timeout", "2", "--json"]
    )
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: rotate-volumes failed on 1 of 1 nodes: {NODE}"
    )
    assert '"ok": false' in result.stdout
    assert time.monotonic() - start < 30
    assert list(cli_env.volumes()) == [cli_env.old_volume]  # disk use unknown: nothing created
