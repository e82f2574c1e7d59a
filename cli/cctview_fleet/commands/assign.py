"""`cctview-fleet assign`: shard the selected cameras over the nodes, push, reload, record.

Thin: :mod:`cctview_fleet.assignment.run` selects, plans, pushes and records (through the planner
:mod:`cctview_fleet.assignment.planner` and :mod:`cctview_fleet.assignment.store`); this module
wires flags to it and renders.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cctview_agent.fleetconstants import DEFAULT_CAMERAS_PER_NODE
from cctview_fleet.commands.fleetflags import (
    DEFAULT_CONNECT_TIMEOUT_VALUE,
    DEFAULT_PARALLEL_VALUE,
    ConnectTimeoutOption,
    JsonOption,
    ParallelOption,
    StackOption,
    open_fleet,
)
from cctview_fleet.commands.options import (
    BBoxOption,
    CamerasOption,
    CatalogOption,
    OnlineOnlyOption,
)
from cctview_fleet.errors import ConfigError

if TYPE_CHECKING:
    from cctview_fleet.assignment.run import AssignOutcome


def _warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)


def render_plan(outcome: AssignOutcome, *, dry_run: bool) -> None:
    from cctview_fleet.render import console, table

    diff = outcome.plan.diff
    added: dict[str, int] = {}
    removed: dict[str, int] = {}
    moved_in: dict[str, int] = {}
    moved_out: dict[str, int] = {}
    for _, node in diff.added:
        added[node] = added.get(node, 0) + 1
    for _, node in diff.removed:
        removed[node] = removed.get(node, 0) + 1
    for move in diff.moved:
        moved_in[move.target] = moved_in.get(move.target, 0) + 1
        moved_out[move.source] = moved_out.get(move.source, 0) + 1
    names = sorted(set(outcome.plan.assignment.shards) | set(removed) | set(moved_out))
    rows = []
    for name in names:
        count = len(outcome.plan.assignment.shards.get(name, ()))
        note = "" if name in outcome.plan.assignment.shards else "gone"
        if name in outcome.skipped:
            note = outcome.skipped[name]
        rows.append(
            (
                name,
                count,
                added.get(name, 0),
                removed.get(name, 0),
                moved_in.get(name, 0),
                moved_out.get(name, 0),
                outcome.sources.get(name, "-"),
                note,
            )
        )
    selection = outcome.selection
    title = (
        f"{'plan (dry run)' if dry_run else 'assignment'}: {len(selection.cameras)} cameras "
        f"({selection.request.describe()}) on {len(outcome.plan.assignment.shards)} nodes"
    )
    caption = (
        f"{len(diff.added)} added, {len(diff.removed)} removed, {len(diff.moved)} moved "
        f"(fewest possible: {outcome.plan.minimum_moves}); at most "
        f"{outcome.plan.cameras_per_node} per node"
    )
    console.print(
        table(
            title,
            ("node", "cameras", "added", "removed", "moved in", "moved out", "read from", "note"),
            rows,
            caption=caption,
            wrap=("note",),
        )
    )


def assign_document(outcome: AssignOutcome) -> dict[str, Any]:
    pushed = None
    if outcome.pushed is not None:
        pushed = {
            name: (result.value if result.ok else {"error": str(result.error)})
            for name, result in outcome.pushed.items()
        }
    return {
        "selection": outcome.selection.request.describe(),
        "cameras": len(outcome.selection.cameras),
        "cameras_per_node": outcome.plan.cameras_per_node,
        "assignment": outcome.plan.assignment.to_dict(),
        "diff": outcome.plan.diff.to_dict(),
        "minimum_moves": outcome.plan.minimum_moves,
        "current_read_from": outcome.sources,
        "skipped_nodes": outcome.skipped,
        "pushed": pushed,
        "record": outcome.record_key,
    }


def assign(
    cameras: CamerasOption = None,
    catalog: CatalogOption = None,
    bbox: BBoxOption = None,
    online_only: OnlineOnlyOption = False,
    cameras_per_node: Annotated[
        int, typer.Option("--cameras-per-node", metavar="K", help="Most cameras one node polls.")
    ] = DEFAULT_CAMERAS_PER_NODE,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan and its diff; change nothing.")
    ] = False,
    as_json: JsonOption = False,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", metavar="FILE.png", help="Draw the cameras by node on a map."),
    ] = None,
    stack: StackOption = None,
    parallel: ParallelOption = DEFAULT_PARALLEL_VALUE,
    connect_timeout: ConnectTimeoutOption = DEFAULT_CONNECT_TIMEOUT_VALUE,
) -> None:
    """Shard cameras over the nodes (balanced, stable), push to each node, record in S3."""
    from cctview_fleet.assignment.plot import check_plot_path
    from cctview_fleet.assignment.run import run_assign, select_for_stack
    from cctview_fleet.nodes.tables import result_table
    from cctview_fleet.render import console, err_console, print_json

    if cameras_per_node < 1:
        raise ConfigError(
            f"--cameras-per-node must be at least 1, not {cameras_per_node}; "
            f"e.g. --cameras-per-node {DEFAULT_CAMERAS_PER_NODE}",
            key="cameras-per-node",
        )
    if plot is not None:
        check_plot_path(plot)
    with open_fleet(stack, parallel=parallel, connect_timeout=connect_timeout) as fleet:
        selection = select_for_stack(
            fleet.stack, cameras, catalog, bbox, online_only=online_only, warn=_warn
        )
        outcome = run_assign(
            fleet.stack,
            fleet.nodes,
            fleet.connections,
            selection,
            parallel=fleet.parallel,
            cameras_per_node=cameras_per_node,
            dry_run=dry_run,
        )
    if plot is not None:
        from cctview_fleet.assignment.plot import plot_assignment

        plot_assignment(
            outcome.plan.assignment,
            outcome.cameras,
            plot,
            title=f"{selection.request.describe()} on fleet {fleet.stack.name}",
        )
    if as_json:
        print_json(assign_document(outcome))
    else:
        render_plan(outcome, dry_run=dry_run)
        if outcome.pushed is not None:
            console.print(
                result_table(
                    "pushed",
                    outcome.pushed,
                    ("cameras", "reloaded"),
                    lambda v: (v.get("cameras", "?"), "yes" if v.get("reloaded") else "no"),
                )
            )
        if outcome.record_key:
            console.print(f"recorded in s3://{fleet.stack.bucket}/{outcome.record_key}")
        if plot is not None:
            err_console.print(f"map written to {plot}")
    if outcome.pushed is not None:
        outcome.pushed.raise_on_failure("assign")


def register(app: typer.Typer) -> None:
    app.command("assign")(assign)
