"""Judge recorded AWS calls by the policy of the identity that made each one.

The recorder (:mod:`cctview_agent.awscalls`) says who made a call: ``node`` (the agent, under the
node role), ``operator`` (the CLI, under the operator policy) or ``deployer`` (the local fleet
standing in for ``pulumi up``, whose rights are the deployer's, not this project's: skipped).
Each call becomes its IAM requests (:mod:`cctview_infra.iam.requests`), and each request is
evaluated (:mod:`cctview_infra.iam.evaluator`) against the identity's policy together with the
bucket
policy, both instantiated for the call's bucket and the prefix the caller was configured with.
A call of an unknown principal or an unmapped operation is a finding too, never a pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cctview_agent.awscalls import DEPLOYER, NODE, OPERATOR, RecordedCall
from cctview_infra.iam.documents import (
    bucket_arn_of,
    bucket_policy_document,
    node_policy_document,
    operator_policy_document,
)
from cctview_infra.iam.evaluator import Request, Verdict, evaluate
from cctview_infra.iam.requests import UnmappedOperationError, partition_for, requests_for

DEFAULT_PREFIX = "cctview"  # the stack's default bucketPrefix
PRINCIPAL_ARNS = {
    NODE: "arn:aws:sts::123456789012:assumed-role/cctview-nodes-role/i-0",
    OPERATOR: "arn:aws:iam::123456789012:user/operator",
}


@dataclass(frozen=True, slots=True)
class Finding:
    """A recorded call AWS would refuse (or that cannot be judged), and why."""

    call: RecordedCall
    reason: str
    request: Request | None = None
    verdict: Verdict | None = None

    def __str__(self) -> str:
        where = f"{self.call.principal} {self.call.service}:{self.call.operation}"
        if self.request is None:
            return f"{where}: {self.reason}"
        context = ", ".join(f"{k}={v!r}" for k, v in sorted(self.request.context.items()))
        return (
            f"{where}: {self.request.action} on {self.request.resource} is "
            f"{self.verdict.decision if self.verdict else '?'} ({self.reason}; context: {context})"
        )


def prefix_of(call: RecordedCall) -> str:
    """The bucket prefix the caller's policy is written for (the stack's default if unsaid)."""
    return DEFAULT_PREFIX if call.fleet_prefix is None else call.fleet_prefix


def policies_for(
    call: RecordedCall,
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]] | None:
    """The identity's policies and the resource policies that govern ``call``."""
    prefix = prefix_of(call)
    bucket = str(call.params.get("Bucket", "")) or "no-bucket"
    bucket_arn = bucket_arn_of(bucket, partition_for(call.region))
    resource: list[Mapping[str, Any]] = (
        [bucket_policy_document(bucket_arn, prefix)] if call.service == "s3" else []
    )
    if call.principal == NODE:
        return [node_policy_document(bucket_arn, prefix)], resource
    if call.principal == OPERATOR:
        return [operator_policy_document(bucket_arn, prefix)], resource
    return None


def check_call(call: RecordedCall, *, loopback_is_tls: bool = True) -> list[Finding]:
    """Nothing when AWS would allow ``call``; else one finding per refused request."""
    if call.principal == DEPLOYER:
        return []
    policies = policies_for(call)
    if policies is None:
        return [Finding(call, f"no policy is known for principal {call.principal!r}")]
    identity, resource = policies
    try:
        requests = requests_for(
            call,
            principal_arn=PRINCIPAL_ARNS[call.principal],
            loopback_is_tls=loopback_is_tls,
        )
    except UnmappedOperationError as exc:
        return [
            Finding(
                call,
                f"{exc} is not mapped to IAM actions; add it to cctview_infra/iam/requests.py "
                "(and its permission to the policy in iam/documents.py)",
            )
        ]
    findings = []
    for request in requests:
        verdict = evaluate(request, identity, resource)
        if not verdict.allowed:
            reason = f"statement {verdict.statement}" if verdict.statement else "no Allow applies"
            reason += f" in the {call.principal} policy for prefix {prefix_of(call)!r}"
            findings.append(Finding(call, reason, request, verdict))
    return findings


def check_calls(calls: Iterable[RecordedCall], *, loopback_is_tls: bool = True) -> list[Finding]:
    """Every finding for ``calls``; the same refusal is reported once."""
    seen: set[str] = set()
    findings = []
    for call in calls:
        for finding in check_call(call, loopback_is_tls=loopback_is_tls):
            text = str(finding)
            if text not in seen:
                seen.add(text)
                findings.append(finding)
    return findings
