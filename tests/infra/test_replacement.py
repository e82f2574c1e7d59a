"""One `pulumi up` never replaces or stops the whole fleet (disruption.py), under the mocks."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import pytest

from cctview_agent.errors import ConfigError
from cctview_infra.agentpackage import AgentWheel
from cctview_infra.disruption import NodeSpec, changed_inputs
from cctview_infra.settings import FleetSettings
from tests.infra.mocks import INSTANCE, VOLUME, FleetMocks, declare, dev_settings

OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherKeyOtherKeyOtherKeyOtherKeyOtherKey0 new@x"


def running_fleet(
    settings: FleetSettings, wheel: AgentWheel, unit: str, ami: str = "ami-0debian12000000001"
) -> list[tuple[str, str, str, str]]:
    """The instances a first `up` of ``settings`` leaves running, with their spec tags."""
    mocks, _ = declare(settings, wheel, unit)
    return [
        (f"i-{index:017x}", i.inputs["tags"]["cctview:node"], ami, i.inputs["tags"]["cctview:spec"])
        for index, i in enumerate(mocks.of_type(INSTANCE))
    ]


def test_unchanged_fleet_passes_quietly(
    agent_wheel: AgentWheel, agent_unit: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = dev_settings(node_count=3)
    running = running_fleet(settings, agent_wheel, agent_unit)
    with caplog.at_level(logging.WARNING):
        mocks, _ = declare(settings, agent_wheel, agent_unit,
                           mocks=FleetMocks(existing_instances=running))  # fmt: skip
    assert len(mocks.of_type(INSTANCE)) == 3
    assert not [r for r in caplog.records if "replaces or restarts" in r.getMessage()]


def test_new_key_for_every_node_is_refused(agent_wheel: AgentWheel, agent_unit: str) -> None:
    running = running_fleet(dev_settings(node_count=3), agent_wheel, agent_unit)
    changed = dev_settings(node_count=3, ssh_public_key=OTHER_KEY)
    with pytest.raises(ConfigError) as caught:
        declare(changed, agent_wheel, agent_unit, mocks=FleetMocks(existing_instances=running))
    assert str(caught.value) == (
        "this update would replace or restart 3 of 3 running nodes at once: node-01, node-02, "
        "node-03 (changed: ssh_key); apply it one node at a time with `cctview-fleet roll`, or "
        "accept the outage with pulumi config set maxDisruptedNodes 3"
    )


@pytest.mark.parametrize("how", ["rolling", "allowed"])
def test_roll_or_an_explicit_allowance_lets_it_through(
    how: str, agent_wheel: AgentWheel, agent_unit: str, caplog: pytest.LogCaptureFixture
) -> None:
    running = running_fleet(dev_settings(node_count=3), agent_wheel, agent_unit)
    changed = dev_settings(node_count=3, instance_type="t2.small",
                           max_disrupted_nodes=3 if how == "allowed" else 1)  # fmt: skip
    with caplog.at_level(logging.WARNING):
        mocks, _ = declare(changed, agent_wheel, agent_unit, rolling=how == "rolling",
                           mocks=FleetMocks(existing_instances=running))  # fmt: skip
    assert {i.inputs["instanceType"] for i in mocks.of_type(INSTANCE)} == {"t2.small"}
    assert any(
        r.getMessage() == "this update replaces or restarts node-01, node-02, node-03 "
        "(changed: instance_type)"
        for r in caplog.records
    )


def by_node(mocks: FleetMocks, key: str) -> dict[str, Any]:
    return {i.inputs["tags"]["cctview:node"]: i.inputs[key] for i in mocks.of_type(INSTANCE)}


def test_an_upgrade_and_a_rotation_change_nothing_at_the_next_up(
    agent_wheel: AgentWheel, agent_unit: str
) -> None:
    """After `upgrade` (new wheel tags on every instance) and a rotation of node-02 (its
    generation 1 gone, the instance tagged with generation 2), the next `up` of the same checkout
    declares the same user data, keeps the moved boot tags and ignores nothing."""
    settings = dev_settings(node_count=3, availability_zone="us-east-1c")  # the volumes' zone
    before, _ = declare(settings, agent_wheel, agent_unit)
    running = running_fleet(settings, agent_wheel, agent_unit)
    upgraded = replace(agent_wheel, sha256="e" * 64)
    moved = {
        instance_id: {"cctview:agent-sha256": upgraded.sha256, "cctview:agent-key": upgraded.key}
        | ({"cctview:data-volume": "vol-0000000000000bbb2"} if node == "node-02" else {})
        for instance_id, node, _, _ in running
    }
    existing = [("vol-0000000000000bbb2", "node-02", 2)]
    mocks = FleetMocks(existing_instances=running, instance_tags=moved)
    after, _ = declare(settings, agent_wheel, agent_unit, existing, mocks=mocks)
    assert by_node(after, "userData") == by_node(before, "userData")
    specs = by_node(after, "tags")
    assert {node: tags["cctview:spec"] for node, tags in specs.items()} == {
        node: spec for _, node, _, spec in running
    }
    for node, tags in specs.items():
        assert tags["cctview:agent-key"] == upgraded.key, node
        assert tags["cctview:agent-sha256"] == upgraded.sha256, node
    assert specs["node-02"]["cctview:data-volume"] == "vol-0000000000000bbb2"
    assert {r.name: r.ignore_changes for r in after.declared_of_type(INSTANCE)} == {
        f"cctview-dev-node-0{n}-instance": () for n in (1, 2, 3)
    }


def test_a_new_node_is_tagged_with_the_programs_wheel_and_first_volume(
    agent_wheel: AgentWheel, agent_unit: str
) -> None:
    mocks, _ = declare(dev_settings(node_count=2), agent_wheel, agent_unit)
    volumes = {v.inputs["tags"]["cctview:node"]: v for v in mocks.of_type(VOLUME)}
    for node, tags in by_node(mocks, "tags").items():
        assert tags["cctview:agent-key"] == agent_wheel.key, node
        assert tags["cctview:agent-sha256"] == agent_wheel.sha256, node
        assert tags["cctview:data-volume"] == f"vol-{mocks.registered.index(volumes[node]):017x}"
    for options in by_node(mocks, "metadataOptions").values():
        assert options["instanceMetadataTags"] == "enabled"
        assert options["httpTokens"] == "required"


def test_one_node_changing_is_allowed(
    agent_wheel: AgentWheel, agent_unit: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = dev_settings(node_count=3)
    running = running_fleet(settings, agent_wheel, agent_unit)
    running[1] = (*running[1][:3], running[1][3].replace("instance_type=", "instance_type=0"))
    with caplog.at_level(logging.WARNING):
        declare(settings, agent_wheel, agent_unit, mocks=FleetMocks(existing_instances=running))
    assert any(r.getMessage() == "this update replaces or restarts node-02 (changed: "
               "instance_type)" for r in caplog.records)  # fmt: skip


def test_new_agent_build_replaces_no_node(
    agent_wheel: AgentWheel, agent_unit: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A new wheel is not user data: running nodes keep the wheel their tags name (`upgrade`
    moves it), only a new node gets the new one; nothing is replaced."""
    running = running_fleet(dev_settings(node_count=2), agent_wheel, agent_unit)
    kept = {i: {"cctview:agent-sha256": agent_wheel.sha256, "cctview:agent-key": agent_wheel.key}
            for i, _, _, _ in running}  # fmt: skip
    rebuilt = replace(agent_wheel, sha256="0" * 64)
    with caplog.at_level(logging.WARNING):
        given = FleetMocks(existing_instances=running, instance_tags=kept)
        mocks, _ = declare(dev_settings(node_count=3), rebuilt, agent_unit, mocks=given)
    assert not [r for r in caplog.records if "replaces or restarts" in r.getMessage()]
    shas = {node: tags["cctview:agent-sha256"] for node, tags in by_node(mocks, "tags").items()}
    assert shas == {"node-01": agent_wheel.sha256, "node-02": agent_wheel.sha256,
                    "node-03": rebuilt.sha256}  # fmt: skip


