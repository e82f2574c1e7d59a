"""The IAM evaluator follows AWS's documented evaluation logic (cctview_infra/iam/evaluator.py)."""

from __future__ import annotations

from typing import Any

import pytest

from cctview_infra.iam.evaluator import (
    Decision,
    Request,
    UnsupportedPolicyError,
    evaluate,
    wildcard_match,
)

OBJECT = "arn:aws:s3:::b/p/frames/x.tar"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any = "s3:PutObject", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def decide(statement: dict[str, Any], request: Request) -> Decision:
    return evaluate(request, [policy(statement)]).decision


def test_wildcards_span_slashes_and_question_marks_one_character() -> None:
    assert wildcard_match("arn:aws:s3:::b/p/*", OBJECT)
    assert wildcard_match("arn:aws:s3:::b/p/frames/?.tar", OBJECT)
    assert not wildcard_match("arn:aws:s3:::b/q/*", OBJECT)
    assert not wildcard_match("arn:aws:s3:::b/p/frames/??.tar", OBJECT)
    assert not wildcard_match("arn:aws:s3:::B/p/*", OBJECT)  # resources are case-sensitive
    assert wildcard_match("a.c", "a.c") and not wildcard_match("a.c", "abc")  # no regex leaks


def test_actions_match_case_insensitively_with_wildcards_and_not_action() -> None:
    request = Request("s3:PutObject", OBJECT)
    assert decide(allow("S3:putobject"), request) is Decision.ALLOW
    assert decide(allow("s3:Put*"), request) is Decision.ALLOW
    assert decide(allow("s3:Get*"), request) is Decision.IMPLICIT_DENY
    not_action = {"Effect": "Allow", "NotAction": "s3:Delete*", "Resource": "*"}
    assert decide(not_action, request) is Decision.ALLOW
    assert decide(not_action, Request("s3:DeleteObject", OBJECT)) is Decision.IMPLICIT_DENY


def test_explicit_deny_wins_over_any_allow_in_any_policy() -> None:
    request = Request("s3:PutObject", OBJECT)
    deny = {"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Principal": "*"}
    verdict = evaluate(request, [policy(allow())], [policy(deny)])
    assert verdict.decision is Decision.EXPLICIT_DENY
    assert evaluate(request, [], [policy({**allow(), "Principal": "*"})]).allowed
    assert evaluate(request, []).decision is Decision.IMPLICIT_DENY


def test_a_resource_policy_applies_to_the_principals_it_names() -> None:
    request = Request("s3:GetObject", OBJECT, principal="arn:aws:iam::1:user/a")
    named = {**allow("s3:GetObject"), "Principal": {"AWS": "arn:aws:iam::1:user/b"}}
    assert evaluate(request, [], [policy(named)]).decision is Decision.IMPLICIT_DENY
    mine = {**allow("s3:GetObject"), "Principal": {"AWS": ["arn:aws:iam::1:user/a"]}}
    assert evaluate(request, [], [policy(mine)]).allowed


def test_a_missing_condition_key_makes_the_condition_false() -> None:
    """IAM User Guide: a key absent from the request context does not match."""
    condition = {"StringLike": {"s3:prefix": ["p/*"]}}
    statement = allow("s3:ListBucketMultipartUploads", Condition=condition)
    request = Request("s3:ListBucketMultipartUploads", "arn:aws:s3:::b")  # no s3:prefix key
    assert decide(statement, request) is Decision.IMPLICIT_DENY
    with_key = Request("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "p/frames/"})
    assert decide(allow("s3:ListBucket", Condition=condition), with_key) is Decision.ALLOW


def test_if_exists_null_and_negated_operators_with_a_missing_key() -> None:
    request = Request("s3:PutObject", OBJECT)  # no s3:if-none-match
    cases = {
        "StringEqualsIfExists": Decision.ALLOW,
        "StringEquals": Decision.IMPLICIT_DENY,
        "StringNotEquals": Decision.ALLOW,  # AWS: a negated operator holds when the key is absent
    }
    for operator, expected in cases.items():
        statement = allow(Condition={operator: {"s3:if-none-match": "*"}})
        assert decide(statement, request) is expected, operator
    present = allow(Condition={"Null": {"s3:if-none-match": "false"}})
    absent = allow(Condition={"Null": {"s3:if-none-match": "true"}})
    assert decide(present, request) is Decision.IMPLICIT_DENY
    assert decide(absent, request) is Decision.ALLOW
    header = Request("s3:PutObject", OBJECT, {"s3:if-none-match": "*"})
    assert decide(present, header) is Decision.ALLOW
    assert decide(absent, header) is Decision.IMPLICIT_DENY


def test_bool_values_or_within_a_key_and_across_keys() -> None:
    request = Request("s3:PutObject", OBJECT, {"aws:SecureTransport": False, "S3:Prefix": "a"})
    assert decide(allow(Condition={"Bool": {"aws:SecureTransport": "false"}}), request) is (
        Decision.ALLOW
    )
    assert decide(allow(Condition={"Bool": {"aws:securetransport": "true"}}), request) is (
        Decision.IMPLICIT_DENY
    )
    either = allow(Condition={"StringEquals": {"s3:prefix": ["b", "a"]}})
    assert decide(either, request) is Decision.ALLOW  # keys are case-insensitive, values OR
    both = allow(
        Condition={
            "StringEquals": {"s3:prefix": "a"},
            "Bool": {"aws:SecureTransport": "true"},
        }
    )
    assert decide(both, request) is Decision.IMPLICIT_DENY  # operators AND
    case = allow(Condition={"StringEquals": {"s3:prefix": "A"}})
    assert decide(case, request) is Decision.IMPLICIT_DENY  # values are case-sensitive


def test_set_operators_quantify_over_the_keys_values() -> None:
    """ForAllValues: every value is wanted (vacuously true without the key: AWS's pitfall, so
    pair it with Null); ForAnyValue: one is."""
    only_ab = allow(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}})
    some_a = allow(Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": "a"}})
    tagged = Request("s3:PutObject", OBJECT, {"aws:TagKeys": ["a", "b"]})
    extra = Request("s3:PutObject", OBJECT, {"aws:TagKeys": ["a", "c"]})
    untagged = Request("s3:PutObject", OBJECT, {})
    assert decide(only_ab, tagged) is Decision.ALLOW
    assert decide(only_ab, extra) is Decision.IMPLICIT_DENY
    assert decide(only_ab, untagged) is Decision.ALLOW
    assert decide(some_a, extra) is Decision.ALLOW
    assert decide(some_a, untagged) is Decision.IMPLICIT_DENY


@pytest.mark.parametrize(
    "statement",
    [
        allow(Condition={"NumericLessThan": {"s3:max-keys": "10"}}),
        allow(Condition={"ForAnyValue:NumericLessThan": {"s3:max-keys": "10"}}),
        {**allow(), "NotPrincipal": {"AWS": "x"}},
    ],
)
def test_what_it_does_not_implement_is_refused_not_guessed(statement: dict[str, Any]) -> None:
    request = Request("s3:PutObject", OBJECT, {"s3:max-keys": "5", "aws:TagKeys": ["a"]})
    with pytest.raises(UnsupportedPolicyError):
        evaluate(request, [policy(statement)])
