"""The fleet's S3 bucket: private, encrypted, owner-enforced, with a lifecycle that cleans up.

A data set of traffic-camera frames must never become public by accident, so the bucket blocks
every kind of public access and disables ACLs (the bucket owner owns every object); objects are
encrypted at rest by default; and a multipart upload a node abandoned (a crash, a cut network)
is aborted after a day instead of costing storage forever. Expiring frames is optional
(``lifecycleDays``); by default the data set is kept. The bucket's policy denies every request
made without TLS and every write that could overwrite a frame, whoever makes it
(:func:`cctview_infra.iam.documents.bucket_policy_document`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
from pulumi_aws import s3

from cctview_infra.iam.documents import bucket_policy_document

ABORT_MULTIPART_DAYS = 1


@dataclass(frozen=True, slots=True)
class DataBucketArgs:
    prefix: str
    tags: dict[str, str]
    bucket_name: str | None = None  # None: Pulumi picks a unique name from the resource name
    lifecycle_days: int = 0  # expire frames under ``prefix/`` after this many days; 0 = never


class DataBucket(pulumi.ComponentResource):
    """The bucket and the settings that make it safe; ``bucket`` is its name."""

    bucket: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: DataBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cctview:fleet:DataBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        bucket = s3.Bucket(
            f"{name}-bucket",
            bucket=args.bucket_name,
            force_destroy=False,  # `pulumi destroy` never empties a data set
            tags=args.tags,
            opts=child,
        )
        access_block = s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            # S3 refuses some ownership changes while a public-access change is in flight.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[access_block]),
        )
        s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket.id,
            policy=bucket.arn.apply(
                lambda arn: json.dumps(bucket_policy_document(arn, args.prefix))
            ),
            # S3 refuses a bucket policy while the public-access block is being changed.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[access_block]),
        )
        s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"},
                    "bucket_key_enabled": True,
                }
            ],
            opts=child,
        )
        rules: list[s3.BucketLifecycleConfigurationRuleArgsDict] = [
            {
                "id": "abort-incomplete-multipart-uploads",
                "status": "Enabled",
                "filter": {},  # the whole bucket
                "abort_incomplete_multipart_upload": {
                    "days_after_initiation": ABORT_MULTIPART_DAYS
                },
            }
        ]
        if args.lifecycle_days > 0:
            rules.append(
                {
                    "id": "expire-frames",
                    "status": "Enabled",
                    "filter": {"prefix": f"{args.prefix}/"},  # frames only, never the agent
                    "expiration": {"days": args.lifecycle_days},
                }
            )
        s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle", bucket=bucket.id, rules=rules, opts=child
        )
        self.bucket = bucket.bucket
        self.arn = bucket.arn
        self.register_outputs({"bucket": self.bucket, "arn": self.arn})
