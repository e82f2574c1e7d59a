"""From a recorded AWS call to the IAM requests AWS authorizes for it.

Each S3 and EC2 operation the agent or the CLI makes is mapped by hand from AWS's Service
Authorization Reference (the "Actions defined by Amazon S3 / Amazon EC2" tables: action, resource
types, condition keys) and the S3 API reference's "Permissions" sections. An operation missing
from the tables raises :class:`UnmappedOperationError`: a new call cannot slip through the IAM
checks unmapped, it has to be added here, with its permission, first.

Condition context: ``aws:SecureTransport`` (the request's scheme; a test may treat a plain-HTTP
emulator on loopback as TLS, since production S3 is only reached over HTTPS by botocore),
``aws:RequestedRegion``; for S3 ``s3:prefix`` (ListObjects' ``Prefix``),
``s3:if-none-match`` (the request's ``If-None-Match`` header), ``s3:ObjectCreationOperation``
(true for PutObject and CompleteMultipartUpload, false for the parts of a multipart upload);
for EC2 ``aws:RequestTag/<key>``, ``aws:TagKeys`` and ``ec2:CreateAction`` for tags given on
create. Keys that AWS adds from the resource's own state (``aws:ResourceTag``, ``ec2:Encrypted``)
are not in the record, so the policies do not use them (docs/infra.md says so).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any

from cctview_agent.awscalls import RecordedCall
from cctview_infra.iam.evaluator import ContextValue, Request

EMULATOR_ACCOUNT = "123456789012"  # moto's account id; any account would do


class UnmappedOperationError(LookupError):
    """Raised for an operation whose IAM actions this module does not know yet."""


def partition_for(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _base_context(call: RecordedCall, *, loopback_is_tls: bool) -> dict[str, ContextValue]:
    secure = call.secure_transport or (loopback_is_tls and is_loopback(call.host))
    return {"aws:SecureTransport": secure, "aws:RequestedRegion": call.region}


# --- S3

_S3_BUCKET_ACTIONS = {
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "CreateBucket": "s3:CreateBucket",
}
# operation -> (action, s3:ObjectCreationOperation or None when the action has no such key)
_S3_OBJECT_ACTIONS: dict[str, tuple[str, bool | None]] = {
    "PutObject": ("s3:PutObject", True),
    "CompleteMultipartUpload": ("s3:PutObject", True),
    "CreateMultipartUpload": ("s3:PutObject", False),
    "UploadPart": ("s3:PutObject", False),
    "UploadPartCopy": ("s3:PutObject", False),
    "GetObject": ("s3:GetObject", None),
    "HeadObject": ("s3:GetObject", None),
    "GetObjectAttributes": ("s3:GetObjectAttributes", None),
    "AbortMultipartUpload": ("s3:AbortMultipartUpload", None),
    "ListParts": ("s3:ListMultipartUploadParts", None),
    "DeleteObject": ("s3:DeleteObject", None),
}
# Reads whose callers rely on telling a missing key (404) from a refusal (403): S3 answers 404
# only when the caller may also s3:ListBucket (S3 API reference, HeadObject and GetObject,
# "Permissions"), and it evaluates that ListBucket with the key as s3:prefix (what Ceph's RGW
# copied from AWS, ceph/ceph#68577), so a prefix-conditioned ListBucket covers its own keys.
_S3_MISSING_KEY_IS_404 = frozenset({"GetObject", "HeadObject"})


def _s3_requests(
    call: RecordedCall, context: dict[str, ContextValue], principal: str
) -> list[Request]:
    bucket = str(call.params.get("Bucket", ""))
    bucket_arn = f"arn:{partition_for(call.region)}:s3:::{bucket}"
    operation = call.operation
    if operation in _S3_BUCKET_ACTIONS:
        if operation in ("ListObjectsV2", "ListObjects") and "Prefix" in call.params:
            context["s3:prefix"] = str(call.params["Prefix"])
        return [Request(_S3_BUCKET_ACTIONS[operation], bucket_arn, context, principal)]
    if operation not in _S3_OBJECT_ACTIONS:
        raise UnmappedOperationError(f"s3:{operation}")
    action, creation = _S3_OBJECT_ACTIONS[operation]
    key = str(call.params.get("Key", ""))
    if creation is not None:
        context["s3:ObjectCreationOperation"] = creation
        for header in ("if-none-match", "if-match"):
            if header in call.headers:
                context[f"s3:{header}"] = call.headers[header]
    for header in ("x-amz-acl", "x-amz-server-side-encryption"):
        if header in call.headers:
            context[f"s3:{header}"] = call.headers[header]
    requests = [Request(action, f"{bucket_arn}/{key}", context, principal)]
    if operation in _S3_MISSING_KEY_IS_404:
        listing = {**_without_s3_keys(context), "s3:prefix": key}
        requests.append(Request("s3:ListBucket", bucket_arn, listing, principal))
    return requests


def _without_s3_keys(context: Mapping[str, ContextValue]) -> dict[str, ContextValue]:
    return {k: v for k, v in context.items() if not k.startswith("s3:")}


# --- EC2

_EC2_ID_TYPES = {"vol-": "volume", "i-": "instance", "snap-": "snapshot"}
# Describe calls authorize on "*" only (no resource-level permissions).
_EC2_DESCRIBE = frozenset({"DescribeInstances", "DescribeVolumes", "DescribeSnapshots"})
_EC2_ON_RESOURCES = frozenset(
    {
        "GetConsoleOutput",
        "CreateVolume",
        "CreateSnapshot",
        "CreateTags",
        "AttachVolume",
        "DetachVolume",
        "DeleteVolume",
        "DeleteSnapshot",
    }
)


def _ec2_arn(call: RecordedCall, kind: str, resource_id: str) -> str:
    account = "" if kind == "snapshot" else EMULATOR_ACCOUNT  # snapshot ARNs carry no account
    return f"arn:{partition_for(call.region)}:ec2:{call.region}:{account}:{kind}/{resource_id}"


def _arn_of_id(call: RecordedCall, resource_id: str) -> str:
    for id_prefix, kind in _EC2_ID_TYPES.items():
        if resource_id.startswith(id_prefix):
            return _ec2_arn(call, kind, resource_id)
    raise UnmappedOperationError(f"ec2 resource id {resource_id!r}")


def _tag_context(tags: list[Mapping[str, Any]]) -> dict[str, ContextValue]:
    context: dict[str, ContextValue] = {f"aws:RequestTag/{t['Key']}": str(t["Value"]) for t in tags}
    context["aws:TagKeys"] = [str(t["Key"]) for t in tags]
    return context


def _tags_on_create(
    call: RecordedCall, kind: str, context: Mapping[str, ContextValue], principal: str
) -> tuple[dict[str, ContextValue], list[Request]]:
    """The request tags of ``TagSpecifications`` and the ec2:CreateTags request they need."""
    tags = [
        tag
        for spec in call.params.get("TagSpecifications", [])
        if spec.get("ResourceType") == kind
        for tag in spec.get("Tags", [])
    ]
    if not tags:
        return dict(context), []
    tagged = {**context, **_tag_context(tags)}
    create_tags = Request(
        "ec2:CreateTags",
        _ec2_arn(call, kind, "*"),
        {**tagged, "ec2:CreateAction": call.operation},
        principal,
    )
    return tagged, [create_tags]


def _ec2_requests(
    call: RecordedCall, context: dict[str, ContextValue], principal: str
) -> list[Request]:
    operation, params = call.operation, call.params
    action = f"ec2:{operation}"
    context["ec2:Region"] = call.region
    if operation not in _EC2_DESCRIBE | _EC2_ON_RESOURCES:
        raise UnmappedOperationError(f"ec2:{operation}")
    if operation in _EC2_DESCRIBE:
        return [Request(action, "*", context, principal)]
    if operation == "GetConsoleOutput":
        return [Request(action, _arn_of_id(call, str(params["InstanceId"])), context, principal)]
    if operation == "CreateVolume":
        tagged, extra = _tags_on_create(call, "volume", context, principal)
        return [Request(action, _ec2_arn(call, "volume", "*"), tagged, principal), *extra]
    if operation == "CreateSnapshot":
        tagged, extra = _tags_on_create(call, "snapshot", context, principal)
        volume = _arn_of_id(call, str(params["VolumeId"]))
        return [
            Request(action, volume, context, principal),
            Request(action, _ec2_arn(call, "snapshot", "*"), tagged, principal),
            *extra,
        ]
    if operation == "CreateTags":
        tagged = {**context, **_tag_context(params.get("Tags", []))}
        return [
            Request(action, _arn_of_id(call, str(rid)), tagged, principal)
            for rid in params.get("Resources", [])
        ]
    if operation == "DeleteSnapshot":
        return [Request(action, _arn_of_id(call, str(params["SnapshotId"])), context, principal)]
    # AttachVolume, DetachVolume, DeleteVolume: the volume, and the instance when named
    ids = [params["VolumeId"], *([params["InstanceId"]] if "InstanceId" in params else [])]
    return [Request(action, _arn_of_id(call, str(i)), context, principal) for i in ids]


_SERVICES: dict[str, Callable[[RecordedCall, dict[str, ContextValue], str], list[Request]]] = {
    "s3": _s3_requests,
    "ec2": _ec2_requests,
}


def mapped_operations() -> dict[str, frozenset[str]]:
    """Every operation this module maps, by service (the tests check each against AWS's
    reference as parliament bundles it)."""
    return {
        "s3": frozenset(_S3_BUCKET_ACTIONS) | frozenset(_S3_OBJECT_ACTIONS),
        "ec2": _EC2_DESCRIBE | _EC2_ON_RESOURCES,
    }


def requests_for(
    call: RecordedCall, *, principal_arn: str = "", loopback_is_tls: bool = False
) -> list[Request]:
    """Every IAM request AWS authorizes for ``call``; all must be allowed for it to succeed."""
    if call.service not in _SERVICES:
        raise UnmappedOperationError(f"{call.service}:{call.operation}")
    context = _base_context(call, loopback_is_tls=loopback_is_tls)
    return _SERVICES[call.service](call, context, principal_arn)
