"""Where assignments live: on each node (what it polls) and, versioned, in S3 (what was decided).

The node's own file is the truth of what it polls, so ``assign`` reads the current assignment from
the nodes (``cctview-agent assign --show``) and falls back to the last record in S3 only for a
node it cannot read (or one that no longer exists, whose cameras must then move). A push pipes the
node's camera array into ``cctview-agent assign -``, which validates it, replaces the file
atomically and reloads the agent. Every applied plan is recorded as
``<prefix>/assignments/<UTC time>.json`` plus ``<prefix>/assignments/latest.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cctview_agent.cameras import Camera, dump_cameras, parse_cameras, parse_cameras_json
from cctview_fleet.assignment.planner import Assignment, Plan
from cctview_fleet.cloud import aws
from cctview_fleet.cloud.inventory import Node
from cctview_fleet.cloud.stacks import Stack
from cctview_fleet.defaults import DEFAULT_PARALLEL
from cctview_fleet.errors import CatalogError, NodeError, StorageServiceError
from cctview_fleet.nodes.ops import run_on_nodes
from cctview_fleet.remote.ssh import Connections
from cctview_fleet.results import FleetResult

RECORD_VERSION = 1


def read_node_assignment(node: Node, connections: Connections) -> list[Camera]:
    conn = connections.get(node)
    command = conn.agent_command("assign", "--show")
    result = conn.check(command)
    try:
        return parse_cameras_json(result.stdout, source=f"{node.name} `{command}`")
    except CatalogError as exc:
        raise NodeError(node.name, str(exc)) from exc


def read_from_nodes(
    nodes: Sequence[Node], connections: Connections, *, parallel: int = DEFAULT_PARALLEL
) -> FleetResult[list[Camera]]:
    return run_on_nodes(
        nodes, lambda node: read_node_assignment(node, connections), parallel=parallel
    )


@dataclass(frozen=True, slots=True)
class Current:
    """The assignment as found: by node, and where each part came from ("node" or "s3")."""

    assignment: Assignment
    cameras: Mapping[str, Camera]
    sources: Mapping[str, str]


def merge_current(live: FleetResult[list[Camera]], record: Mapping[str, Any] | None) -> Current:
    """Live reads where they worked; the S3 record for nodes that failed or are gone."""
    shards: dict[str, list[str]] = {}
    cameras: dict[str, Camera] = {}
    sources: dict[str, str] = {}
    for name, outcome in live.items():
        if outcome.ok and outcome.value is not None:
            shards[name] = [c.id for c in outcome.value]
            cameras.update((c.id, c) for c in outcome.value)
            sources[name] = "node"
    for name, listed in (record or {}).get("nodes", {}).items():
        if name in shards:
            continue
        recorded = parse_cameras(listed, source=f"recorded assignment of {name}")
        shards[name] = [c.id for c in recorded]
        for camera in recorded:
            cameras.setdefault(camera.id, camera)
        sources[name] = "s3"
    return Current(Assignment.of(shards), cameras, sources)


def node_payload(plan: Plan, node: str, cameras: Mapping[str, Camera]) -> str:
    return dump_cameras(cameras[cid] for cid in plan.assignment.shards.get(node, ())) + "\n"


def push_node(node: Node, connections: Connections, payload: str) -> dict[str, Any]:
    """Pipe the node's cameras into the agent; return the agent's one-line JSON summary."""
    conn = connections.get(node)
    result = conn.check(conn.agent_command("assign", "-"), stdin=payload)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    try:
        summary = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        summary = {"output": lines[-1]}
    return summary if isinstance(summary, dict) else {"output": summary}


def push(
    nodes: Sequence[Node],
    connections: Connections,
    plan: Plan,
    cameras: Mapping[str, Camera],
    *,
    parallel: int = DEFAULT_PARALLEL,
) -> FleetResult[dict[str, Any]]:
    """Every node's new assignment, in parallel; each node's outcome kept."""
    payloads = {node.name: node_payload(plan, node.name, cameras) for node in nodes}
    return run_on_nodes(
        nodes,
        lambda node: push_node(node, connections, payloads[node.name]),
        parallel=parallel,
    )


# -- the record in S3 ---------------------------------------------------------------------------


def assignments_prefix(stack: Stack) -> str:
    prefix = stack.prefix.strip("/")
    return f"{prefix}/assignments/" if prefix else "assignments/"


def _require_bucket(stack: Stack) -> str:
    if not stack.bucket:
        raise StorageServiceError(
            f"stack {stack.name!r} has no bucket; run `cctview-fleet stack import {stack.name}`"
        )
    return stack.bucket


def record_document(
    stack: Stack,
    plan: Plan,
    cameras: Mapping[str, Camera],
    *,
    selection: str,
    pushed: Mapping[str, bool],
    now: float | None = None,
) -> dict[str, Any]:
    created = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    return {
        "version": RECORD_VERSION,
        "stack": stack.name,
        "created": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "selection": selection,
        "cameras_per_node": plan.cameras_per_node,
        "pushed": dict(pushed),
        "diff": plan.diff.to_dict(),
        "nodes": {
            node: [cameras[cid].to_dict() for cid in ids]
            for node, ids in plan.assignment.shards.items()
        },
    }


def record(stack: Stack, document: Mapping[str, Any]) -> str:
    """Write the versioned record and ``latest.json``; return the versioned key."""
    bucket = _require_bucket(stack)
    stamp = str(document["created"]).replace("-", "").replace(":", "")
    key = f"{assignments_prefix(stack)}{stamp}.json"
    body = (json.dumps(document, indent=1, ensure_ascii=False) + "\n").encode()
    client = aws.s3(stack)
    with aws.translate_errors(stack, "s3", f"recording the assignment in s3://{bucket}/{key}"):
        client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
        client.put_object(
            Bucket=bucket,
            Key=f"{assignments_prefix(stack)}latest.json",
            Body=body,
            ContentType="application/json",
        )
    return key


def latest_record(stack: Stack) -> dict[str, Any] | None:
    """The last recorded assignment, or None when none was recorded yet."""
    bucket = _require_bucket(stack)
    key = f"{assignments_prefix(stack)}latest.json"
    client = aws.s3(stack)
    try:
        with aws.translate_errors(stack, "s3", f"reading s3://{bucket}/{key}"):
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except StorageServiceError as exc:
        cause = exc.__cause__
        code = aws.error_code(cause) if hasattr(cause, "response") else ""
        if code in ("NoSuchKey", "404"):
            return None
        raise
    try:
        document = json.loads(body)
    except json.JSONDecodeError as exc:
        raise StorageServiceError(
            f"s3://{bucket}/{key} is not JSON ({exc}); run `cctview-fleet assign` to rewrite it"
        ) from exc
    if not isinstance(document, dict) or not isinstance(document.get("nodes"), dict):
        raise StorageServiceError(
            f"s3://{bucket}/{key} is not an assignment record; run `cctview-fleet assign` again"
        )
    return document
