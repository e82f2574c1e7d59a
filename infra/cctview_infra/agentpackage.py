"""Ship the operator checkout's agent to the nodes: a reproducible wheel, stored in S3 by digest.

Nodes must run exactly the agent the operator has, not whatever PyPI or a branch holds. So the
program builds a wheel from ``./agent`` (with ``SOURCE_DATE_EPOCH`` fixed, the same sources give
the same bytes), uploads it under a key that contains its sha256, and the user data downloads
that key and refuses to install unless the digest matches. An unchanged agent is an unchanged
object: ``pulumi up`` uploads nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_aws import s3

# The build is plain Python shared with `cctview-fleet upgrade` (the same sources give the same
# wheel, so an upgrade and a later `pulumi up` agree on its digest).
from cctview_fleet.rollout.wheels import (
    AGENT_KEY_PREFIX,
    AgentWheel,
    build_agent_wheel,
    sha256_file,
    source_digest,
)

__all__ = [
    "AGENT_KEY_PREFIX",
    "AgentPackage",
    "AgentPackageArgs",
    "AgentWheel",
    "build_agent_wheel",
    "sha256_file",
    "source_digest",
]


@dataclass(frozen=True, slots=True)
class AgentPackageArgs:
    bucket: pulumi.Input[str]
    wheel: AgentWheel
    tags: dict[str, str]


class AgentPackage(pulumi.ComponentResource):
    """The agent wheel as an S3 object; ``key`` and ``sha256`` go into every node's user data."""

    key: pulumi.Output[str]

    def __init__(
        self, name: str, args: AgentPackageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cctview:fleet:AgentPackage", name, None, opts)
        self.sha256 = args.wheel.sha256
        self.filename = args.wheel.filename
        obj = s3.BucketObjectv2(
            f"{name}-wheel",
            bucket=args.bucket,
            key=args.wheel.key,
            source=pulumi.FileAsset(str(args.wheel.path)),
            content_type="application/zip",
            server_side_encryption="AES256",
            # S3 computes and stores the digest, so a reader can verify without trusting us.
            checksum_algorithm="SHA256",
            tags=args.tags,
            # a new build is a new key; the old object must stay: running nodes and a
            # replacement's user data may still name it (cctview-fleet upgrade never deletes)
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        self.key = obj.key
        self.register_outputs({"key": self.key, "sha256": self.sha256})
