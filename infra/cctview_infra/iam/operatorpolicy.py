"""Print the operator's least-privilege policy.

    python -m cctview_infra.iam.operatorpolicy BUCKET

The document comes from :func:`cctview_infra.iam.documents.operator_policy_document`, the same code
the IAM tests judge the CLI's calls by; ``docs/operator-policy.json`` is its output for a
placeholder bucket (a test keeps the two equal). Attach it to the operator's IAM user or role::

    python -m cctview_infra.iam.operatorpolicy my-cctview-frames --prefix cctview > operator.json
    aws iam put-user-policy --user-name me --policy-name cctview-operator \\
        --policy-document file://operator.json
"""

from __future__ import annotations

import argparse
import json
import sys

from cctview_infra.iam.documents import bucket_arn_of, operator_policy_document

PLACEHOLDER_BUCKET = "YOUR-FLEET-BUCKET"


def render(
    bucket: str, prefix: str, *, partition: str = "aws", region: str = "*", account: str = "*"
) -> str:
    document = operator_policy_document(
        bucket_arn_of(bucket, partition), prefix, region=region, account=account
    )
    return json.dumps(document, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cctview_infra.iam.operatorpolicy",
        description="Print the IAM policy cctview-fleet needs for one fleet's bucket.",
    )
    parser.add_argument("bucket", help="the fleet's bucket (stack output `bucket`)")
    parser.add_argument("--prefix", default="cctview", help="the stack's bucketPrefix")
    parser.add_argument("--partition", default="aws", help="aws, aws-cn or aws-us-gov")
    parser.add_argument("--region", default="*", help="narrow the EC2 ARNs to one region")
    parser.add_argument("--account", default="*", help="narrow the EC2 ARNs to one account")
    args = parser.parse_args(argv)
    sys.stdout.write(
        render(
            args.bucket,
            args.prefix,
            partition=args.partition,
            region=args.region,
            account=args.account,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
