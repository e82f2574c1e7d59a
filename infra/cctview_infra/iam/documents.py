"""The fleet's three IAM policy documents, one source for Pulumi, the docs and the tests.

- :func:`node_policy_document`: the nodes' instance role. A node ships its own frames and nothing
  else: it may create objects under ``<prefix>/frames/`` and ``<prefix>/manifests/`` only, and
  only as conditional writes (``If-None-Match: *``), so S3 itself refuses to replace any object,
  a node's own or another's; it reads back what it wrote, lists and finishes its unfinished
  uploads, and reads the agent wheel under ``_agent/``. No EC2, no DeleteObject, nothing under
  ``<prefix>/assignments/``.
- :func:`operator_policy_document`: what ``cctview-fleet`` needs on the operator's machine:
  EC2 discovery, the volume rotation (create, tag, attach, detach, snapshot, delete volumes), the
  console output ``trust`` reads, the assignment records, reading the data set, and
  ``sync-s3 --from DIR`` (the node's own upload rights). Deploying (``pulumi up``) needs more;
  that is the deployer's business, not this policy's.
- :func:`bucket_policy_document`: the bucket's own policy, for every principal (administrators
  too): every request without TLS is denied, and so is every write under ``<prefix>/frames/`` or
  ``<prefix>/manifests/`` that could replace an object (a shard or manifest is created once,
  never overwritten).

Every ARN is built from the bucket's ARN, so the same documents work in ``aws-cn`` and
``aws-us-gov``. The documents are linted by parliament and every call the agent and the CLI make
in the integration tests is evaluated against them (``tests/infra/test_iam_*.py``).

Why the conditional writes are two statements: ``s3:if-none-match`` is the request's
``If-None-Match`` header, which only PutObject and CompleteMultipartUpload carry. The parts of a
multipart upload (CreateMultipartUpload, UploadPart) are authorized as ``s3:PutObject`` too but
cannot carry the header; AWS marks them with ``s3:ObjectCreationOperation = false``, and the
second statement lets exactly those through. An object still only appears through a
CompleteMultipartUpload, which needs the header. (S3 User Guide, "Enforce conditional writes on
Amazon S3 buckets".)

Why ``s3:ListBucketMultipartUploads`` has no condition: that action has no ``s3:prefix`` key (the
Service Authorization Reference lists no condition key for it), so an Allow conditioned on one
never applies. The listing shows key names and upload ids of unfinished uploads in the bucket;
finishing or aborting one is limited to the frames prefix by the statements on objects.

Why nodes may list the frames prefix: S3 answers a request for a missing key with 404 only to a
caller that may ``s3:ListBucket`` with that key as ``s3:prefix``, else 403; a sync looks up each
tar before uploading it and must tell "not there yet" from "refused".
"""

from __future__ import annotations

from typing import Any

from cctview_agent.fleetconstants import (
    AGENT_KEY_TAG,
    AGENT_TAG,
    DATA_VOLUME_TAG,
    FLEET_TAG,
    UPGRADE_TAG,
)
from cctview_agent.s3layout import FRAMES_FOLDER, MANIFESTS_FOLDER
from cctview_infra.agentpackage import AGENT_KEY_PREFIX

ASSIGNMENTS_FOLDER = "assignments"  # where `cctview-fleet assign` records assignments
INDEX_FOLDER = "index"  # where `cctview-fleet dataset index` keeps its Parquet sample index
TRAINING_FOLDER = "datasets"  # `dataset build --out s3://<bucket>/<prefix>/datasets/<name>`
# What a sync writes: the shards, and their manifests under a parallel prefix (docs/s3.md).
SYNC_FOLDERS = (FRAMES_FOLDER, MANIFESTS_FOLDER)
VERSION = "2012-10-17"