def test_untagged_instances_count_as_changed(agent_wheel: AgentWheel, agent_unit: str) -> None:
    running = [(f"i-{n:017x}", f"node-0{n}", "ami-0debian12000000001", "") for n in (1, 2)]
    with pytest.raises(ConfigError, match="2 of 2 running nodes at once: node-01, node-02"):
        declare(dev_settings(node_count=2), agent_wheel, agent_unit,
                mocks=FleetMocks(existing_instances=running))  # fmt: skip


def test_existing_fleet_keeps_its_ami(agent_wheel: AgentWheel, agent_unit: str) -> None:
    """A newer Debian image must not replace running nodes: the fleet's own AMI is declared."""
    pinned = dev_settings(node_count=2, ami_id="ami-0aaaaaaaaaaaaaaa1")  # what they booted
    running = running_fleet(pinned, agent_wheel, agent_unit, ami="ami-0aaaaaaaaaaaaaaa1")
    mocks, _ = declare(replace(pinned, ami_id=None), agent_wheel, agent_unit,
                       mocks=FleetMocks(existing_instances=running))  # fmt: skip
    assert {i.inputs["ami"] for i in mocks.of_type(INSTANCE)} == {"ami-0aaaaaaaaaaaaaaa1"}
    assert "aws:ec2/getAmi:getAmi" not in [token for token, _ in mocks.calls]


