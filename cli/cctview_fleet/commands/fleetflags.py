"""Flags shared by the commands that work on nodes: which stack, which nodes, how many at once.

Each node command declares its parameters with these ``Annotated`` aliases and opens the fleet
with :func:`open_fleet`, so ``--stack``, ``--parallel`` and ``--connect-timeout`` mean the same
everywhere and fail with the same one-line messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from cctview_fleet.cloud.stacks import STACK_ENV, Stack, load_stack
from cctview_fleet.defaults import DEFAULT_CONNECT_TIMEOUT, DEFAULT_PARALLEL
from cctview_fleet.errors import ConfigError

if TYPE_CHECKING:
    from cctview_fleet.cloud.inventory import Node
    from cctview_fleet.remote.ssh import Connections

FLEET_PANEL = "Fleet"

StackOption = Annotated[
    str | None,
    typer.Option(
        "--stack",
        metavar="NAME",
        help=f"The fleet (default: ${STACK_ENV}, else dev); `local` is `dev up`'s fleet.",
        show_default=False,
        rich_help_panel=FLEET_PANEL,
    ),
]
ParallelOption = Annotated[
    int,
    typer.Option(
        "--parallel",
        metavar="N",
        help="Work on at most N nodes at once.",
        rich_help_panel=FLEET_PANEL,
    ),
]
ConnectTimeoutOption = Annotated[
    float,
    typer.Option(
        "--connect-timeout",
        metavar="SECONDS",
        help="Give up on a node that does not answer SSH within this time.",
        rich_help_panel=FLEET_PANEL,
    ),
]
NodesArgument = Annotated[
    list[str] | None,
    typer.Argument(metavar="NODE", help="Nodes by name (default: all).", show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@dataclass
class Fleet:
    """The stack, its discovered nodes, and the command's SSH connections (closed at the end)."""

    stack: Stack
    nodes: list[Node]
    connections: Connections
    parallel: int

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.connections.close()


def check_timeout(seconds: float) -> float:
    if not 0 < seconds <= 300:
        raise ConfigError(
            f"--connect-timeout must be between 0 and 300 seconds, not {seconds:g}; "
            "e.g. --connect-timeout 5",
            key="connect-timeout",
        )
    return seconds


def open_fleet(
    stack_option: str | None,
    names: Sequence[str] | None = None,
    *,
    parallel: int = DEFAULT_PARALLEL,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
) -> Fleet:
    """Flags checked first (cheap), then the stack file, then the EC2 inventory."""
    from cctview_fleet.cloud.inventory import discover
    from cctview_fleet.nodes.ops import check_parallel
    from cctview_fleet.remote.ssh import Connections

    check_parallel(parallel)
    check_timeout(connect_timeout)
    stack = load_stack(stack_option)
    nodes = discover(stack, names)
    return Fleet(stack, nodes, Connections(stack, connect_timeout), parallel)


DEFAULT_PARALLEL_VALUE = DEFAULT_PARALLEL
DEFAULT_CONNECT_TIMEOUT_VALUE = DEFAULT_CONNECT_TIMEOUT