def partition_of(arn: str) -> str:
    """``aws``, ``aws-cn``, ``aws-us-gov``... from any ARN."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or not parts[1]:
        raise ValueError(f"not an ARN: {arn!r}")
    return parts[1]


def bucket_arn_of(bucket: str, partition: str = "aws") -> str:
    return f"arn:{partition}:s3:::{bucket}"


def _folder(prefix: str, folder: str) -> str:
    """``<prefix>/<folder>/`` (or ``<folder>/`` without a prefix), as the key layout has it."""
    prefix = prefix.strip("/")
    return f"{prefix}/{folder}/" if prefix else f"{folder}/"


def _everything_under(prefix: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/*" if prefix else "*"


def _sync_objects(bucket_arn: str, prefix: str) -> list[str]:
    """The object ARNs a sync creates: everything under the frames and manifests folders."""
    return [f"{bucket_arn}/{_folder(prefix, folder)}*" for folder in SYNC_FOLDERS]


def _conditional_put(sid: str, objects: str | list[str]) -> list[dict[str, Any]]:
    """s3:PutObject on ``objects`` (one ARN pattern or several, as IAM's Resource allows) for
    conditional writes and the parts of multipart uploads."""
    return [
        {
            "Sid": f"{sid}OnlyIfAbsent",
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": objects,
            "Condition": {"Null": {"s3:if-none-match": "false"}},
        },
        {
            "Sid": f"{sid}MultipartParts",
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": objects,
            "Condition": {"Bool": {"s3:ObjectCreationOperation": "false"}},
        },
    ]


def _upload_statements(sid: str, bucket_arn: str, prefix: str) -> list[dict[str, Any]]:
    """What ``cctview-agent sync`` needs, whoever runs it (a node, or the operator's --from)."""
    objects = _sync_objects(bucket_arn, prefix)
    return [
        *_conditional_put(sid, objects),
        {
            "Sid": f"{sid}ReadBackAndResume",
            "Effect": "Allow",
            "Action": [
                "s3:GetObject",
                "s3:ListMultipartUploadParts",
                "s3:AbortMultipartUpload",
            ],
            "Resource": objects,
        },
        {
            "Sid": f"{sid}UnfinishedUploads",
            "Effect": "Allow",
            "Action": ["s3:ListBucketMultipartUploads"],
            "Resource": [bucket_arn],
        },
    ]


def node_policy_document(bucket_arn: str, prefix: str) -> dict[str, Any]:
    """The node role's policy: conditional writes of shards and manifests, reads of its own
    uploads and of the agent wheel; nothing else."""
    return {
        "Version": VERSION,
        "Statement": [
            *_upload_statements("Frames", bucket_arn, prefix),
            {
                "Sid": "FramesListing",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [bucket_arn],
                "Condition": {
                    "StringLike": {
                        "s3:prefix": [f"{_folder(prefix, folder)}*" for folder in SYNC_FOLDERS]
                    }
                },
            },
            {
                "Sid": "AgentPackageRead",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"{bucket_arn}/{AGENT_KEY_PREFIX}/*"],
            },
        ],
    }


def operator_policy_document(
    bucket_arn: str, prefix: str, *, region: str = "*", account: str = "*"
) -> dict[str, Any]:
    """What ``cctview-fleet`` needs (attach it to the operator's user or role). ``region`` and
    ``account`` narrow the EC2 ARNs; the defaults leave them open."""
    partition = partition_of(bucket_arn)
    ec2 = f"arn:{partition}:ec2:{region}:{account}"
    volumes, instances = f"{ec2}:volume/*", f"{ec2}:instance/*"
    snapshots = f"arn:{partition}:ec2:{region}::snapshot/*"  # snapshot ARNs have no account
    return {
        "Version": VERSION,
        "Statement": [
            {
                # Describe calls support no resource-level permissions: "*" is the only form.
                "Sid": "Discovery",
                "Effect": "Allow",
                "Action": [
                    "ec2:DescribeInstances",
                    "ec2:DescribeVolumes",
                    "ec2:DescribeSnapshots",
                ],
                "Resource": ["*"],
            },
            {
                "Sid": "TrustReadsConsoleOutput",
                "Effect": "Allow",
                "Action": ["ec2:GetConsoleOutput"],
                "Resource": [instances],
            },
            {
                # rotate-volumes makes every data volume after the first with the fleet's tags
                "Sid": "RotationCreatesFleetVolumes",
                "Effect": "Allow",
                "Action": ["ec2:CreateVolume"],
                "Resource": [volumes],
                "Condition": {"Null": {f"aws:RequestTag/{FLEET_TAG}": "false"}},
            },
            {
                # a retired volume's snapshot is tagged as it is made, never later
                "Sid": "RotationTagsSnapshotsOnCreate",
                "Effect": "Allow",
                "Action": ["ec2:CreateTags"],
                "Resource": [snapshots],
                "Condition": {"StringEquals": {"ec2:CreateAction": "CreateSnapshot"}},
            },
            {
                # the volumes' tags: on create, and the rotation's progress afterwards
                "Sid": "RotationBookkeeping",
                "Effect": "Allow",
                "Action": ["ec2:CreateTags"],
                "Resource": [volumes],
            },
            {
                "Sid": "RotationMovesVolumes",
                "Effect": "Allow",
                "Action": ["ec2:AttachVolume", "ec2:DetachVolume"],
                "Resource": [volumes, instances],
            },
            {
                "Sid": "RotationRetiresVolumes",
                "Effect": "Allow",
                "Action": ["ec2:CreateSnapshot", "ec2:DeleteVolume"],
                "Resource": [volumes, snapshots],
            },
            {
                # frames ls/get, the Dataset, `dev`/demo summaries list the fleet's bucket
                "Sid": "DatasetListing",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [bucket_arn],
            },
            {
                "Sid": "DatasetAndAssignmentsRead",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"{bucket_arn}/{_everything_under(prefix)}"],
            },
            {
                # `assign` writes a versioned record and replaces latest.json: no condition
                "Sid": "AssignmentsWrite",
                "Effect": "Allow",
                "Action": ["s3:PutObject"],
                "Resource": [f"{bucket_arn}/{_folder(prefix, ASSIGNMENTS_FOLDER)}*"],
            },
            {
                # `dataset index` rewrites an hour's Parquet file as new periods arrive; `dataset
                # build` writes training sets in the fleet's bucket under datasets/ (another
                # destination needs the operator's own rights there)
                "Sid": "DatasetIndexAndTrainingSetsWrite",
                "Effect": "Allow",
                "Action": ["s3:PutObject"],
                "Resource": [
                    f"{bucket_arn}/{_folder(prefix, INDEX_FOLDER)}*",
                    f"{bucket_arn}/{_folder(prefix, TRAINING_FOLDER)}*",
                ],
            },
            *_upload_statements("SyncFromFolder", bucket_arn, prefix),
            # issue 12: teardown deletes the fleet's snapshots (and volumes, above; unfinished
            # uploads under frames/, above); upgrade publishes wheels by digest, never over
            # another object, reads them back, and keeps its progress in two instance tags
            {
                "Sid": "TeardownDeletesSnapshots",
                "Effect": "Allow",
                "Action": ["ec2:DeleteSnapshot"],
                "Resource": [snapshots],
            },
            *_conditional_put("UpgradePublishesWheels", f"{bucket_arn}/{AGENT_KEY_PREFIX}/*"),
            {
                "Sid": "UpgradeReadsWheelsBack",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"{bucket_arn}/{AGENT_KEY_PREFIX}/*"],
            },
            {
                # upgrade's progress and wheel; rotate-volumes' active volume (what boot reads)
                "Sid": "UpgradeProgressOnInstances",
                "Effect": "Allow",
                "Action": ["ec2:CreateTags"],
                "Resource": [instances],
                "Condition": {
                    "ForAllValues:StringEquals": {
                        "aws:TagKeys": [UPGRADE_TAG, AGENT_TAG, AGENT_KEY_TAG, DATA_VOLUME_TAG]
                    },
                    "Null": {"aws:TagKeys": "false"},
                },
            },
        ],
    }


def bucket_policy_document(bucket_arn: str, prefix: str) -> dict[str, Any]:
    """The bucket's policy, for everyone: no request without TLS (AWS's documented pattern), and
    no shard or manifest created without ``If-None-Match``, so not even an
    administrator's tool overwrites a frame by accident (the parts of a multipart upload are
    not creations, ``s3:ObjectCreationOperation = false``; its completion is)."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "DenyWithoutTLS",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:*"],
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "DenyFrameOverwrites",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:PutObject"],
                "Resource": _sync_objects(bucket_arn, prefix),
                "Condition": {
                    "Null": {"s3:if-none-match": "true"},
                    "Bool": {"s3:ObjectCreationOperation": "true"},
                },
            },
        ],
    }
