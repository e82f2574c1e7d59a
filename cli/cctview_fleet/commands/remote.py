"""`cctview-fleet exec [NODE]... -- COMMAND` and `cctview-fleet ssh NODE [-- COMMAND]`.

``exec`` runs a shell command on many nodes over the CLI's own SSH connections and ends with a
per-node exit-code table; ``ssh`` hands the terminal to the system ``ssh`` with the stack's key,
known_hosts and port, host keys strictly checked, so an interactive shell behaves as usual.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperCommand

from cctview_fleet.cloud.stacks import Stack, load_stack
from cctview_fleet.commands.fleetflags import (
    DEFAULT_CONNECT_TIMEOUT_VALUE,
    DEFAULT_PARALLEL_VALUE,
    ConnectTimeoutOption,
    Fleet,
    JsonOption,
    NodesArgument,
    ParallelOption,
    StackOption,
    open_fleet,
)
from cctview_fleet.errors import ConfigError, FleetError

if TYPE_CHECKING:
    from cctview_fleet.cloud.inventory import Node
    from cctview_fleet.remote.ssh import CommandResult
    from cctview_fleet.results import FleetResult

_REMOTE = "cctview.remote_argv"
NODE_STYLES = ("cyan", "magenta", "green", "yellow", "blue", "red", "bright_cyan", "bright_magenta")


class SplitAtDoubleDash(TyperCommand):
    """Everything after ``--`` is the remote command, never parsed as options or node names."""

    # typer hands a command its own typer.Context (a subclass of the click Context it vendors,
    # whose module is private): the override names the class it is given.
    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        if "--" in args:
            index = args.index("--")
            ctx.meta[_REMOTE] = args[index + 1 :]
            args = args[:index]
        else:
            ctx.meta[_REMOTE] = []
        return super().parse_args(ctx, args)


def remote_words(ctx: typer.Context) -> list[str]:
    return list(ctx.meta.get(_REMOTE, []))


def run_everywhere(
    stack: str | None, nodes: list[str] | None, command: str, parallel: int, timeout: float
) -> tuple[Fleet, FleetResult[CommandResult]]:
    """The command on every selected node: a FleetResult of CommandResult (any exit status)."""
    from cctview_fleet.nodes.ops import run_on_nodes
    from cctview_fleet.nodes.status import cloud_side_problem

    with open_fleet(stack, nodes, parallel=parallel, connect_timeout=timeout) as fleet:

        def one(node: Node) -> CommandResult:
            problem = cloud_side_problem(node)
            if problem is not None:
                raise problem
            return fleet.connections.get(node).run(command, timeout=None)

        return fleet, run_on_nodes(fleet.nodes, one, parallel=fleet.parallel)


def exec_command(
    ctx: typer.Context,
    nodes: NodesArgument = None,
    stack: StackOption = None,
    parallel: ParallelOption = DEFAULT_PARALLEL_VALUE,
    connect_timeout: ConnectTimeoutOption = DEFAULT_CONNECT_TIMEOUT_VALUE,
    as_json: JsonOption = False,
) -> None:
    """Run a shell command on all (or the named) nodes: exec [NODE]... -- COMMAND."""
    from cctview_fleet.render import print_json

    words = remote_words(ctx)
    if not words or not " ".join(words).strip():
        raise ConfigError(
            "exec needs a command after --, e.g. cctview-fleet exec node-01 -- df -h",
            key="command",
        )
    command = " ".join(words)  # as ssh does: the words are joined, the node's shell parses them
    fleet, result = run_everywhere(stack, nodes, command, parallel, connect_timeout)
    if as_json:
        print_json(
            [
                {
                    "node": name,
                    "exit_status": None if outcome.value is None else outcome.value.exit_status,
                    "stdout": None if outcome.value is None else outcome.value.stdout,
                    "stderr": None if outcome.value is None else outcome.value.stderr,
                    "error": None if outcome.error is None else str(outcome.error),
                }
                for name, outcome in result.items()
            ]
        )
    else:
        _print_outputs(fleet.stack.name, command, result)
    bad = sorted(
        name
        for name, outcome in result.items()
        if not outcome.ok or (outcome.value is not None and outcome.value.exit_status != 0)
    )
    if bad:
        raise FleetError(
            f"`{command}` failed on {len(bad)} of {len(result)} nodes: {', '.join(bad)}"
        )


def _print_outputs(stack: str, command: str, result: FleetResult[CommandResult]) -> None:
    """Each node's output, prefixed with its name in its colour, then the exit-code table."""
    from rich.text import Text

    from cctview_fleet.nodes.tables import result_table
    from cctview_fleet.render import console

    width = max(len(name) for name in result)
    for index, (name, outcome) in enumerate(result.items()):
        if not outcome.ok or outcome.value is None:
            continue
        style = NODE_STYLES[index % len(NODE_STYLES)]
        for line in (outcome.value.stdout + outcome.value.stderr).splitlines():
            console.print(
                Text(f"{name:<{width}} | ", style=style) + Text(line),
                highlight=False,
                soft_wrap=True,
            )
    console.print(
        result_table(
            f"`{command}` on fleet {stack}",
            result,
            ("exit",),
            lambda value: (str(value.exit_status),),
            verdict=lambda value: "[green]ok[/]" if value.exit_status == 0 else "[red]failed[/]",
        )
    )


def ssh_argv(stack: Stack, node: Node, command: list[str], *, connect_timeout: float) -> list[str]:
    """The system ssh's arguments for a node: the stack's key, known_hosts, port and user."""
    from cctview_fleet.remote.ssh import SshSettings

    settings = SshSettings.for_stack(stack, connect_timeout)
    argv = [
        "ssh",
        "-p",
        str(node.ssh_port),
        "-o",
        f"UserKnownHostsFile={settings.known_hosts}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"ConnectTimeout={max(1, round(connect_timeout))}",
        "-o",
        "ServerAliveInterval=15",
    ]
    if settings.key_file is not None:
        argv += ["-i", str(settings.key_file), "-o", "IdentitiesOnly=yes"]
    argv += [f"{settings.user}@{node.ssh_host}"]
    if command:
        argv += ["--", *command]
    return argv


def ssh_command(
    ctx: typer.Context,
    node: Annotated[str, typer.Argument(metavar="NODE", help="The node to log in to.")],
    stack: StackOption = None,
    connect_timeout: ConnectTimeoutOption = DEFAULT_CONNECT_TIMEOUT_VALUE,
) -> None:
    """Open a shell on a node with the system ssh (host key strictly checked): ssh NODE [-- CMD]."""
    from cctview_fleet.cloud.inventory import discover
    from cctview_fleet.nodes.status import cloud_side_problem
    from cctview_fleet.render import console

    fleet_stack = load_stack(stack)
    (target,) = discover(fleet_stack, [node])
    problem = cloud_side_problem(target)
    if problem is not None:
        raise problem
    if not target.ssh_host:
        raise FleetError(f"{node}: has no SSH address (no public address, no cctview:ssh-host tag)")
    binary = shutil.which("ssh")
    if binary is None:
        raise ConfigError("the ssh client is not installed; install openssh-client")
    argv = ssh_argv(fleet_stack, target, remote_words(ctx), connect_timeout=connect_timeout)
    console.file.flush()
    os.execv(binary, argv)  # the terminal belongs to ssh from here on; its exit code is ours


def register(app: typer.Typer) -> None:
    app.command("exec", cls=SplitAtDoubleDash)(exec_command)
    app.command("ssh", cls=SplitAtDoubleDash)(ssh_command)
