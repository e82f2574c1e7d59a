"""Ship the fleet's complete periods to S3: ``cctview-agent sync`` on every node, in parallel.

Each node runs its own sync (its frames never cross the operator's machine) with
``--json-progress``; this module reads those events line by line over the node's one SSH
connection, hands each to a callback (the progress display), and keeps the final ``summary``
as the node's :class:`SyncSummary`. A node whose sync fails, or finishes with failed periods, is a
failure in the :class:`FleetResult` with the agent's own one-line reason; the others carry on.

``--from DIR`` (a single machine without a fleet) runs the very same library code in-process,
:func:`cctview_agent.sync.run.run_sync`, and reports through the same events and result type.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cctview_agent.sync.options import SyncOptions, default_node
from cctview_agent.sync.run import run_sync
from cctview_agent.sync.summary import SyncSummary
from cctview_fleet.cloud import aws
from cctview_fleet.cloud.inventory import Node
from cctview_fleet.cloud.stacks import Stack
from cctview_fleet.errors import CctviewError, ConfigError, NodeError, RemoteCommandError
from cctview_fleet.nodes.ops import run_on_nodes
from cctview_fleet.remote.ssh import Connections
from cctview_fleet.results import FleetResult, NodeResult

LOCAL_NODE = "local"
OnEvent = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class SyncRequest:
    """What the operator asked for, the same for every node."""

    bucket: str
    prefix: str
    delete_local: bool = False
    dry_run: bool = False
    bwlimit: str | None = None

    def agent_words(self) -> list[str]:
        """The agent's arguments; the connection adds how the node runs ``cctview-agent``."""
        words = ["sync", "--bucket", self.bucket, "--prefix", self.prefix]
        words.append("--json-progress")
        if self.delete_local:
            words.append("--delete-local")
        if self.dry_run:
            words.append("--dry-run")
        if self.bwlimit:
            words += ["--bwlimit", self.bwlimit]
        return words


class PeriodsFailedError(NodeError):
    """Raised when a node's sync ran to the end but some periods failed (kept locally);
    ``report`` is the node's :class:`SyncSummary`, so the periods that did go are not lost."""

    def __init__(self, node: str, report: SyncSummary) -> None:
        first = report.failures[0] if report.failures else None
        detail = f"; first: {first.camera_id} {first.period}: {first.error}" if first else ""
        super().__init__(
            node,
            f"{report.failed} of {report.periods} periods failed and were kept locally"
            f"{detail}; rerun sync-s3 after fixing the cause",
        )
        self.report = report


def parse_event(line: str) -> dict[str, Any] | None:
    """One progress event, or None for a line that is not one (a warning, a blank)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


def sync_node(
    node: Node, connections: Connections, request: SyncRequest, on_event: OnEvent
) -> SyncSummary:
    """Run the agent's sync on one node, relaying its events; raise on failure."""
    conn = connections.get(node)
    command = conn.agent_command(*request.agent_words())
    summary: dict[str, Any] | None = None
    error: str | None = None
    try:
        for line in conn.stream_lines(command, threading.Event()):
            event = parse_event(line)
            if event is None:
                continue
            on_event(node.name, event)
            if event["event"] == "summary":
                summary = event
            elif event["event"] == "error":
                error = str(event.get("message", ""))
    except RemoteCommandError as exc:
        if summary is not None:
            raise PeriodsFailedError(
                node.name, SyncSummary.from_dict(summary, node=node.name)
            ) from exc
        if error:
            raise NodeError(node.name, error) from exc
        raise
    if summary is None:
        raise NodeError(
            node.name,
            f"`{command}` ended without a summary; is the node's cctview-agent as new as "
            "this cctview-fleet (it needs the sync subcommand and the s3 extra)?",
        )
    return SyncSummary.from_dict(summary, node=node.name)


def sync_fleet(
    nodes: list[Node],
    connections: Connections,
    request: SyncRequest,
    on_event: OnEvent,
    *,
    parallel: int,
) -> FleetResult[SyncSummary]:
    """Every node's sync, at most ``parallel`` at once; one node's failure never stops another."""
    return run_on_nodes(
        nodes, lambda node: sync_node(node, connections, request, on_event), parallel=parallel
    )


def sync_folder(
    folder: Path, request: SyncRequest, on_event: OnEvent, *, stack: Stack | None
) -> FleetResult[SyncSummary]:
    """Sync a local data folder (``--from DIR``) with the agent's own code, no SSH."""
    from cctview_agent.awscalls import OPERATOR
    from cctview_agent.sync.uploader import make_client, parse_rate

    if not (folder / "manifests").is_dir() and not (folder / "frames").is_dir():
        raise ConfigError(
            f"{folder} is not a cctview data folder (no frames/ or manifests/ in it); "
            "pass the agent's data_dir, e.g. --from /var/lib/cctview/data",
            key="from",
        )
    try:
        rate = parse_rate(request.bwlimit) if request.bwlimit else 0.0
    except ValueError as exc:
        raise ConfigError(f"--bwlimit: {exc}", key="bwlimit") from exc
    options = SyncOptions(
        bucket=request.bucket,
        prefix=request.prefix,
        node=default_node(),
        delete_local=request.delete_local,
        dry_run=request.dry_run,
        bwlimit=rate,
    )
    client = None
    if stack is not None and not request.dry_run:  # the stack's endpoint and credentials
        client = make_client(
            stack.endpoint_url,
            stack.region,
            session=aws.session(stack),
            principal=OPERATOR,
            fleet_prefix=stack.prefix,
        )
    # A failed link (no bucket, credentials, endpoint) raises SyncError: one line for the user.
    summary = run_sync(
        [folder.resolve()], options, emit=lambda event: on_event(LOCAL_NODE, event), client=client
    )
    on_event(LOCAL_NODE, {"event": "summary", **summary.to_dict()})
    report = summary
    failure: CctviewError | None = PeriodsFailedError(LOCAL_NODE, report) if report.failed else None
    return FleetResult(
        [NodeResult(LOCAL_NODE, value=report, error=failure, seconds=report.seconds)]
    )
