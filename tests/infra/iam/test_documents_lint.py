"""Every policy document passes parliament, an IAM linter that knows AWS's actions, resources
and condition keys (its bundled iam_definition.json is the Service Authorization Reference).

Zero findings, community auditors included; no allow-list is needed today. The first test shows
the linter sees the very bug the node role had: a condition key the action does not have.
"""

from __future__ import annotations

import json
from typing import Any

import parliament
import pytest

from cctview_infra.iam.documents import (
    bucket_policy_document,
    node_policy_document,
    operator_policy_document,
)


def findings(document: dict[str, Any]) -> list[tuple[str, Any]]:
    policy = parliament.analyze_policy_string(json.dumps(document), include_community_auditors=True)
    return [(f.issue, f.detail) for f in policy.findings]


def test_the_linter_knows_the_actions_and_keys_we_use() -> None:
    """ListBucketMultipartUploads has no s3:prefix key (the old node role's bug); PutObject has
    s3:if-none-match and s3:ObjectCreationOperation."""
    s3 = next(s for s in parliament.iam_definition if s["prefix"] == "s3")
    keys = {
        p["privilege"]: {k for r in p["resource_types"] for k in r["condition_keys"]}
        for p in s3["privileges"]
    }
    assert "s3:prefix" not in keys["ListBucketMultipartUploads"]
    assert {"s3:if-none-match", "s3:ObjectCreationOperation"} <= keys["PutObject"]
    old_bug = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucketMultipartUploads"],
                "Resource": ["arn:aws:s3:::b"],
                "Condition": {"StringLike": {"s3:prefix": ["cctview/*"]}},
            }
        ],
    }
    assert [issue for issue, _ in findings(old_bug)] == ["UNKNOWN_CONDITION_FOR_ACTION"]


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
@pytest.mark.parametrize("prefix", ["cctview", "nyc/frames", ""])
def test_every_policy_document_has_zero_findings(partition: str, prefix: str) -> None:
    bucket_arn = f"arn:{partition}:s3:::my-fleet-bucket"
    documents = {
        "node role": node_policy_document(bucket_arn, prefix),
        "operator": operator_policy_document(bucket_arn, prefix),
        "operator, one region and account": operator_policy_document(
            bucket_arn, prefix, region="us-east-1", account="123456789012"
        ),
        "bucket policy": bucket_policy_document(bucket_arn, prefix),
    }
    for name, document in documents.items():
        assert findings(document) == [], name
