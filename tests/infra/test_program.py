"""The fleet the program declares, under Pulumi's mocks: counts, invariants, outputs, ownership."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from cctview_fleet.cloud.stacks import stack_from_outputs
from cctview_infra.agentpackage import AgentWheel
from cctview_infra.iam.documents import bucket_policy_document, node_policy_document
from tests.infra.mocks import (
    ATTACHMENT,
    BUCKET,
    INSTANCE,
    ROLE,
    SG,
    VOLUME,
    FleetMocks,
    declare,
    dev_settings,
)


@pytest.fixture(scope="module")
def dev_fleet(agent_wheel: AgentWheel, agent_unit: str) -> tuple[FleetMocks, dict[str, Any]]:
    return declare(dev_settings(), agent_wheel, agent_unit)


@pytest.mark.parametrize("nodes", [1, 12])
def test_resource_counts(nodes: int, agent_wheel: AgentWheel, agent_unit: str) -> None:
    mocks, outputs = declare(dev_settings(node_count=nodes), agent_wheel, agent_unit)
    counts = Counter(r.type for r in mocks.registered)
    assert counts[INSTANCE] == nodes
    assert counts[VOLUME] == nodes
    assert counts[ATTACHMENT] == nodes
    assert counts[BUCKET] == 1
    assert counts[ROLE] == 1
    assert counts[SG] == 1
    assert counts["aws:ec2/keyPair:KeyPair"] == 1
    assert counts["aws:iam/instanceProfile:InstanceProfile"] == 1
    assert counts["aws:s3/bucketObjectv2:BucketObjectv2"] == 1
    assert len(outputs["nodes"]) == nodes


def test_outputs_are_what_stack_import_reads(dev_fleet: tuple[FleetMocks, dict[str, Any]]) -> None:
    mocks, outputs = dev_fleet
    bucket = mocks.of_type(BUCKET)[0].outputs["bucket"]
    assert outputs["bucket"] == bucket
    assert outputs["prefix"] == "cctview"
    assert outputs["region"] == "us-east-1"
    assert outputs["sshUser"] == "admin"
    assert outputs["fleetTag"] == {"key": "cctview:fleet", "value": "dev"}
    assert [n["name"] for n in outputs["nodes"]] == [f"node-{i:02d}" for i in range(1, 13)]
    first = outputs["nodes"][0]
    instance = mocks.of_type(INSTANCE)[0]
    assert first["instanceId"] and first["instanceId"].startswith("i-")
    assert first["publicIp"] == instance.outputs["publicIp"]
    assert first["publicDns"] == instance.outputs["publicDns"]
    assert first["availabilityZone"] == "us-east-1a"


def test_instances_are_t2_standard_imdsv2_encrypted_and_tagged(
    dev_fleet: tuple[FleetMocks, dict[str, Any]],
) -> None:
    mocks, _ = dev_fleet
    for index, instance in enumerate(mocks.of_type(INSTANCE)):
        name, inputs = instance.name, instance.inputs
        assert inputs["instanceType"] == "t2.micro", name
        assert inputs["creditSpecification"] == {"cpuCredits": "standard"}, name
        assert inputs["metadataOptions"]["httpTokens"] == "required", name
        assert inputs["rootBlockDevice"]["encrypted"] is True, name
        assert inputs["ami"] == "ami-0debian12000000001", name
        assert inputs["availabilityZone"] == "us-east-1a", name
        assert inputs["tags"]["cctview:fleet"] == "dev", name
        assert inputs["tags"]["cctview:node"] == f"node-{index + 1:02d}", name
        assert inputs["rootBlockDevice"]["tags"]["cctview:fleet"] == "dev", name


def test_instances_ignore_nothing_replace_delete_first_and_boot_after_the_role(
    dev_fleet: tuple[FleetMocks, dict[str, Any]],
) -> None:
    """Ignored inputs would be reused by a replacement (stale user data): none are ignored;
    the guard in disruption.py keeps one `up` from replacing the fleet instead."""
    mocks, _ = dev_fleet
    for instance in mocks.declared_of_type(INSTANCE):
        assert instance.ignore_changes == (), instance.name
        assert instance.delete_before_replace, instance.name
        assert instance.props["user_data_replace_on_change"] is True, instance.name
        assert instance.depends_on == ("cctview-dev-nodes",), instance.name
    for instance in mocks.of_type(INSTANCE):
        spec = instance.inputs["tags"]["cctview:spec"]
        assert [p.split("=")[0] for p in spec.split(";")] == [
            "ami",
            "instance_type",
            "ssh_key",
            "subnet",
            "zone",
            "user_data",
        ], instance.name


def test_data_volumes_are_encrypted_tagged_protected_and_attached(
    dev_fleet: tuple[FleetMocks, dict[str, Any]],
) -> None:
    mocks, _ = dev_fleet
    volumes = mocks.of_type(VOLUME)
    assert sorted(v.name for v in volumes) == [
        f"cctview-dev-node-{i:02d}-data" for i in range(1, 13)
    ]
    for volume in volumes:
        # Pulumi registers resources concurrently: match each volume to its node by name, not order.
        node = volume.name.removeprefix("cctview-dev-").removesuffix("-data")
        assert volume.inputs["encrypted"] is True, volume.name
        assert volume.inputs["size"] == 8 and volume.inputs["type"] == "gp3", volume.name
        assert volume.inputs["availabilityZone"] == "us-east-1a", volume.name
        wanted = {"cctview:fleet": "dev", "cctview:node": node, "cctview:generation": "1"}
        assert wanted.items() <= volume.inputs["tags"].items(), volume.name
    for declared in mocks.declared_of_type(VOLUME):
        assert declared.protect and declared.retain_on_delete, declared.name
        assert "tags" in declared.ignore_changes, declared.name
    attachments = mocks.of_type(ATTACHMENT)
    instance_ids = {f"i-{i:017x}" for i in range(len(mocks.registered))}
    volume_ids = {f"vol-{i:017x}" for i in range(len(mocks.registered))}
    for attachment in attachments:
        assert attachment.inputs["skipDestroy"] is True, attachment.name
        assert attachment.inputs["instanceId"] in instance_ids, attachment.name
        assert attachment.inputs["volumeId"] in volume_ids, attachment.name
    assert len({a.inputs["volumeId"] for a in attachments}) == len(volumes)


def test_security_group_opens_only_ssh_from_the_allowed_cidrs(
    dev_fleet: tuple[FleetMocks, dict[str, Any]],
) -> None:
    mocks, _ = dev_fleet
    (group,) = mocks.of_type(SG)
    (rule,) = group.inputs["ingress"]
    assert (rule["protocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 22, 22)
    assert rule["cidrBlocks"] == ["203.0.113.7/32"]
    assert "ipv6CidrBlocks" not in rule
    (egress,) = group.inputs["egress"]
    assert egress["protocol"] == "-1" and egress["cidrBlocks"] == ["0.0.0.0/0"]


def test_role_policy_is_the_node_document_for_the_buckets_arn(
    dev_fleet: tuple[FleetMocks, dict[str, Any]],
) -> None:
    """What each statement allows is tested in iam/test_documents.py; here: the role carries that
    one document, built from the bucket's ARN (not its name), and trusts EC2 only."""
    mocks, outputs = dev_fleet
    (role,) = mocks.of_type(ROLE)
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    (policy,) = mocks.of_type("aws:iam/rolePolicy:RolePolicy")
    document = json.loads(policy.inputs["policy"])
    assert document == node_policy_document(f"arn:aws:s3:::{outputs['bucket']}", "cctview")
    actions = {a for s in document["Statement"] for a in s["Action"]}
    assert all(a.startswith("s3:") for a in actions), actions
    assert not {"s3:DeleteObject", "s3:PutBucketPolicy", "s3:*"} & actions


