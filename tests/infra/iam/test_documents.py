"""What each identity may do, judged call by call (cctview_infra/iam/documents.py).

Calls are written as the recorder records them (cctview_agent/awscalls.py), mapped to IAM
requests (iam/requests.py) and evaluated (iam/evaluator.py) against the identity's policy and the
bucket policy. The integration tests check the calls the code really makes
(tests/fixtures/awscalls.py); these pin down the edges: what must be refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cctview_agent.awscalls import NODE, OPERATOR, RecordedCall
from cctview_agent.s3layout import frames_prefix
from cctview_fleet.assignment.store import assignments_prefix
from cctview_fleet.cloud.stacks import Stack
from cctview_infra.iam.check import check_call
from cctview_infra.iam.documents import (
    bucket_policy_document,
    node_policy_document,
    operator_policy_document,
)
from cctview_infra.iam.evaluator import Decision, evaluate
from cctview_infra.iam.requests import UnmappedOperationError, requests_for

BUCKET = "fleet-bucket"
TAR = "cctview/frames/date=2026-12-01/hour=13/camera=c1/20261201T130000Z-3600s.node-01.0.tar"
ARN = f"arn:aws:s3:::{BUCKET}"
OPERATOR_POLICY_FILE = Path(__file__).parents[3] / "docs" / "operator-policy.json"


def call(
    operation: str,
    *,
    principal: str = NODE,
    service: str = "s3",
    headers: dict[str, str] | None = None,
    secure: bool = True,
    host: str = "s3.us-east-1.amazonaws.com",
    region: str = "us-east-1",
    **params: Any,
) -> RecordedCall:
    if service == "s3":
        params.setdefault("Bucket", BUCKET)
    return RecordedCall(
        principal=principal,
        service=service,
        operation=operation,
        region=region,
        secure_transport=secure,
        host=host,
        params=params,
        headers=headers or {},
        fleet_prefix="cctview",
    )


def allowed(recorded: RecordedCall) -> bool:
    return not check_call(recorded, loopback_is_tls=False)


CONDITIONAL = {"if-none-match": "*"}


# --- the bug: every sync starts with ListMultipartUploads


def test_node_may_list_unfinished_uploads_where_every_sync_starts() -> None:
    """ListBucketMultipartUploads has no s3:prefix key: an Allow conditioned on it never applied
    (failed on the old node role: implicit deny)."""
    first = call("ListMultipartUploads", Prefix=frames_prefix("cctview"))
    assert allowed(first)
    document = node_policy_document(f"arn:aws:s3:::{BUCKET}", "cctview")
    for statement in document["Statement"]:
        if "s3:ListBucketMultipartUploads" in statement["Action"]:
            assert "Condition" not in statement


# --- issue 11, finding 6: nodes create new objects under the frames prefix, nothing else


def test_node_creates_frames_only_as_conditional_writes() -> None:
    assert allowed(call("PutObject", Key=TAR, headers=CONDITIONAL))
    overwrite = call("PutObject", Key=TAR)  # no If-None-Match: it could replace an object
    (finding,) = check_call(overwrite, loopback_is_tls=False)
    assert finding.request is not None and finding.request.action == "s3:PutObject"
    assert finding.verdict is not None  # no Allow in the role, and the bucket denies it too
    assert (finding.verdict.decision, finding.verdict.statement) == (
        Decision.EXPLICIT_DENY,
        "DenyFrameOverwrites",
    )
    identity_only = evaluate(finding.request, [node_policy_document(ARN, "cctview")])
    assert identity_only.decision is Decision.IMPLICIT_DENY


def test_node_multipart_parts_upload_but_only_a_conditional_complete_creates() -> None:
    for operation in ("CreateMultipartUpload", "UploadPart"):
        assert allowed(call(operation, Key=TAR)), operation  # parts carry no header
    assert allowed(call("CompleteMultipartUpload", Key=TAR, headers=CONDITIONAL))
    assert not allowed(call("CompleteMultipartUpload", Key=TAR))
    assert allowed(call("ListParts", Key=TAR)) and allowed(call("AbortMultipartUpload", Key=TAR))


@pytest.mark.parametrize(
    "key",
    [
        "cctview/assignments/latest.json",  # the operator's record
        "cctview/other/x",  # another folder of the prefix
        "elsewhere/frames/x.tar",  # another prefix
        "_agent/abc/cctview_agent-1-py3-none-any.whl",  # the wheel every node installs
    ],
)
def test_node_writes_nothing_outside_its_frames(key: str) -> None:
    assert not allowed(call("PutObject", Key=key, headers=CONDITIONAL))
    assert not allowed(call("CreateMultipartUpload", Key=key))


def test_node_reads_its_frames_and_the_agent_but_not_the_assignments() -> None:
    assert allowed(call("HeadObject", Key=TAR))  # GetObject, and ListBucket for a 404
    # first boot reads the wheel (a missing one is a 403 there: nodes cannot list _agent/)
    wheel, listing = requests_for(call("GetObject", Key="_agent/abc/cctview_agent.whl"))
    node = [node_policy_document(f"arn:aws:s3:::{BUCKET}", "cctview")]
    assert evaluate(wheel, node).allowed and not evaluate(listing, node).allowed
    assert not allowed(call("GetObject", Key="cctview/assignments/latest.json"))
    assert not allowed(call("ListObjectsV2", Prefix="cctview/assignments/"))
    assert allowed(call("ListObjectsV2", Prefix=frames_prefix("cctview", date="2026-12-01")))
    assert not allowed(call("ListObjectsV2"))  # no prefix: the whole bucket


def test_node_deletes_nothing_and_has_no_ec2() -> None:
    assert not allowed(call("DeleteObject", Key=TAR))
    assert not allowed(call("DescribeInstances", service="ec2"))
    assert not allowed(call("DeleteVolume", service="ec2", VolumeId="vol-1"))


def test_a_request_without_tls_is_denied_by_the_bucket_policy() -> None:
    plain = call("PutObject", Key=TAR, headers=CONDITIONAL, secure=False, host="s3.example")
    (finding,) = check_call(plain, loopback_is_tls=False)
    assert finding.verdict is not None and finding.verdict.decision is Decision.EXPLICIT_DENY
    assert finding.verdict.statement == "DenyWithoutTLS"
    for principal in (NODE, OPERATOR):
        listing = call("ListObjectsV2", principal=principal, secure=False, Prefix="cctview/")
        assert not allowed(listing), principal
    # the plain-HTTP emulator on loopback counts as TLS, a remote plain-HTTP endpoint never
    emulator = call("PutObject", Key=TAR, headers=CONDITIONAL, secure=False, host="127.0.0.1")
    assert not check_call(emulator, loopback_is_tls=True)
    assert check_call(plain, loopback_is_tls=True)


@pytest.mark.parametrize(
    ("region", "partition"),
    [("us-east-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")],
)
def test_arns_follow_the_buckets_partition(region: str, partition: str) -> None:
    assert allowed(call("PutObject", Key=TAR, headers=CONDITIONAL, region=region))
    (request, _) = requests_for(call("HeadObject", Key=TAR, region=region))
    assert request.resource == f"arn:{partition}:s3:::{BUCKET}/{TAR}"
    bucket_arn = f"arn:{partition}:s3:::{BUCKET}"
    documents = [
        node_policy_document(bucket_arn, "cctview"),
        operator_policy_document(bucket_arn, "cctview"),
        bucket_policy_document(bucket_arn, "cctview"),
    ]
    text = json.dumps(documents)
    assert f"arn:{partition}:s3:::{BUCKET}" in text
    if partition != "aws":
        assert "arn:aws:" not in text


# --- the operator


def test_operator_may_do_what_the_cli_does() -> None:
    stack = Stack(name="dev", bucket=BUCKET, prefix="cctview")
    cli_calls = [
        call("DescribeInstances", service="ec2"),
        call("DescribeVolumes", service="ec2"),
        call("DescribeSnapshots", service="ec2"),
        call("GetConsoleOutput", service="ec2", InstanceId="i-0123"),
        call(
            "CreateVolume",
            service="ec2",
            AvailabilityZone="us-east-1a",
            Size=8,
            TagSpecifications=[
                {"ResourceType": "volume", "Tags": [{"Key": "cctview:fleet", "Value": "dev"}]}
            ],
        ),
        call("CreateTags", service="ec2", Resources=["vol-1"], Tags=[{"Key": "a", "Value": "b"}]),
        call("AttachVolume", service="ec2", VolumeId="vol-1", InstanceId="i-1", Device="/dev/sdf"),
        call("DetachVolume", service="ec2", VolumeId="vol-1", InstanceId="i-1"),
        call(
            "CreateSnapshot",
            service="ec2",
            VolumeId="vol-1",
            TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "a", "Value": "b"}]}],
        ),
        call("DeleteVolume", service="ec2", VolumeId="vol-1"),
        call("PutObject", Key=f"{assignments_prefix(stack)}latest.json"),  # replaced each time
        call("GetObject", Key=f"{assignments_prefix(stack)}latest.json"),
        call("ListObjectsV2", Prefix=frames_prefix("cctview")),
        call("ListObjectsV2"),  # `demo` lists the whole bucket
        call("GetObject", Key=TAR),
        # sync-s3 --from DIR: the node's upload, with the operator's credentials
        call("ListMultipartUploads", Prefix=frames_prefix("cctview")),
        call("PutObject", Key=TAR, headers=CONDITIONAL),
        call("UploadPart", Key=TAR),
        # issue 12: teardown, and upgrade (publish by digest, never over an object; progress tags)
        call("DeleteSnapshot", service="ec2", SnapshotId="snap-1"),
        call("ListParts", Key=TAR, UploadId="u"),
        call("AbortMultipartUpload", Key=TAR, UploadId="u"),
        call("PutObject", Key="_agent/abc/wheel.whl", headers=CONDITIONAL),
        call("GetObject", Key="_agent/abc/wheel.whl"),
        call("CreateTags", service="ec2", Resources=["i-1"],
             Tags=[{"Key": "cctview:upgrade", "Value": "abc:done"},
                   {"Key": "cctview:agent-sha256", "Value": "abc"}]),
    ]  # fmt: skip
    for recorded in cli_calls:
        assert not check_call(replace_principal(recorded, OPERATOR), loopback_is_tls=False), (
            recorded.operation
        )


def replace_principal(recorded: RecordedCall, principal: str) -> RecordedCall:
    from dataclasses import replace

    return replace(recorded, principal=principal)


def test_operator_may_not_delete_objects_overwrite_frames_or_make_untagged_volumes() -> None:
    refused = [
        call("DeleteObject", Key=TAR),
        call("PutObject", Key=TAR),  # frames only as conditional writes
        call("PutObject", Key="_agent/abc/wheel.whl"),  # a wheel only where none is (upgrade)
        # instances' other tags (fleet, node, ssh address) are the program's, not the CLI's
        call(
            "CreateTags",
            service="ec2",
            Resources=["i-1"],
            Tags=[{"Key": "cctview:node", "Value": "node-09"}],
        ),
        call("CreateVolume", service="ec2", AvailabilityZone="us-east-1a", Size=8),
        call("RunInstances", service="ec2"),  # unmapped: refused as well
        call("PutBucketPolicy", Policy="{}"),
    ]
    for recorded in refused:
        assert check_call(replace_principal(recorded, OPERATOR), loopback_is_tls=False), (
            recorded.operation
        )


def test_an_s3_call_without_its_permission_or_mapping_fails() -> None:
    """A new call fails the IAM check until it is mapped and allowed (the integration tests'
    fixture reports it with the test that made it)."""
    with pytest.raises(UnmappedOperationError):
        requests_for(call("GetBucketPolicy"))
    (finding,) = check_call(call("GetBucketPolicy"))
    assert "not mapped to IAM actions" in str(finding)
    (finding,) = check_call(call("PutObject", principal="someone", Key=TAR))
    assert "no policy is known for principal 'someone'" in str(finding)


def test_operator_policy_file_is_generated_from_the_code() -> None:
    """docs/operator-policy.json is what `python -m cctview_infra.iam.operatorpolicy` prints for a
    placeholder bucket; regenerate it when the policy changes."""
    from cctview_infra.iam.operatorpolicy import PLACEHOLDER_BUCKET, render

    assert OPERATOR_POLICY_FILE.read_text() == render(PLACEHOLDER_BUCKET, "cctview")
    document = json.loads(OPERATOR_POLICY_FILE.read_text())
    assert document == operator_policy_document(f"arn:aws:s3:::{PLACEHOLDER_BUCKET}", "cctview")


def test_the_bucket_refuses_frame_overwrites_from_anyone() -> None:
    """Even a principal whose own policy allows everything (an administrator) cannot create a
    frames object without If-None-Match; multipart parts and other folders are not affected."""
    admin = [{"Version": "2012-10-17", "Statement": [allow_all()]}]
    bucket = [bucket_policy_document(f"arn:aws:s3:::{BUCKET}", "cctview")]

    def decision(recorded: RecordedCall) -> Decision:
        (request, *_) = requests_for(recorded)
        return evaluate(request, admin, bucket).decision

    assert decision(call("PutObject", Key=TAR)) is Decision.EXPLICIT_DENY
    assert decision(call("CompleteMultipartUpload", Key=TAR)) is Decision.EXPLICIT_DENY
    assert decision(call("PutObject", Key=TAR, headers=CONDITIONAL)) is Decision.ALLOW
    assert decision(call("UploadPart", Key=TAR)) is Decision.ALLOW
    assert decision(call("PutObject", Key="cctview/assignments/latest.json")) is Decision.ALLOW


def allow_all() -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "*", "Resource": "*"}
