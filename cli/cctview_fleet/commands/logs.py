"""`cctview-fleet logs`: the agents' logs from all (or the named) nodes.

At a terminal each line is prefixed with its node in the node's colour; into a pipe each line is
the agent's JSON object with ``"node"`` first, so ``logs -f | jq`` works. Connection messages
(reconnecting, a node that failed) go to stderr, naming the node once."""

from __future__ import annotations

import sys
import threading
from typing import Annotated

import typer

from cctview_fleet.commands.fleetflags import (
    DEFAULT_CONNECT_TIMEOUT_VALUE,
    ConnectTimeoutOption,
    NodesArgument,
    StackOption,
    open_fleet,
)
from cctview_fleet.errors import ConfigError, FleetError

NODE_STYLES = ("cyan", "magenta", "green", "yellow", "blue", "red", "bright_cyan", "bright_magenta")
DEFAULT_TAIL = 10


def logs(
    nodes: NodesArgument = None,
    follow: Annotated[
        bool, typer.Option("--follow/--no-follow", "-f", help="Keep printing new lines.")
    ] = False,
    tail: Annotated[
        int | None,
        typer.Option(
            "--tail",
            "-n",
            metavar="N",
            help=f"Start with the last N lines (default {DEFAULT_TAIL}; all with --since).",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="DURATION", help="Only lines newer than e.g. 15m, 2h."),
    ] = None,
    grep: Annotated[
        str | None, typer.Option("--grep", metavar="REGEX", help="Only lines matching REGEX.")
    ] = None,
    stack: StackOption = None,
    connect_timeout: ConnectTimeoutOption = DEFAULT_CONNECT_TIMEOUT_VALUE,
) -> None:
    """Tail the agents' JSON-lines logs over SSH, in parallel; Ctrl-C stops following."""
    from rich.text import Text

    from cctview_fleet.nodes.logtail import (
        LogFilter,
        LogTail,
        compile_grep,
        notice_text,
        since_time,
        tagged_line,
    )
    from cctview_fleet.nodes.status import cloud_side_problem
    from cctview_fleet.render import console, err_console

    if tail is not None and tail < 0:
        raise ConfigError(f"--tail must be 0 or more, not {tail}; e.g. --tail 50", key="tail")
    log_filter = LogFilter(since=since_time(since), grep=compile_grep(grep))
    lines = tail if tail is not None else (None if since else DEFAULT_TAIL)
    with open_fleet(stack, nodes, connect_timeout=connect_timeout) as fleet:
        live = [node for node in fleet.nodes if cloud_side_problem(node) is None]
        failed = {
            node.name: str(cloud_side_problem(node)) for node in fleet.nodes if node not in live
        }
        for message in failed.values():
            err_console.print(Text(message, style="red"), highlight=False, soft_wrap=True)
        width = max(len(node.name) for node in fleet.nodes)
        styles = {
            node.name: NODE_STYLES[i % len(NODE_STYLES)] for i, node in enumerate(fleet.nodes)
        }
        reader = LogTail(
            live,
            fleet.connections,
            lines=lines,
            follow=follow,
            log_filter=log_filter,
            stop=threading.Event(),
        )
        # stdout is the agents' lines only: prefixed for a person at a terminal, JSON objects
        # with "node" for a pipe (jq); the reader's own notices go to stderr.
        to_pipe = not console.is_terminal
        for event in reader:
            if event.notice:
                text = Text(notice_text(event), style="italic red")
                err_console.print(text, highlight=False, soft_wrap=True)
            elif to_pipe:
                sys.stdout.write(tagged_line(event.node, event.text) + "\n")
                sys.stdout.flush()
            else:
                prefix = Text(f"{event.node:<{width}} | ", style=styles[event.node])
                console.print(prefix + Text(event.text), highlight=False, soft_wrap=True)
    failures = {**failed, **{name: str(error) for name, error in reader.failures.items()}}
    if failures:
        names = ", ".join(sorted(failures))
        raise FleetError(f"logs failed on {len(failures)} of {len(fleet.nodes)} nodes: {names}")


def register(app: typer.Typer) -> None:
    app.command("logs")(logs)
