"""The nodes' IAM role: conditional writes under the fleet's frames prefix and nothing else.

What a node does with AWS, and the actions that allows (the document itself, and why each
statement is shaped as it is, lives in :mod:`cctview_infra.iam.documents`, the one source the
docs and the IAM tests share):

- ``cctview-agent sync`` uploads packed periods and manifests under ``<prefix>/frames/`` and
  checks them afterwards: PutObject only with ``If-None-Match: *`` (single PUTs and
  CompleteMultipartUpload; the parts of a multipart upload are let through by
  ``s3:ObjectCreationOperation``), GetObject (HeadObject: read back and verify digests),
  ListBucket limited to the frames prefix, and ListBucketMultipartUploads /
  ListMultipartUploadParts / AbortMultipartUpload (finish or abort an upload a crash left).
- the user data fetches the agent wheel: GetObject on ``_agent/*`` only, read-only, so a node
  cannot replace the agent the other nodes install.

Nodes get no EC2 rights at all: ``rotate-volumes`` makes its EC2 calls (create, attach, detach,
delete volumes) from the operator's machine with the operator's credentials, and only asks the
node over SSH to format, mount and switch. A compromised node can therefore not touch another
node's disks or instances, nor overwrite any object (its own included), nor write the
assignments. No DeleteObject either: a period in S3 is never removed by a node.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
from pulumi_aws import iam

from cctview_infra.iam.documents import node_policy_document

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


@dataclass(frozen=True, slots=True)
class NodeRoleArgs:
    bucket_arn: pulumi.Input[str]  # every ARN is built from it (aws, aws-cn, aws-us-gov)
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
        role = iam.Role(
            f"{name}-role",
            assume_role_policy=json.dumps(EC2_TRUST),
            description="cctview-fleet nodes: new objects under the frames prefix only, no EC2",
            tags=args.tags,
            opts=child,
        )
        iam.RolePolicy(
            f"{name}-s3",
            role=role.id,
            policy=pulumi.Output.from_input(args.bucket_arn).apply(
                lambda arn: json.dumps(node_policy_document(arn, args.prefix))
            ),
            opts=child,
        )
        profile = iam.InstanceProfile(f"{name}-profile", role=role.name, tags=args.tags, opts=child)
        self.role_name = role.name
        self.profile_name = profile.name
        self.register_outputs({"role": role.name, "profile": profile.name})
