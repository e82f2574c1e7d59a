"""The nodes' IAM role: S3 on the fleet's prefix and nothing else.

What a node does with AWS, and the actions that allows:

- ``cctview-agent sync`` uploads packed periods and manifests under ``<prefix>/`` and checks them
  afterwards: PutObject (single and multipart uploads), GetObject / GetObjectAttributes (read
  back and verify digests), ListBucket limited to the prefix (what is already there), and
  ListBucketMultipartUploads / ListMultipartUploadParts / AbortMultipartUpload (finish or abort
  an upload a crash left behind).
- the user data fetches the agent wheel: GetObject on ``_agent/*`` only, read-only, so a node
  cannot replace the agent the other nodes install.

Nodes get no EC2 rights at all: ``rotate-volumes`` makes its EC2 calls (create, attach, detach,
delete volumes) from the operator's machine with the operator's credentials, and only asks the
node over SSH to format, mount and switch. A compromised node can therefore not touch another
node's disks or instances. No DeleteObject either: a period in S3 is never removed by a node.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from cctview_infra.agentpackage import AGENT_KEY_PREFIX

EC2_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def node_policy_document(bucket: str, prefix: str) -> dict[str, Any]:
    """The node role's policy for ``bucket``: objects under ``prefix/``, listing only there."""
    bucket_arn = f"arn:aws:s3:::{bucket}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "FramesReadWrite",
                "Effect": "Allow",
                "Action": [
                    "s3:PutObject",
                    "s3:GetObject",
                    "s3:GetObjectAttributes",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                "Resource": [f"{bucket_arn}/{prefix}/*"],
            },
            {
                "Sid": "ListOwnPrefix",
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
                "Resource": [bucket_arn],
                "Condition": {"StringLike": {"s3:prefix": [f"{prefix}/*", f"{prefix}/"]}},
            },
            {
                "Sid": "AgentPackageRead",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"{bucket_arn}/{AGENT_KEY_PREFIX}/*"],
            },
        ],
    }


@dataclass(frozen=True, slots=True)
class NodeRoleArgs:
    bucket: pulumi.Input[str]
    prefix: str
    tags: dict[str, str]


class NodeRole(pulumi.ComponentResource):
    """Role, inline policy and instance profile; ``profile_name`` goes on every instance."""

    profile_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: NodeRoleArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cctview:fleet:NodeRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=json.dumps(EC2_TRUST),
            description="cctview-fleet nodes: S3 on the fleet's prefix only, no EC2",
            tags=args.tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-s3",
            role=role.id,
            policy=pulumi.Output.from_input(args.bucket).apply(
                lambda bucket: json.dumps(node_policy_document(bucket, args.prefix))
            ),
            opts=child,
        )
        profile = aws.iam.InstanceProfile(
            f"{name}-profile", role=role.name, tags=args.tags, opts=child
        )
        self.role_name = role.name
        self.profile_name = profile.name
        self.register_outputs({"role": role.name, "profile": profile.name})