def test_bucket_policy_denies_requests_without_tls(
    dev_fleet: tuple[FleetMocks, dict[str, Any]],
) -> None:
    mocks, outputs = dev_fleet
    (policy,) = mocks.of_type("aws:s3/bucketPolicy:BucketPolicy")
    document = json.loads(policy.inputs["policy"])
    assert document == bucket_policy_document(f"arn:aws:s3:::{outputs['bucket']}", "cctview")
    assert policy.inputs["bucket"] == outputs["bucket"]  # the bucket's id is its name


def test_bucket_is_private_encrypted_owner_enforced_and_aborts_uploads(
    dev_fleet: tuple[FleetMocks, dict[str, Any]],
) -> None:
    mocks, _ = dev_fleet
    (block,) = mocks.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                 "restrictPublicBuckets"):  # fmt: skip
        assert block.inputs[flag] is True, flag
    (owner,) = mocks.of_type("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert owner.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    (sse,) = mocks.of_type(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    rule = sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert rule == {"sseAlgorithm": "AES256"}
    (lifecycle,) = mocks.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    (abort,) = lifecycle.inputs["rules"]  # lifecycleDays 0: no expiry rule
    assert abort["status"] == "Enabled"
    assert abort["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 1}
    (bucket,) = mocks.of_type(BUCKET)
    assert bucket.inputs["forceDestroy"] is False


def test_lifecycle_days_expire_only_frames(agent_wheel: AgentWheel, agent_unit: str) -> None:
    mocks, _ = declare(dev_settings(node_count=1, lifecycle_days=90), agent_wheel, agent_unit)
    (lifecycle,) = mocks.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    expire = lifecycle.inputs["rules"][1]
    assert expire["filter"] == {"prefix": "cctview/"}
    assert expire["expiration"] == {"days": 90}


def test_agent_wheel_is_uploaded_by_digest(
    dev_fleet: tuple[FleetMocks, dict[str, Any]], agent_wheel: AgentWheel
) -> None:
    mocks, outputs = dev_fleet
    (obj,) = mocks.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
    assert obj.inputs["key"] == f"_agent/{agent_wheel.sha256}/{agent_wheel.filename}"
    # a new build never deletes the wheel running nodes were installed from
    (declared,) = mocks.declared_of_type("aws:s3/bucketObjectv2:BucketObjectv2")
    assert declared.retain_on_delete
    assert obj.inputs["serverSideEncryption"] == "AES256"
    assert outputs["agentPackage"] == {"key": obj.inputs["key"], "sha256": agent_wheel.sha256}


def test_pinned_ami_and_zone_skip_the_lookups(agent_wheel: AgentWheel, agent_unit: str) -> None:
    settings = dev_settings(node_count=1, ami_id="ami-0123456789abcdef0",
                            availability_zone="us-east-1c")  # fmt: skip
    mocks, _ = declare(settings, agent_wheel, agent_unit)
    tokens = [token for token, _ in mocks.calls]
    assert "aws:ec2/getAmi:getAmi" not in tokens
    assert "aws:index/getAvailabilityZones:getAvailabilityZones" not in tokens
    (instance,) = mocks.of_type(INSTANCE)
    assert instance.inputs["ami"] == "ami-0123456789abcdef0"
    assert mocks.of_type(VOLUME)[0].inputs["availabilityZone"] == "us-east-1c"


def test_after_rotation_pulumi_leaves_the_cli_volumes_alone(
    agent_wheel: AgentWheel, agent_unit: str
) -> None:
    """node-01: rotated, generation 1 retired; node-02: rotated, generation 1 still draining;
    node-03: never rotated."""
    existing = [
        ("vol-0000000000000aaa2", "node-01", 2),
        ("vol-0000000000000bbb1", "node-02", 1),
        ("vol-0000000000000bbb2", "node-02", 2),
        ("vol-0000000000000ccc1", "node-03", 1),
    ]
    mocks, _ = declare(dev_settings(node_count=3), agent_wheel, agent_unit, existing)
    volumes = {r.inputs["tags"]["cctview:node"] for r in mocks.of_type(VOLUME)}
    assert volumes == {"node-02", "node-03"}  # node-01's generation 1 is gone: not recreated
    attached = {r.name for r in mocks.of_type(ATTACHMENT)}
    assert attached == {"cctview-dev-node-03-data-attachment"}  # no re-attaching after rotation
    assert len(mocks.of_type(INSTANCE)) == 3
    # an existing fleet stays in its volumes' zone, whatever the region lists first
    assert {r.inputs["availabilityZone"] for r in mocks.of_type(INSTANCE)} == {"us-east-1c"}
    tokens = [token for token, _ in mocks.calls]
    assert "aws:index/getAvailabilityZones:getAvailabilityZones" not in tokens
    # no instance tag names the volume a rotation made: the program names none either (first
    # boot then says what to do) rather than generation 1, which is retired or draining
    volume_tags = {r.inputs["tags"]["cctview:node"]: r.inputs["tags"]["cctview:data-volume"]
                   for r in mocks.of_type(INSTANCE)}  # fmt: skip
    assert volume_tags["node-01"] == volume_tags["node-02"] == ""
    assert volume_tags["node-03"].startswith("vol-")
    looked_up = [
        args for token, args in mocks.calls if token == "aws:ebs/getEbsVolumes:getEbsVolumes"
    ]
    filters = {f["name"]: f["values"] for f in looked_up[0]["filters"]}
    assert filters["tag:cctview:fleet"] == ["dev"]
    assert filters["tag-key"] == ["cctview:generation"]


def test_stack_import_understands_the_outputs(dev_fleet: tuple[FleetMocks, dict[str, Any]]) -> None:
    _, outputs = dev_fleet
    stack = stack_from_outputs("dev", json.loads(json.dumps(outputs)), ssh_key="k", known_hosts="h")
    assert (stack.bucket, stack.prefix, stack.region, stack.ssh_user) == (
        outputs["bucket"], "cctview", "us-east-1", "admin",
    )  # fmt: skip
    assert stack.fleet_tag == (outputs["fleetTag"]["key"], outputs["fleetTag"]["value"])
