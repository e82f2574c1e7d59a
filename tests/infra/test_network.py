"""Where the program puts the nodes: VPC, subnet, zone, public IPs, instance-type offerings."""

from __future__ import annotations

import json
import logging

import pytest
from pulumi import RunError

from cctview_infra.agentpackage import AgentWheel
from tests.infra.mocks import (
    DEFAULT_VPC,
    INSTANCE,
    SG,
    VOLUME,
    FleetMocks,
    declare,
    dev_settings,
    dev_stack_config,
    mocked_pulumi,
    run_main_program,
)

OWN_VPC = "vpc-0abc000000000001"
OWN_SUBNETS = [
    ("subnet-0abc00000000000b", OWN_VPC, "us-east-1b", False),
    ("subnet-0abc00000000000c", OWN_VPC, "us-east-1c", False),
]


def test_default_vpc_and_its_default_subnet(agent_wheel: AgentWheel, agent_unit: str) -> None:
    mocks, outputs = declare(dev_settings(node_count=2), agent_wheel, agent_unit)
    for instance in mocks.of_type(INSTANCE):
        assert instance.inputs["subnetId"] == "subnet-0def00000000000a", instance.name
        assert instance.inputs["associatePublicIpAddress"] is True, instance.name
        assert instance.inputs["availabilityZone"] == "us-east-1a", instance.name
    (group,) = mocks.of_type(SG)
    assert group.inputs["vpcId"] == DEFAULT_VPC
    assert outputs["network"] == {"vpcId": DEFAULT_VPC, "subnetId": "subnet-0def00000000000a",
                                  "availabilityZone": "us-east-1a"}  # fmt: skip


def test_own_vpc_without_subnets_uses_its_subnet_in_the_zone(
    agent_wheel: AgentWheel, agent_unit: str
) -> None:
    mocks = FleetMocks(default_vpc=None, subnets=list(OWN_SUBNETS))
    settings = dev_settings(node_count=1, vpc_id=OWN_VPC, availability_zone="us-east-1c")
    mocks, _ = declare(settings, agent_wheel, agent_unit, mocks=mocks)
    (instance,) = mocks.of_type(INSTANCE)
    assert instance.inputs["subnetId"] == "subnet-0abc00000000000c"
    assert mocks.of_type(SG)[0].inputs["vpcId"] == OWN_VPC
    tokens = [token for token, _ in mocks.calls]
    assert "aws:ec2/getVpcs:getVpcs" not in tokens  # vpcId given: no default-VPC lookup


def test_subnet_ids_choose_vpc_and_zone(agent_wheel: AgentWheel, agent_unit: str) -> None:
    mocks = FleetMocks(default_vpc=None, subnets=list(OWN_SUBNETS))
    settings = dev_settings(node_count=2, subnet_ids=("subnet-0abc00000000000c",))
    mocks, outputs = declare(settings, agent_wheel, agent_unit, mocks=mocks)
    assert {i.inputs["subnetId"] for i in mocks.of_type(INSTANCE)} == {"subnet-0abc00000000000c"}
    assert {v.inputs["availabilityZone"] for v in mocks.of_type(VOLUME)} == {"us-east-1c"}
    assert outputs["network"]["vpcId"] == OWN_VPC


def test_default_zone_skips_zones_without_the_instance_type(
    agent_wheel: AgentWheel, agent_unit: str
) -> None:
    mocks = FleetMocks(offered_zones=["us-east-1c", "us-east-1b"])  # not 1a
    mocks, _ = declare(dev_settings(node_count=1), agent_wheel, agent_unit, mocks=mocks)
    (instance,) = mocks.of_type(INSTANCE)
    assert instance.inputs["availabilityZone"] == "us-east-1b"
    assert instance.inputs["subnetId"] == "subnet-0def00000000000b"
    offers = [args for token, args in mocks.calls if "InstanceTypeOfferings" in token]
    assert offers[0]["filters"] == [{"name": "instance-type", "values": ["t2.micro"]}]


@pytest.mark.parametrize(
    ("config", "mocks", "message"),
    [
        (
            {},
            FleetMocks(default_vpc=None),
            "config cctview-fleet:vpcId is required: this account has no default VPC in the "
            "region (or run aws ec2 create-default-vpc); e.g. pulumi config set vpcId "
            "vpc-0123456789abcdef0",
        ),
        (
            {"cctview-fleet:availabilityZone": "us-east-1a"},
            FleetMocks(offered_zones=["us-east-1b", "us-east-1c"]),
            "config cctview-fleet:instanceType = 't2.micro' is not offered in us-east-1a; it is "
            "in us-east-1b, us-east-1c (set availabilityZone to one of them); e.g. pulumi config "
            "set availabilityZone us-east-1b",
        ),
        (
            {"cctview-fleet:vpcId": OWN_VPC, "cctview-fleet:availabilityZone": "us-east-1a"},
            FleetMocks(subnets=list(OWN_SUBNETS)),
            f"config cctview-fleet:subnetIds is required: {OWN_VPC} has no subnet in us-east-1a",
        ),
        (
            {"cctview-fleet:vpcId": OWN_VPC,
             "cctview-fleet:subnetIds": json.dumps(["subnet-0def00000000000a"])},
            FleetMocks(subnets=[("subnet-0def00000000000a", DEFAULT_VPC, "us-east-1a", True)]),
            f"config cctview-fleet:subnetIds has subnet-0def00000000000a, which is not in "
            f"{OWN_VPC}",
        ),
        (
            {"cctview-fleet:availabilityZone": "us-east-1b",
             "cctview-fleet:subnetIds": json.dumps(["subnet-0abc00000000000c"])},
            FleetMocks(subnets=list(OWN_SUBNETS)),
            "config cctview-fleet:subnetIds has no subnet in us-east-1b, the fleet's zone (its "
            "subnets are in us-east-1c)",
        ),
        (
            {"cctview-fleet:subnetIds": "subnet-xyz"},
            FleetMocks(),
            "config cctview-fleet:subnetIds has 'subnet-xyz', which is not a subnet id",
        ),
        (
            {"cctview-fleet:freeTier": "12-month"},
            FleetMocks(),
            "config cctview-fleet:freeTier must be one of legacy, credits, none",
        ),
    ],
)  # fmt: skip
def test_network_errors_are_one_line_naming_the_key(
    config: dict[str, str], mocks: FleetMocks, message: str
) -> None:
    with (
        mocked_pulumi({**dev_stack_config(), **config}, mocks=mocks),
        pytest.raises(RunError) as caught,
    ):
        run_main_program()
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)
    assert mocks.registered == []  # nothing was declared


def test_credit_free_tier_warns_about_every_billed_line(
    agent_wheel: AgentWheel, agent_unit: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        declare(dev_settings(node_count=1, data_volume_gib=22, free_tier="credits"),
                agent_wheel, agent_unit)  # fmt: skip
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("1 nodes x 730 h = 730 instance-hours a month has no free") for m in
               messages), messages  # fmt: skip
    assert any(m.startswith("1 public IPv4 addresses x 730 h") for m in messages), messages
