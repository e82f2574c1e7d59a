"""`cctview-fleet roll [NODE]...`: apply the Pulumi program one node at a time, health-checked.

Thin: the steps are :func:`cctview_fleet.rollout.rolling.roll`, the volume hand-over
:func:`cctview_fleet.rotation.handover.hand_over`, the health check
:func:`cctview_fleet.nodes.health.look`; this module parses, confirms and renders the steps.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cctview_fleet.cloud.stacks import load_stack
from cctview_fleet.commands.fleetflags import (
    DEFAULT_CONNECT_TIMEOUT_VALUE,
    ConnectTimeoutOption,
    JsonOption,
    NodesArgument,
    StackOption,
    check_timeout,
)
from cctview_fleet.defaults import DEFAULT_HEALTH_TIMEOUT

if TYPE_CHECKING:
    from cctview_fleet.rollout.rolling import RollStep

PulumiOption = Annotated[
    str | None,
    typer.Option("--pulumi", metavar="PATH", help="The Pulumi CLI (default: $CCTVIEW_PULUMI, "
                 "else pulumi on PATH).", show_default=False),
]  # fmt: skip
ProjectOption = Annotated[
    Path,
    typer.Option("--project", metavar="DIR", help="The folder of Pulumi.yaml.", file_okay=False),
]
HealthTimeoutOption = Annotated[
    float,
    typer.Option("--health-timeout", min=1, metavar="SECONDS",
                 help="How long a node may take to become healthy after its step."),
]  # fmt: skip


def roll(
    nodes: NodesArgument = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before starting.")] = False,
    pulumi: PulumiOption = None,
    project: ProjectOption = Path("."),
    health_timeout: HealthTimeoutOption = DEFAULT_HEALTH_TIMEOUT,
    as_json: JsonOption = False,
    stack: StackOption = None,
    connect_timeout: ConnectTimeoutOption = DEFAULT_CONNECT_TIMEOUT_VALUE,
) -> None:
    """Run `pulumi up` one node at a time, waiting for each to be healthy (status) before the
    next; stops at the first unhealthy node. Run it again to resume."""
    from cctview_fleet.cloud.pulumicli import Pulumi, find_pulumi
    from cctview_fleet.nodes import health as nodehealth
    from cctview_fleet.render import console, err_console, print_json, table
    from cctview_fleet.rollout import rolling
    from cctview_fleet.rotation import handover

    check_timeout(connect_timeout)
    fleet_stack = load_stack(stack)
    driver = Pulumi(find_pulumi(pulumi), fleet_stack.name, project)
    if not yes and not typer.confirm(
        f"Apply the Pulumi program to stack {fleet_stack.name} one node at a time?",
        default=False,
        err=True,
    ):
        raise typer.Exit(1)

    def health(node: str) -> nodehealth.Health:
        check = partial(nodehealth.look, fleet_stack, node, connect_timeout=connect_timeout)
        return nodehealth.wait_healthy(check, timeout=health_timeout)

    def hand_over(node: str) -> str:
        return handover.hand_over(fleet_stack, node, timeout=health_timeout).describe()

    result = rolling.roll(
        driver, health, nodes=nodes, report=err_console.print, hand_over=hand_over
    )
    if as_json:
        print_json({
            "steps": [{"node": s.node, "healthy": s.healthy, "why": s.why,
                       "stopped_by": None if s.healthy else s.stopped_by.value}
                      for s in result.steps],
            "finished": result.finished,
            "skipped": list(result.skipped),
        })  # fmt: skip
    else:
        rows = [(s.node, _verdict(s), s.why) for s in result.steps]
        rows += [(node, "not touched", "") for node in result.skipped]
        console.print(table(f"roll {fleet_stack.name}", ("node", "after its step", "why"), rows))
    rolling.raise_unless_finished(result)


def _verdict(step: RollStep) -> str:
    from cctview_fleet.rollout.rolling import StoppedBy

    if step.healthy:
        return "healthy"
    return "VOLUME NOT ATTACHED" if step.stopped_by is StoppedBy.VOLUME else "UNHEALTHY"


def register(app: typer.Typer) -> None:
    app.command("roll")(roll)
