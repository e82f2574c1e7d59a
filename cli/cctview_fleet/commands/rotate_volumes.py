"""`cctview-fleet rotate-volumes`: swap in a fresh EBS volume where one fills, losing no frame.

See :mod:`cctview_fleet.rotation.states` for the steps and docs/volumes.md for the tags and
resume rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

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
from cctview_fleet.defaults import DEFAULT_THRESHOLD
from cctview_fleet.errors import ConfigError

if TYPE_CHECKING:
    from cctview_fleet.results import FleetResult
    from cctview_fleet.rotation.states import Rotation

COLUMNS = ("outcome", "disk used", "old volume", "new volume", "gen", "old volume now", "detail")


def _row(rotation: Rotation) -> list[str]:
    used = "-" if rotation.used_percent is None else f"{rotation.used_percent:.0f}%"
    fate = str(rotation.old_fate or "")
    if rotation.snapshot:
        fate += f" ({rotation.snapshot})"
    return [
        rotation.outcome,
        used,
        rotation.old_volume or "-",
        rotation.new_volume or "-",
        "-" if rotation.generation is None else str(rotation.generation),
        fate or "-",
        _detail(rotation),
    ]


def _detail(rotation: Rotation) -> str:
    if rotation.verified is not None:
        return f"{rotation.verified} periods verified in S3 first"
    return rotation.steps[-1] if rotation.steps else ""


def rotation_document(result: FleetResult[Rotation]) -> dict[str, Any]:
    nodes = []
    for name, outcome in result.items():
        entry: dict[str, Any] = {"node": name, "ok": outcome.ok}
        if outcome.ok and outcome.value is not None:
            entry.update(outcome.value.to_dict())
        else:
            entry["error"] = str(outcome.error)
        nodes.append(entry)
    return {"nodes": nodes}


def rotate_volumes(
    nodes: NodesArgument = None,
    threshold: Annotated[
        float,
        typer.Option(
            "--threshold",
            metavar="PERCENT",
            help="Rotate nodes whose data volume is at least this full.",
        ),
    ] = DEFAULT_THRESHOLD,
    force: Annotated[
        bool, typer.Option("--force", help="Rotate every named node whatever its disk use.")
    ] = False,
    keep_old: Annotated[
        bool, typer.Option("--keep-old", help="Detach the old volume but do not delete it.")
    ] = False,
    snapshot: Annotated[
        bool, typer.Option("--snapshot", help="Snapshot the old volume before deleting it.")
    ] = False,
    drain_timeout: Annotated[
        float,
        typer.Option(
            "--drain-timeout",
            metavar="SECONDS",
            help="How long to wait for the old volume's open periods; rerun to wait more.",
        ),
    ] = 900.0,
    stack: StackOption = None,
    as_json: JsonOption = False,
    parallel: ParallelOption = DEFAULT_PARALLEL_VALUE,
    connect_timeout: ConnectTimeoutOption = DEFAULT_CONNECT_TIMEOUT_VALUE,
) -> None:
    """Swap in the next EBS data volume where one fills; resumes an interrupted rotation."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from cctview_fleet.cloud.inventory import Node
    from cctview_fleet.nodes.ops import run_on_nodes
    from cctview_fleet.nodes.tables import result_table
    from cctview_fleet.render import console, err_console, print_json
    from cctview_fleet.rotation.ebs import Ec2Volumes
    from cctview_fleet.rotation.nodeside import SshNodeVolumes
    from cctview_fleet.rotation.states import NodeRotation, RotateOptions, check_threshold

    check_threshold(threshold)
    if drain_timeout < 0:
        raise ConfigError(
            f"--drain-timeout must not be negative, not {drain_timeout:g}; e.g. --drain-timeout 900"
        )
    if force and not nodes:
        raise ConfigError(
            "--force rotates named nodes only; name them, e.g. "
            "`cctview-fleet rotate-volumes node-01 --force`"
        )
    options = RotateOptions(threshold, force, keep_old, snapshot, drain_timeout)
    with open_fleet(stack, nodes, parallel=parallel, connect_timeout=connect_timeout) as fleet:
        ec2 = Ec2Volumes(fleet.stack)
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
            disable=as_json,
        ) as progress:
            tasks = {node.name: progress.add_task(f"{node.name}: waiting") for node in fleet.nodes}

            def on_step(node: str, text: str) -> None:
                progress.update(tasks[node], description=f"{node}: {text}")

            def rotate(node: Node) -> Rotation:
                agent = SshNodeVolumes(fleet.connections.get(node), fleet.stack)
                return NodeRotation(node, ec2, agent, options, on_step).run()

            result = run_on_nodes(fleet.nodes, rotate, parallel=fleet.parallel)
    if as_json:
        print_json(rotation_document(result))
    else:
        console.print(result_table(f"rotate-volumes ({fleet.stack.name})", result, COLUMNS, _row))
    result.raise_on_failure("rotate-volumes")


def register(app: typer.Typer) -> None:
    app.command("rotate-volumes")(rotate_volumes)