def test_spec_digest_names_each_input() -> None:
    spec = NodeSpec("ami-1", "t2.micro", "ssh-ed25519 A", "subnet-1", "us-east-1a", "#!/bin/bash")
    other = replace(spec, zone="us-east-1b", ami="ami-2")
    assert changed_inputs(other.digest(), spec.digest()) == ["ami", "zone"]
    assert changed_inputs(spec.digest(), "") == [
        "ami",
        "instance_type",
        "ssh_key",
        "subnet",
        "zone",
        "user_data",
    ]
    assert len(spec.digest()) < 256  # an EC2 tag value


def _changed(running: list[tuple[str, str, str, str]], index: int, name: str) -> None:
    """Make the running instance at ``index`` look as if ``name`` changed since its `up`."""
    instance_id, node, ami, spec = running[index]
    running[index] = (instance_id, node, ami, spec.replace(f"{name}=", f"{name}=0"))


@pytest.mark.parametrize(("changed", "refused"), [("user_data", True), ("ami", True),
                                                  ("instance_type", False)])  # fmt: skip
def test_a_plain_up_never_replaces_a_rotated_node(
    changed: str, refused: bool, agent_wheel: AgentWheel, agent_unit: str
) -> None:
    """node-02 was rotated (generation 2 is the CLI's, unattached by the program): one node
    changing is within maxDisruptedNodes, but replacing it would strand its volume; a restart
    in place (instance type) keeps it attached."""
    settings = dev_settings(node_count=3, availability_zone="us-east-1c")
    running = running_fleet(settings, agent_wheel, agent_unit)
    _changed(running, 1, changed)
    rotated = [("vol-0000000000000bbb2", "node-02", 2)]
    if not refused:
        declare(settings, agent_wheel, agent_unit, rotated,
                mocks=FleetMocks(existing_instances=running))  # fmt: skip
        return
    with pytest.raises(ConfigError) as caught:
        declare(settings, agent_wheel, agent_unit, rotated,
                mocks=FleetMocks(existing_instances=running))  # fmt: skip
    assert str(caught.value) == (
        "this update would replace node-02, whose data volume `rotate-volumes` attached; the "
        "program does not attach it, so the new instance would boot without it. Replace it with "
        "`cctview-fleet roll node-02`, which attaches it to the new instance"
    )
    # the step `roll` runs for node-02 goes through; so does replacing a node never rotated
    declare(settings, agent_wheel, agent_unit, rotated, rolling=True,
            mocks=FleetMocks(existing_instances=running))  # fmt: skip
    declare(settings, agent_wheel, agent_unit, [("vol-0000000000000bbb2", "node-01", 2)],
            mocks=FleetMocks(existing_instances=running))  # fmt: skip
