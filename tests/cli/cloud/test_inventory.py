"""Node discovery against a real moto server: tags, SSH address overrides, states, messages."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from cctview_fleet.cloud import aws
from cctview_fleet.cloud.inventory import discover, node_from_instance
from cctview_fleet.cloud.stacks import Stack
from cctview_fleet.errors import CredentialsError, InventoryError
from tests.fixtures.s3 import REGION, free_port

# moto does not validate image ids unless asked to; describing its catalogue costs seconds.
AMI = "ami-12c6146b"


def _stack(moto_server: Any, name: str) -> Stack:
    return Stack(
        name=name,
        region=REGION,
        endpoint_url=moto_server.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _launch(ec2: Any, fleet: str, node: str, **extra_tags: str) -> str:
    tags = [{"Key": "cctview:fleet", "Value": fleet}, {"Key": "cctview:node", "Value": node}]
    tags += [{"Key": k, "Value": v} for k, v in extra_tags.items()]
    response = ec2.run_instances(
        ImageId=AMI,
        MinCount=1,
        MaxCount=1,
        InstanceType="t2.micro",
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )
    return response["Instances"][0]["InstanceId"]


@pytest.fixture
def fleet_name() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def test_discovers_tagged_nodes_sorted_with_ssh_overrides(moto_server: Any, fleet_name: str):
    ec2 = moto_server.client("ec2")
    _launch(ec2, fleet_name, "node-02")
    _launch(
        ec2, fleet_name, "node-01", **{"cctview:ssh-host": "127.0.0.1", "cctview:ssh-port": "2201"}
    )
    _launch(ec2, "some-other-fleet", "node-03")
    nodes = discover(_stack(moto_server, fleet_name))
    assert [n.name for n in nodes] == ["node-01", "node-02"]
    first, second = nodes
    assert (first.ssh_host, first.ssh_port) == ("127.0.0.1", 2201)
    assert second.ssh_port == 22
    assert second.ssh_host in (second.public_dns, second.public_ip)
    assert first.state == "running" and first.instance_id.startswith("i-")
    assert first.az and first.private_ip


def test_names_pick_nodes_and_unknown_names_list_the_known(moto_server: Any, fleet_name: str):
    ec2 = moto_server.client("ec2")
    for name in ("node-01", "node-02", "node-03"):
        _launch(ec2, fleet_name, name)
    stack = _stack(moto_server, fleet_name)
    assert [n.name for n in discover(stack, ["node-03", "node-01"])] == ["node-01", "node-03"]
    with pytest.raises(InventoryError) as caught:
        discover(stack, ["node-01", "node-9"])
    assert str(caught.value) == "unknown node node-9; the fleet has: node-01, node-02, node-03"


def test_stopped_and_terminated_nodes_keep_their_state(moto_server: Any, fleet_name: str):
    ec2 = moto_server.client("ec2")
    stopped = _launch(ec2, fleet_name, "node-01")
    gone = _launch(ec2, fleet_name, "node-02")
    ec2.stop_instances(InstanceIds=[stopped])
    ec2.terminate_instances(InstanceIds=[gone])
    states = {n.name: n.state for n in discover(_stack(moto_server, fleet_name))}
    assert states == {"node-01": "stopped", "node-02": "terminated"}


def test_a_replaced_node_prefers_the_running_instance(moto_server: Any, fleet_name: str):
    ec2 = moto_server.client("ec2")
    old = _launch(ec2, fleet_name, "node-01")
    ec2.terminate_instances(InstanceIds=[old])
    new = _launch(ec2, fleet_name, "node-01")
    (node,) = discover(_stack(moto_server, fleet_name))
    assert (node.instance_id, node.state) == (new, "running")


def test_two_live_instances_with_one_node_name_are_refused(moto_server: Any, fleet_name: str):
    """Not resolved by the lower instance id: either could be a stray that copied the tags."""
    ec2 = moto_server.client("ec2")
    _launch(ec2, fleet_name, "node-02")
    first = _launch(ec2, fleet_name, "node-01")
    second = _launch(ec2, fleet_name, "node-01")
    ec2.stop_instances(InstanceIds=[second])  # stopped is not gone: it can start again
    with pytest.raises(InventoryError) as caught:
        discover(_stack(moto_server, fleet_name))
    assert str(caught.value) == (
        f"node node-01 is claimed by 2 instances: {first} (running), {second} (stopped); "
        "terminate the extra one or change its cctview:node tag, then retry"
    )
    ec2.terminate_instances(InstanceIds=[second])
    node, _other = discover(_stack(moto_server, fleet_name))
    assert node.instance_id == first


def test_no_node_says_so_and_what_to_do(moto_server: Any, fleet_name: str):
    with pytest.raises(InventoryError) as caught:
        discover(_stack(moto_server, fleet_name))
    assert str(caught.value) == (
        f"no node carries the tag cctview:fleet={fleet_name} in {moto_server.endpoint_url}; "
        "start it with `cctview-fleet dev up`"
    )


def test_unreachable_endpoint_is_an_inventory_error():
    stack = Stack(
        name="x",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with pytest.raises(InventoryError, match=r"cannot reach http://127\.0\.0\.1:\d+ while listing"):
        discover(stack)


def test_missing_region_and_credentials_say_how_to_configure(monkeypatch, tmp_path):
    for var in (
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_SESSION_TOKEN",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(CredentialsError) as caught:
        discover(Stack(name="dev", region=""))
    assert str(caught.value).startswith("no AWS region configured")
    assert "aws configure" in str(caught.value) and "--stack local" in str(caught.value)
    with pytest.raises(CredentialsError) as caught:
        discover(Stack(name="dev", region="us-east-1"))
    assert str(caught.value).startswith("no AWS credentials found while listing the nodes")


def test_unknown_profile_is_a_credentials_error(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(CredentialsError, match=r"'nope'.*is not configured"):
        aws.ec2(Stack(name="dev", aws_profile="nope"))


def test_bad_port_tag_is_one_line():
    instance = {
        "InstanceId": "i-1",
        "State": {"Name": "running"},
        "Tags": [
            {"Key": "cctview:node", "Value": "node-01"},
            {"Key": "cctview:ssh-port", "Value": "ssh"},
        ],
    }
    with pytest.raises(InventoryError, match="cctview:ssh-port='ssh', not a port number"):
        node_from_instance(instance)
