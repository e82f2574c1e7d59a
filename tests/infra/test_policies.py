"""Each policy passes on the default fleet and fails on a deliberately bad one."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import pytest
from pulumi import RunError

from cctview_agent.errors import ConfigError
from cctview_infra.agentpackage import AgentWheel
from cctview_infra.policies import (
    POLICIES,
    POLICY_NAMES,
    DeclaredResource,
    PolicyContext,
    run_policies,
)
from cctview_infra.settings import settings_from_mapping
from tests.infra.mocks import (
    INSTANCE,
    SG,
    VOLUME,
    declare,
    dev_settings,
    dev_stack_config,
    project_settings_mapping,
)

CONTEXT = PolicyContext(ebs_budget_gib=200)


@pytest.fixture(scope="module")
def declared(agent_wheel: AgentWheel, agent_unit: str) -> list[DeclaredResource]:
    mocks, _ = declare(dev_settings(), agent_wheel, agent_unit)
    return list(mocks.declared)


def swap(resources: list[DeclaredResource], type_: str, **props: Any) -> list[DeclaredResource]:
    """``resources`` with the first of ``type_`` given other inputs (or options)."""
    index = next(i for i, r in enumerate(resources) if r.type == type_)
    changed = list(resources)
    options = {k: props.pop(k) for k in ("protect", "retain_on_delete") if k in props}
    changed[index] = replace(resources[index], props={**resources[index].props, **props},
                             **options)  # fmt: skip
    return changed


def drop(resources: list[DeclaredResource], type_: str) -> list[DeclaredResource]:
    return [r for r in resources if r.type != type_]


def test_every_policy_is_described_and_mandatory_by_default() -> None:
    assert len(POLICY_NAMES) == len(set(POLICY_NAMES)) == 8
    for policy in POLICIES:
        assert policy.description and policy.enforcement_level == "mandatory"
        assert (policy.resource_check is None) != (policy.stack_check is None)


def test_the_default_fleet_passes_every_policy(declared: list[DeclaredResource]) -> None:
    assert len([r for r in declared if r.type == INSTANCE]) == 12
    assert run_policies(declared, CONTEXT) == []


def violated(resources: list[DeclaredResource], **context: int) -> set[str]:
    return {v.policy for v in run_policies(resources, replace(CONTEXT, **context))}


def test_t2_family(declared: list[DeclaredResource]) -> None:
    assert violated(swap(declared, INSTANCE, instance_type="m5.large")) == {"t2-family"}
    unlimited = swap(declared, INSTANCE, credit_specification={"cpu_credits": "unlimited"})
    assert violated(unlimited) == {"t2-family"}


def test_imdsv2_required(declared: list[DeclaredResource]) -> None:
    imdsv1 = swap(declared, INSTANCE, metadata_options={"http_tokens": "optional"})
    assert violated(imdsv1) == {"imdsv2-required"}


def test_encryption_everywhere(declared: list[DeclaredResource]) -> None:
    device = {"encrypted": False, "volume_size": 8, "tags": {"cctview:fleet": "dev"}}
    root = swap(declared, INSTANCE, root_block_device=device)
    assert violated(root) == {"encryption-everywhere"}
    assert violated(swap(declared, VOLUME, encrypted=False)) == {"encryption-everywhere"}
    plain = swap(declared, "aws:s3/bucketObjectv2:BucketObjectv2", server_side_encryption=None)
    assert violated(plain) == {"encryption-everywhere"}


@pytest.mark.parametrize(
    "rule",
    [
        {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr_blocks": ["0.0.0.0/0"]},
        {"protocol": "tcp", "from_port": 22, "to_port": 22, "ipv6_cidr_blocks": ["::/0"]},
        {"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]},
        {"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr_blocks": ["203.0.113.7/32"]},
    ],
)
def test_no_ssh_from_world(declared: list[DeclaredResource], rule: dict[str, Any]) -> None:
    assert violated(swap(declared, SG, ingress=[rule])) == {"no-ssh-from-world"}


def test_bucket_not_public(declared: list[DeclaredResource]) -> None:
    block = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
    assert violated(drop(declared, block)) == {"bucket-not-public"}
    assert violated(swap(declared, block, block_public_policy=False)) == {"bucket-not-public"}
    assert violated(swap(declared, "aws:s3/bucket:Bucket", acl="public-read")) == {
        "bucket-not-public"
    }
    owners = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
    assert violated(drop(declared, owners)) == {"bucket-not-public"}


def test_required_tags(declared: list[DeclaredResource]) -> None:
    assert violated(swap(declared, INSTANCE, tags={"Name": "x"})) == {"required-tags"}
    untagged_volume = swap(declared, VOLUME, tags={"cctview:fleet": "dev", "cctview:node": "n"})
    assert violated(untagged_volume) == {"required-tags"}
    assert violated(swap(declared, SG, tags=None)) == {"required-tags"}


def test_data_volumes_protected(declared: list[DeclaredResource]) -> None:
    assert violated(swap(declared, VOLUME, protect=False)) == {"data-volumes-protected"}
    assert violated(swap(declared, VOLUME, retain_on_delete=False)) == {"data-volumes-protected"}


def test_ebs_within_budget(declared: list[DeclaredResource]) -> None:
    assert violated(declared, ebs_budget_gib=191) == {"ebs-within-budget"}
    assert violated(declared, ebs_budget_gib=192) == set()


def test_a_mandatory_violation_stops_the_program_before_aws_sees_the_resource(
    agent_wheel: AgentWheel, agent_unit: str
) -> None:
    settings = dev_settings(node_count=2, instance_type="m5.large")
    with pytest.raises(RunError) as caught:
        declare(settings, agent_wheel, agent_unit)
    message = str(caught.value)
    assert message.startswith("policy violation: [mandatory] t2-family: ")
    assert "is a m5.large" in message and "policyEnforcement" in message


def test_ebs_budget_stops_an_oversized_fleet(agent_wheel: AgentWheel, agent_unit: str) -> None:
    with pytest.raises(RunError, match=r"ebs-within-budget: the fleet declares 1296 GiB"):
        declare(dev_settings(data_volume_gib=100), agent_wheel, agent_unit)


def test_advisory_level_warns_instead(
    agent_wheel: AgentWheel, agent_unit: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = dev_settings(
        node_count=1, instance_type="m5.large", policy_enforcement={"t2-family": "advisory"}
    )
    with caplog.at_level(logging.WARNING):
        mocks, _ = declare(settings, agent_wheel, agent_unit)
    assert mocks.of_type(INSTANCE)[0].inputs["instanceType"] == "m5.large"
    assert any("[advisory] t2-family" in r.getMessage() for r in caplog.records)


def test_disabled_level_skips_and_unknown_policy_names_are_refused(
    declared: list[DeclaredResource],
) -> None:
    bad = swap(declared, INSTANCE, instance_type="m5.large")
    assert run_policies(bad, CONTEXT, {"t2-family": "disabled"}) == []
    with pytest.raises(ConfigError, match="names no policy 't2-famly'"):
        run_policies(bad, CONTEXT, {"t2-famly": "advisory"})


def test_free_tier_warnings_are_logged(
    agent_wheel: AgentWheel, agent_unit: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        declare(dev_settings(node_count=12), agent_wheel, agent_unit)
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("12 nodes x 730 h = 8,760 instance-hours") for m in messages)
    assert any(m.startswith("EBS in total 192 GB") for m in messages)
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # the one-node shape fits the legacy allowances
        declare(dev_settings(node_count=1, data_volume_gib=22, free_tier="legacy"), agent_wheel,
                agent_unit)  # fmt: skip
    assert not [r for r in caplog.records if "free tier" in r.getMessage()]


def test_the_free_tier_defaults_to_none() -> None:
    """No account still has the legacy 12 months (the last began before 2025-07-15)."""
    raw = {k: v for k, v in project_settings_mapping(dev_stack_config()).items()
           if k != "freeTier"}  # fmt: skip
    assert settings_from_mapping(raw, stack="dev", region="us-east-1").free_tier == "none"
    assert dev_settings().free_tier == "none"  # Pulumi.dev.yaml says so too
