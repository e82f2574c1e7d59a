"""`cctview-fleet sync-s3`: ship every node's complete periods to S3, verified, in parallel.

One progress display (a bar per node: periods, bytes, rate), then one table with a row per node.
Exits non-zero naming every node that failed; the nodes that succeeded are done regardless.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cctview_fleet.cloud.stacks import Stack, load_stack
from cctview_fleet.commands.fleetflags import (
    DEFAULT_CONNECT_TIMEOUT_VALUE,
    DEFAULT_PARALLEL_VALUE,
    ConnectTimeoutOption,
    JsonOption,
    NodesArgument,
    ParallelOption,
    StackOption,
    open_fleet,
)
from cctview_fleet.errors import ConfigError

if TYPE_CHECKING:
    from cctview_agent.sync.summary import SyncSummary
    from cctview_fleet.nodes.sync import SyncRequest
    from cctview_fleet.results import NodeResult


class SyncDisplay:
    """A rich progress bar per node, fed by the agents' events from many threads."""

    def __init__(self, enabled: bool) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TaskID,
            TextColumn,
            TimeElapsedColumn,
            TransferSpeedColumn,
        )

        from cctview_fleet.render import err_console

        self.progress = Progress(
            TextColumn("{task.description}", style="bold"),
            BarColumn(),
            TextColumn("{task.fields[periods]}"),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
            console=err_console,
            disable=not enabled,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self._done: dict[str, int] = {}
        self._totals: dict[str, int] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> SyncDisplay:
        return self  # the display starts with the first event: an early error stays one line

    def __exit__(self, *exc: object) -> None:
        if self._tasks:
            self.progress.stop()

    def __call__(self, node: str, event: dict[str, Any]) -> None:
        with self._lock:
            kind = event.get("event")
            if kind == "error":
                return  # the table at the end says it, once
            if node not in self._tasks:
                if not self._tasks:
                    self.progress.start()
                self._tasks[node] = self.progress.add_task(node, total=None, periods="")
                self._done[node] = 0
            task = self._tasks[node]
            if kind == "start":
                self._totals[node] = int(event.get("periods", 0))
                self.progress.update(
                    task,
                    total=int(event.get("bytes", 0)) or None,
                    periods=f"0/{self._totals[node]} periods",
                )
            elif kind == "bytes":  # bytes read for upload so far, cumulative on the node
                self.progress.update(task, completed=int(event.get("sent", 0)))
            elif kind == "period":
                self._done[node] += 1
                total = self._totals.get(node, "?")
                self.progress.update(task, periods=f"{self._done[node]}/{total} periods")
            elif kind == "summary":
                self.progress.update(task, completed=self.progress.tasks[task].total or 0)


def _report(outcome: NodeResult[SyncSummary]) -> SyncSummary | None:
    """The node's numbers, also when it failed with some periods (the others went)."""
    from cctview_fleet.nodes.sync import PeriodsFailedError

    if outcome.value is not None:
        return outcome.value
    return outcome.error.report if isinstance(outcome.error, PeriodsFailedError) else None


def _json_row(name: str, outcome: NodeResult[SyncSummary]) -> dict[str, Any]:
    report = _report(outcome)
    return {
        **(report.to_dict() if report is not None else {"node": name}),
        "error": None if outcome.error is None else str(outcome.error),
    }


def _megabytes(count: int) -> str:
    return f"{count / 1e6:.1f}"


def _row(report: SyncSummary) -> list[str]:
    return [
        str(report.periods if report.dry_run else report.uploaded),
        str(report.present),
        str(report.already_synced),
        str(report.failed),
        _megabytes(report.bytes_verified),
        str(report.deleted),
    ]


COLUMNS = ("uploaded", "already in S3", "synced before", "failed", "MB verified", "deleted")


def _request(
    stack: Stack | None, bucket: str | None, prefix: str | None, **flags: Any
) -> SyncRequest:
    from cctview_fleet.nodes.sync import SyncRequest

    bucket = bucket or (stack.bucket if stack else "")
    if not bucket:
        where = f"stack {stack.name!r} has no bucket" if stack else "no stack and no --bucket"
        raise ConfigError(
            f"{where}; pass --bucket NAME or re-import the stack (`cctview-fleet stack import`)",
            key="bucket",
        )
    return SyncRequest(
        bucket=bucket, prefix=prefix or (stack.prefix if stack else "cctview"), **flags
    )


def sync_s3(
    nodes: NodesArgument = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what each node would upload; change nothing.")
    ] = False,
    delete_local: Annotated[
        bool,
        typer.Option(
            "--delete-local", help="Delete a node's period once its objects are verified in S3."
        ),
    ] = False,
    from_dir: Annotated[
        Path | None,
        typer.Option(
            "--from",
            metavar="DIR",
            help="Sync this local data folder instead of the nodes (one machine, no SSH).",
        ),
    ] = None,
    bucket: Annotated[
        str | None, typer.Option("--bucket", help="Override the stack's bucket.")
    ] = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Override the stack's key prefix.")
    ] = None,
    bwlimit: Annotated[
        str | None,
        typer.Option("--bwlimit", metavar="RATE", help="Per-node upload limit, e.g. 2M (bytes/s)."),
    ] = None,
    json_output: JsonOption = False,
    stack: StackOption = None,
    parallel: ParallelOption = DEFAULT_PARALLEL_VALUE,
    connect_timeout: ConnectTimeoutOption = DEFAULT_CONNECT_TIMEOUT_VALUE,
) -> None:
    """Upload complete periods to S3 from every node (or the named ones), verified."""
    from cctview_fleet.nodes.sync import sync_fleet, sync_folder
    from cctview_fleet.nodes.tables import result_table
    from cctview_fleet.render import console, print_json
    from cctview_fleet.results import FleetResult

    flags = {"delete_local": delete_local, "dry_run": dry_run, "bwlimit": bwlimit}
    display = SyncDisplay(enabled=not json_output)
    if from_dir is not None:
        if nodes:
            raise ConfigError("give either --from DIR or node names, not both", key="from")
        chosen = None
        if stack is not None or bucket is None:
            chosen = load_stack(stack)
        request = _request(chosen, bucket, prefix, **flags)
        with display:
            result: FleetResult[SyncSummary] = sync_folder(
                from_dir.expanduser(), request, display, stack=chosen
            )
    else:
        with open_fleet(stack, nodes, parallel=parallel, connect_timeout=connect_timeout) as fleet:
            request = _request(fleet.stack, bucket, prefix, **flags)
            with display:
                result = sync_fleet(
                    fleet.nodes, fleet.connections, request, display, parallel=fleet.parallel
                )
    if json_output:
        print_json({name: _json_row(name, outcome) for name, outcome in result.items()})
    else:
        title = (
            f"sync-s3{' (dry run)' if dry_run else ''} to s3://{request.bucket}/{request.prefix}"
        )
        console.print(result_table(title, result, COLUMNS, _row))
    result.raise_on_failure("sync-s3")


def register(app: typer.Typer) -> None:
    app.command("sync-s3")(sync_s3)
