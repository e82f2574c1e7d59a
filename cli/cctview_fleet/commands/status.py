"""`cctview-fleet status`: one row per node (cloud state, agent health, disk, sync) and totals."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from cctview_fleet.errors import FleetError

if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text

    from cctview_fleet.nodes.status import FleetTotals, NodeStatus
    from cctview_fleet.results import FleetResult

COLUMNS = (
    "node",
    "instance",
    "agent",
    "cameras ok/all",
    "frames /min",
    "oldest frame",
    "disk used",
    "volume",
    "last synced",
    "version",
    "offline (time) / frozen",
    "first boot",
)


def _agent_cell(status: NodeStatus) -> Text:
    """running; or down / problem with the reason (the node's own text, shown literally)."""
    from cctview_fleet.render import styled

    if not status.agent_running:
        return styled("[red]down[/]: {}", status.problem or "agent is not running")
    if status.problem:
        return styled("[red]problem[/]: {}", status.problem)
    return styled("[green]running[/]")


def _boot_cell(status: NodeStatus) -> Text:
    """ok, failed (with the step: the agent cell has the whole problem), or - (no record)."""
    from rich.text import Text

    from cctview_fleet.render import styled

    if status.first_boot is None:
        return Text("-")
    if status.first_boot == "ok":
        return styled("[green]ok[/]")
    return styled("[red]failed[/]")


def _row(status: NodeStatus) -> list[Text]:
    """Every value is the node's own text (shown literally); only the styling is markup."""
    from rich.text import Text

    from cctview_agent.service.status import format_age

    disk = Text("-" if status.disk_used_percent is None else f"{status.disk_used_percent:.0f}%")
    if status.writing_paused:
        disk.append(" PAUSED", style="red")
    online = "-" if status.cameras_online is None else str(status.cameras_online)
    per_minute = "-" if status.frames_per_minute is None else f"{status.frames_per_minute:.0f}"
    cells: list[str | Text] = [
        status.node,
        status.instance_state,
        _agent_cell(status),
        f"{online}/{status.cameras_assigned}",
        per_minute,
        format_age(status.oldest_frame_age_s),
        disk,
        Path(status.active_volume).name if status.active_volume else "-",
        status.last_synced_period or "-",
        status.agent_version or "-",
        _offline_frozen(status.cameras_offline, status.offline_s, status.cameras_frozen),
        _boot_cell(status),
    ]
    return [cell if isinstance(cell, Text) else Text(cell) for cell in cells]


def _offline_frozen(offline: int, offline_s: float, frozen: int) -> str:
    """``2 (41m) / 1``: cameras offline now (their offline time so far) / cameras frozen now."""
    from cctview_agent.service.status import format_age

    return f"{offline} ({format_age(offline_s)}) / {frozen}"


def status_table(
    title: str, result: FleetResult[NodeStatus], states: dict[str, str], fleet_totals: FleetTotals
) -> Table:
    """Node names never wrap; an unreachable node's reason fills the row."""
    from rich.table import Table
    from rich.text import Text

    from cctview_agent.service.status import format_age
    from cctview_fleet.render import add_columns, styled

    table = Table(title=title)
    add_columns(table, COLUMNS, wrap=("agent",))  # the agent's problem or the node's error
    for name, outcome in result.items():
        if outcome.ok and outcome.value is not None:
            table.add_row(*_row(outcome.value))
        else:
            reason = str(outcome.error).removeprefix(f"{name}: ")
            kind = type(outcome.error).__name__.removesuffix("Error").lower()
            table.add_row(
                Text(name), Text(states.get(name, "?")), styled("[red]{}[/]: {}", kind, reason)
            )
    table.add_section()
    table.add_row(
        "total",
        f"{fleet_totals.reachable}/{fleet_totals.nodes} ok",
        f"{fleet_totals.agents_running} running"
        + (f", {fleet_totals.problems} not collecting" if fleet_totals.problems else ""),
        f"{fleet_totals.cameras_online}/{fleet_totals.cameras_assigned}",
        f"{fleet_totals.frames_per_minute:.0f}",
        format_age(fleet_totals.oldest_frame_age_s),
        "", "", "",
        styled("[yellow]MIXED[/]") if fleet_totals.mixed else "",
        _offline_frozen(
            fleet_totals.cameras_offline, fleet_totals.offline_s, fleet_totals.cameras_frozen
        ),
        "",
    )  # fmt: skip
    return table


def status_document(result: FleetResult[NodeStatus], fleet_totals: FleetTotals) -> dict[str, Any]:
    """Per node ``ok`` (answered, agent running and collecting), the numbers or the error."""
    nodes = []
    for name, outcome in result.items():
        entry: dict[str, Any] = {"node": name, "ok": outcome.ok}
        if outcome.ok and outcome.value is not None:
            entry.update(outcome.value.to_dict())  # its "ok" is the agent's health
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
    """Per node: instance state, agent, cameras online, frames/min, disk, last sync; totals.

    Exits 1 when a node did not answer, or its agent is down or not collecting (the reason is in
    the agent column and in --json's "problem")."""
    from cctview_fleet.nodes.status import fleet_status, mixed_warning, nodes_not_ok, totals
    from cctview_fleet.render import console, err_console, print_json

    with open_fleet(stack, nodes, parallel=parallel, connect_timeout=connect_timeout) as fleet:
        result = fleet_status(fleet.nodes, fleet.connections, parallel=fleet.parallel)
    fleet_totals = totals(result)
    if as_json:
        print_json(status_document(result, fleet_totals))
    else:
        states = {node.name: node.state for node in fleet.nodes}
        table = status_table(f"fleet {fleet.stack.name}", result, states, fleet_totals)
        console.print(table)
        if fleet_totals.mixed:
            err_console.print(f"[yellow]warning:[/] {mixed_warning(fleet_totals)}")
    result.raise_on_failure("status")
    troubled = nodes_not_ok(result)
    if troubled:
        raise FleetError(
            f"status: {len(troubled)} of {len(result)} nodes not collecting: {', '.join(troubled)}"
        )


def register(app: typer.Typer) -> None:
    app.command("status")(status)
