"""`cctview-fleet status`: one row per node (cloud state, agent health, disk, sync) and totals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

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
from cctview_fleet.fleetops import result_table
from cctview_fleet.nodestatus import FleetTotals, NodeStatus, fleet_status, totals
from cctview_fleet.render import console, print_json
from cctview_fleet.results import FleetResult

COLUMNS = (
    "instance",
    "agent",
    "cameras ok/assigned",
    "frames/min",
    "oldest frame",
    "disk used",
    "active volume",
    "last synced",
    "version",
)


def age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _row(status: NodeStatus) -> list[str]:
    agent = "[green]running[/]" if status.agent_running else "[red]down[/]"
    if status.problem:
        agent += f" ({status.problem})"
    disk = "-" if status.disk_used_percent is None else f"{status.disk_used_percent:.0f}%"
    if status.writing_paused:
        disk += " [red]PAUSED[/]"
    return [
        status.instance_state,
        agent,
        f"{status.cameras_online}/{status.cameras_assigned}",
        f"{status.frames_per_minute:.0f}",
        age(status.oldest_frame_age_s),
        disk,
        Path(status.active_volume).name if status.active_volume else "-",
        status.last_synced_period or "-",
        status.agent_version or "-",
    ]


def status_document(result: FleetResult[NodeStatus], fleet_totals: FleetTotals) -> dict[str, Any]:
    nodes = []
    for name, outcome in result.items():
        entry: dict[str, Any] = {"node": name, "ok": outcome.ok}
        if outcome.ok and outcome.value is not None:
            entry.update(outcome.value.to_dict())
        else:
            entry["error"] = str(outcome.error)
            entry["error_kind"] = type(outcome.error).__name__
        nodes.append(entry)
    return {"nodes": nodes, "totals": fleet_totals.to_dict()}


def status(
    nodes: NodesArgument = None,
    stack: StackOption = None,
    as_json: JsonOption = False,
    parallel: ParallelOption = DEFAULT_PARALLEL_VALUE,
    connect_timeout: ConnectTimeoutOption = DEFAULT_CONNECT_TIMEOUT_VALUE,
) -> None:
    """Per node: instance state, agent, cameras online, frames/min, disk, last sync; totals."""
    with open_fleet(stack, nodes, parallel=parallel, connect_timeout=connect_timeout) as fleet:
        result = fleet_status(fleet.nodes, fleet.connections, parallel=fleet.parallel)
    fleet_totals = totals(result)
    if as_json:
        print_json(status_document(result, fleet_totals))
    else:
        table = result_table(f"fleet {fleet.stack.name}", result, COLUMNS, _row)
        table.add_section()
        table.add_row(
            "total",
            f"{fleet_totals.reachable}/{fleet_totals.nodes} ok",
            "",
            f"{fleet_totals.agents_running} running",
            f"{fleet_totals.cameras_online}/{fleet_totals.cameras_assigned}",
            f"{fleet_totals.frames_per_minute:.0f}",
            age(fleet_totals.oldest_frame_age_s),
            "",
            "",
            "",
            "",
            "",
        )
        console.print(table)
    result.raise_on_failure("status")


def register(app: typer.Typer) -> None:
    app.command("status")(status)
