"""A small, strict IAM policy evaluator: is this request allowed by these policies?

moto does not enforce IAM, so the tests evaluate every AWS call the agent and the CLI make
against the policy of the identity that makes it, with this module. It follows AWS's documented
logic for one account (IAM User Guide, "Policy evaluation logic" and "IAM JSON policy elements:
Condition operators"):

- an explicit ``Deny`` in any policy wins; otherwise an ``Allow`` in the identity's policy or in
  the resource's policy (same account) allows; otherwise the request is implicitly denied;
- ``Action`` / ``NotAction`` match case-insensitively with ``*`` and ``?``; ``Resource`` /
  ``NotResource`` match case-sensitively with the same wildcards;
- a resource policy's statement applies to a principal it names or to ``"*"``;
- conditions: every operator of a block must hold (AND), every key of an operator (AND), any
  value of a key (OR); negated operators (``StringNotEquals``...) hold when no value matches;
- a condition key absent from the request context makes the condition false, except for
  ``Null`` (which tests exactly that), ``...IfExists`` operators (true when absent) and negated
  operators (true when absent, as AWS documents);
- keys are case-insensitive, values of String operators case-sensitive (``IgnoreCase`` aside).

Only the operators these policies use are implemented; any other one raises
:class:`UnsupportedPolicyError`, so a policy can never be judged by a rule this module lacks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Any

ContextValue = str | bool | Sequence[str]


class UnsupportedPolicyError(ValueError):
    """Raised for a policy element or condition operator the evaluator does not implement."""


class Decision(StrEnum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


@dataclass(frozen=True, slots=True)
class Request:
    """One authorization question: may ``principal`` do ``action`` on ``resource``?"""

    action: str  # "s3:PutObject"
    resource: str  # an ARN
    context: Mapping[str, ContextValue] = field(default_factory=dict)  # condition keys
    principal: str = ""  # the caller's ARN, for resource policies that name principals


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    statement: str = ""  # the Sid (or index) of the deciding statement, "" for implicit deny

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW


@cache
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """IAM's wildcards: ``*`` any run of characters (slashes included), ``?`` one character."""
    parts = ("." * (c == "?") + ".*" * (c == "*") or re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return _wildcard(pattern, ignore_case).fullmatch(value) is not None


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _bool_text(value: ContextValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).lower()


_STRING_OPS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda want, got: want == got,
    "StringEqualsIgnoreCase": lambda want, got: want.lower() == got.lower(),
    "StringLike": lambda want, got: wildcard_match(want, got),
    "ArnEquals": lambda want, got: want == got,
    "ArnLike": lambda want, got: wildcard_match(want, got),
    "Bool": lambda want, got: want.lower() == got,
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def _lookup(context: Mapping[str, ContextValue], key: str) -> ContextValue | None:
    lowered = key.lower()
    for name, value in context.items():
        if name.lower() == lowered:
            return value
    return None


def _condition_holds(operator: str, key: str, wanted: Any, context: Mapping[str, Any]) -> bool:
    if operator.startswith(("ForAnyValue:", "ForAllValues:")):
        return _set_condition_holds(operator, key, wanted, context)
    present = _lookup(context, key)
    wants = [str(w) if not isinstance(w, bool) else _bool_text(w) for w in _listed(wanted)]
    if operator == "Null":
        # "true": the key must be absent; "false": it must be present.
        return any((w.lower() == "true") == (present is None) for w in wants)
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    if present is None:
        return if_exists or base in _NEGATED
    got = [_bool_text(v) if base == "Bool" else str(v) for v in _listed(present)]
    if base in _NEGATED:
        match = _STRING_OPS[_NEGATED[base]]
        return not any(match(w, g) for w in wants for g in got)
    if base not in _STRING_OPS:
        raise UnsupportedPolicyError(f"condition operator {operator!r} is not implemented")
    match = _STRING_OPS[base]
    return any(match(w, g) for w in wants for g in got)


def _set_condition_holds(operator: str, key: str, wanted: Any, context: Mapping[str, Any]) -> bool:
    """IAM's multivalued operators, for the positive string operators: ForAllValues holds when
    every value of the key matches a wanted value (also when the key is absent, as on AWS: pair
    it with a Null condition), ForAnyValue when at least one does."""
    quantifier, _, base = operator.partition(":")
    if base not in _STRING_OPS or base == "Bool":
        raise UnsupportedPolicyError(f"set operator {operator!r} is not implemented")
    match = _STRING_OPS[base]
    wants = [str(w) for w in _listed(wanted)]
    present = _lookup(context, key)
    got = [str(v) for v in _listed(present)] if present is not None else []
    hits = [any(match(w, g) for w in wants) for g in got]
    return all(hits) if quantifier == "ForAllValues" else any(hits)


def _conditions_hold(block: Mapping[str, Mapping[str, Any]], context: Mapping[str, Any]) -> bool:
    return all(
        _condition_holds(operator, key, wanted, context)
        for operator, keys in block.items()
        for key, wanted in keys.items()
    )


def _matches_any(patterns: Any, value: str, *, ignore_case: bool) -> bool:
    if any("${" in str(p) for p in _listed(patterns)):
        raise UnsupportedPolicyError(f"policy variables in {patterns!r} are not implemented")
    return any(wildcard_match(str(p), value, ignore_case=ignore_case) for p in _listed(patterns))


def _principal_applies(principal: Any, caller: str) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        for kind, names in principal.items():
            if kind != "AWS":
                raise UnsupportedPolicyError(f"principal type {kind!r} is not implemented")
            if any(n == "*" or n == caller for n in _listed(names)):
                return True
        return False
    raise UnsupportedPolicyError(f"principal {principal!r} is not implemented")


_KNOWN_ELEMENTS = frozenset(
    {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition", "Principal"}
)


def _statement_applies(
    statement: Mapping[str, Any], request: Request, *, resource_policy: bool
) -> bool:
    unknown = set(statement) - _KNOWN_ELEMENTS
    if unknown or "NotPrincipal" in statement:
        raise UnsupportedPolicyError(f"policy elements {sorted(unknown)} are not implemented")
    if resource_policy and not _principal_applies(statement.get("Principal"), request.principal):
        return False
    if "Action" in statement:
        if not _matches_any(statement["Action"], request.action, ignore_case=True):
            return False
    elif _matches_any(statement.get("NotAction", []), request.action, ignore_case=True):
        return False
    if "Resource" in statement:
        if not _matches_any(statement["Resource"], request.resource, ignore_case=False):
            return False
    elif _matches_any(statement.get("NotResource", []), request.resource, ignore_case=False):
        return False
    return _conditions_hold(statement.get("Condition", {}), request.context)


def _statements(policy: Mapping[str, Any]) -> Iterable[tuple[str, Mapping[str, Any]]]:
    for index, statement in enumerate(_listed(policy.get("Statement", []))):
        yield str(statement.get("Sid") or f"#{index}"), statement


def evaluate(
    request: Request,
    identity_policies: Sequence[Mapping[str, Any]],
    resource_policies: Sequence[Mapping[str, Any]] = (),
) -> Verdict:
    """The decision for ``request`` under the identity's and the resource's policies."""
    allowed_by = ""
    for policies, resource_policy in ((identity_policies, False), (resource_policies, True)):
        for policy in policies:
            for sid, statement in _statements(policy):
                if not _statement_applies(statement, request, resource_policy=resource_policy):
                    continue
                if statement["Effect"] == "Deny":
                    return Verdict(Decision.EXPLICIT_DENY, sid)
                allowed_by = allowed_by or sid
    if allowed_by:
        return Verdict(Decision.ALLOW, allowed_by)
    return Verdict(Decision.IMPLICIT_DENY)
