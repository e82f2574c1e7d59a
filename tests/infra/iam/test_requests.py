"""The operation -> IAM request mapping (cctview_infra/iam/requests.py) agrees with AWS's Service
Authorization Reference, as parliament bundles it: each action exists, each resource ARN has the
format of one of the action's resource types, and each service condition key put in a request's
context is one that action has. A key the action lacks (the node role's old s3:prefix on
ListBucketMultipartUploads) could never match on AWS."""

from __future__ import annotations

import re
from typing import Any

import parliament
import pytest

from cctview_agent.awscalls import NODE, RecordedCall
from cctview_infra.iam.requests import mapped_operations, requests_for

KEY = "cctview/frames/date=2026-12-01/hour=13/camera=c1/x.tar"
TAGS = [{"ResourceType": "volume", "Tags": [{"Key": "cctview:fleet", "Value": "dev"}]}]
SNAPSHOT_TAGS = [{"ResourceType": "snapshot", "Tags": [{"Key": "a", "Value": "b"}]}]

# One recorded call per mapped operation, with the parameters the code sends.
SAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("s3", "ListObjectsV2"): {"Prefix": "cctview/frames/"},
    ("s3", "ListObjects"): {"Prefix": "cctview/frames/"},
    ("s3", "HeadBucket"): {},
    ("s3", "ListMultipartUploads"): {"Prefix": "cctview/frames/"},
    ("s3", "CreateBucket"): {},
    ("s3", "PutObject"): {"Key": KEY},
    ("s3", "CompleteMultipartUpload"): {"Key": KEY, "UploadId": "u"},
    ("s3", "CreateMultipartUpload"): {"Key": KEY},
    ("s3", "UploadPart"): {"Key": KEY, "UploadId": "u", "PartNumber": 1},
    ("s3", "UploadPartCopy"): {"Key": KEY, "UploadId": "u", "PartNumber": 1},
    ("s3", "GetObject"): {"Key": KEY},
    ("s3", "HeadObject"): {"Key": KEY},
    ("s3", "GetObjectAttributes"): {"Key": KEY},
    ("s3", "AbortMultipartUpload"): {"Key": KEY, "UploadId": "u"},
    ("s3", "ListParts"): {"Key": KEY, "UploadId": "u"},
    ("s3", "DeleteObject"): {"Key": KEY},
    ("ec2", "DescribeInstances"): {},
    ("ec2", "DescribeVolumes"): {},
    ("ec2", "DescribeSnapshots"): {},
    ("ec2", "GetConsoleOutput"): {"InstanceId": "i-0123"},
    ("ec2", "CreateVolume"): {"AvailabilityZone": "us-east-1a", "TagSpecifications": TAGS},
    ("ec2", "CreateSnapshot"): {"VolumeId": "vol-1", "TagSpecifications": SNAPSHOT_TAGS},
    ("ec2", "CreateTags"): {"Resources": ["vol-1"], "Tags": [{"Key": "a", "Value": "b"}]},
    ("ec2", "AttachVolume"): {"VolumeId": "vol-1", "InstanceId": "i-1", "Device": "/dev/sdf"},
    ("ec2", "DetachVolume"): {"VolumeId": "vol-1", "InstanceId": "i-1"},
    ("ec2", "DeleteVolume"): {"VolumeId": "vol-1"},
    ("ec2", "DeleteSnapshot"): {"SnapshotId": "snap-1"},
}
HEADERS = {"if-none-match": "*"}


def definition(service: str) -> dict[str, Any]:
    return next(s for s in parliament.iam_definition if s["prefix"] == service)


def arn_pattern(arn_format: str) -> re.Pattern[str]:
    """``arn:${Partition}:s3:::${BucketName}/${ObjectName}`` as a regex (a ``*`` stands for an
    id not known yet, as in a request to create one)."""
    parts = re.split(r"(\$\{[^}]+\})", arn_format)
    return re.compile("".join("[^:]*" if p.startswith("${") else re.escape(p) for p in parts))


def test_every_mapped_operation_has_a_sample() -> None:
    mapped = {(service, op) for service, ops in mapped_operations().items() for op in ops}
    assert mapped == set(SAMPLES)


@pytest.mark.parametrize(("service", "operation"), sorted(SAMPLES))
def test_requests_name_real_actions_resources_and_condition_keys(
    service: str, operation: str
) -> None:
    params = (
        {"Bucket": "b", **SAMPLES[service, operation]}
        if service == "s3"
        else SAMPLES[service, operation]
    )
    call = RecordedCall(NODE, service, operation, "us-east-1", True, "h", params, HEADERS)
    defined = definition(service)
    privileges = {p["privilege"]: p for p in defined["privileges"]}
    formats = {r["resource"]: r["arn"] for r in defined["resources"]}
    for request in requests_for(call):
        prefix, action = request.action.split(":")
        assert prefix == service and action in privileges, request.action
        types = privileges[action]["resource_types"]
        named = [t["resource_type"].rstrip("*") for t in types if t["resource_type"]]
        if request.resource == "*":
            assert not any(t["resource_type"].endswith("*") for t in types), request
        else:
            assert any(arn_pattern(formats[n]).fullmatch(request.resource) for n in named), (
                request.action,
                request.resource,
                named,
            )
        keys = {k for t in types for k in t["condition_keys"]}
        for key in request.context:
            if not key.startswith("aws:"):  # global keys exist for every action
                assert key in keys, (request.action, key)
