"""`cctview-fleet upgrade [--wheel FILE] [NODE]...`: a rolling, resumable agent upgrade.

Thin: :func:`cctview_fleet.rollout.upgrade.publish` uploads the wheel by digest, :class:`Upgrade`
rolls it out (node side: :mod:`cctview_fleet.rollout.release` over SSH; health:
:mod:`cctview_fleet.nodes.health`); this module parses, confirms and renders.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from cctview_fleet.commands.fleetflags import (
    DEFAULT_CONNECT_TIMEOUT_VALUE,
    ConnectTimeoutOption,
    JsonOption,
    NodesArgument,
    StackOption,
    open_fleet,
)
from cctview_fleet.defaults import DEFAULT_HEALTH_TIMEOUT


def upgrade(
    nodes: NodesArgument = None,
    wheel: Annotated[
        Path | None,
        typer.Option(
            "--wheel",
            metavar="FILE",
            dir_okay=False,
            help="A built agent wheel (default: build --agent-dir as `pulumi up` does).",
        ),
    ] = None,
    agent_dir: Annotated[
        Path,
        typer.Option(
            "--agent-dir",
            metavar="DIR",
            file_okay=False,
            help="The agent's sources, built reproducibly into DIR/../build/agent-wheel.",
        ),
    ] = Path("agent"),
    max_unavailable: Annotated[
        int, typer.Option("--max-unavailable", metavar="N", help="Nodes upgraded at once.")
    ] = 1,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Publish nothing; show the plan.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before starting.")] = False,
    health_timeout: Annotated[
        float,
        typer.Option(
            "--health-timeout",
            min=1,
            metavar="SECONDS",
            help="How long a node may take to be healthy after its switch.",
        ),
    ] = DEFAULT_HEALTH_TIMEOUT,
    as_json: JsonOption = False,
    stack: StackOption = None,
    connect_timeout: ConnectTimeoutOption = DEFAULT_CONNECT_TIMEOUT_VALUE,
) -> None:
    """Upgrade the agent node by node: stage beside the current one, switch, restart, check
    health, roll back by itself if unhealthy. Resumable: run it again after an interruption."""
    from cctview_fleet.nodes import health as nodehealth
    from cctview_fleet.nodes.switchloss import StatusLosses
    from cctview_fleet.render import console, err_console, print_json, table
    from cctview_fleet.rollout.release import ScriptReleases, layout_for, ssh_runner
    from cctview_fleet.rollout.upgrade import (
        Upgrade,
        agent_wheel,
        check_max_unavailable,
        publish,
        raise_unless_finished,
        release_for,
    )

    check_max_unavailable(max_unavailable)
    wheel = agent_wheel(wheel, agent_dir)
    with open_fleet(stack, nodes, connect_timeout=connect_timeout) as fleet:
        layout = layout_for(fleet.stack.extra)
        release = release_for(fleet.stack, wheel) if dry_run else publish(fleet.stack, wheel)
        if not dry_run and not yes and not typer.confirm(
            f"Upgrade {len(fleet.nodes)} nodes to {wheel.name} ({release.sha256[:16]}), "
            f"{max_unavailable} at a time?", default=False, err=True,
        ):  # fmt: skip
            raise typer.Exit(1)

        def look(node: str) -> nodehealth.Health:
            return nodehealth.look(fleet.stack, node, connect_timeout=connect_timeout)

        def health(node: str) -> nodehealth.Health:
            return nodehealth.wait_healthy(partial(look, node), timeout=health_timeout,
                                           interval=nodehealth.RESTART_HEALTH_INTERVAL)  # fmt: skip

        rollout = Upgrade(
            fleet.stack,
            release,
            ScriptReleases(layout, ssh_runner(fleet.connections, fleet.stack.agent_root_command)),
            health,
            report=err_console.print,
            losses=StatusLosses(lambda node: look(node).status, timeout=health_timeout),
        )
        result = rollout.run(fleet.nodes, max_unavailable=max_unavailable, dry_run=dry_run)
    if as_json:
        print_json({
            "key": result.release.key, "sha256": result.release.sha256,
            "nodes": [{"node": n.node, "outcome": n.outcome, "detail": n.detail,
                       "frames_lost": n.frames_lost.to_dict() if n.frames_lost else None}
                      for n in result.nodes],
            "stopped": result.stopped, "untouched": list(result.untouched),
        })  # fmt: skip
    else:
        rows = [(n.node, n.outcome, n.detail, n.frames_lost.describe() if n.frames_lost else "")
                for n in result.nodes]  # fmt: skip
        rows += [(name, "not touched", "", "") for name in result.untouched]
        columns = ("node", "outcome", "detail", "frames lost in the switch")
        console.print(table(f"upgrade to {result.release.key}", columns, rows))
    raise_unless_finished(result)


def register(app: typer.Typer) -> None:
    app.command("upgrade")(upgrade)
