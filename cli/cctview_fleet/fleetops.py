"""Run one function over many nodes, in parallel with a bound, keeping every node's outcome.

This is fabric's ``ThreadingGroup`` for the fleet: each node is tried, a failure is recorded in its
:class:`NodeResult` instead of cancelling the others, and the caller gets a :class:`FleetResult`
to render as one table before deciding the exit code. Threads, not processes: the work is waiting
on SSH, and paramiko releases the GIL while it waits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from rich.table import Table

from cctview_fleet.defaults import DEFAULT_PARALLEL
from cctview_fleet.errors import CctviewError, ConfigError
from cctview_fleet.inventory import Node
from cctview_fleet.render import styled, table
from cctview_fleet.results import FleetResult, NodeResult

T = TypeVar("T")

MAX_PARALLEL = 128


def check_parallel(parallel: int) -> int:
    if not 1 <= parallel <= MAX_PARALLEL:
        raise ConfigError(
            f"--parallel must be between 1 and {MAX_PARALLEL}, not {parallel}; e.g. --parallel 8",
            key="parallel",
        )
    return parallel


def _one(node: Node, fn: Callable[[Node], T]) -> NodeResult[T]:
    started = time.monotonic()
    try:
        value = fn(node)
    except CctviewError as error:  # recorded per node; anything else is a bug and propagates
        return NodeResult(node.name, error=error, seconds=time.monotonic() - started)
    return NodeResult(node.name, value=value, seconds=time.monotonic() - started)


def run_on_nodes(
    nodes: Sequence[Node], fn: Callable[[Node], T], *, parallel: int = DEFAULT_PARALLEL
) -> FleetResult[T]:
    """``fn(node)`` for every node, at most ``parallel`` at a time; results in node order."""
    check_parallel(parallel)
    if not nodes:
        return FleetResult([])
    workers = min(parallel, len(nodes))
    if workers == 1:
        return FleetResult([_one(node, fn) for node in nodes])
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="node") as pool:
        futures = [pool.submit(_one, node, fn) for node in nodes]
        return FleetResult([future.result() for future in futures])


def result_table(
    title: str,
    result: FleetResult[Any],
    columns: Sequence[str],
    row: Callable[[Any], Sequence[Any]],
    *,
    verdict: Callable[[Any], str] | None = None,
) -> Table:
    """One row per node: ``row(value)`` for successes, the error for failures, plus the time.

    ``verdict(value)`` labels a success that is still a failure for the command (``exec``'s
    non-zero exit); by default every value is "ok".
    """
    columns = list(columns) or ["detail"]
    rows = []
    for name, outcome in result.items():
        if outcome.ok:
            cells = list(row(outcome.value))
            cells += [""] * (len(columns) - len(cells))
            label = styled(verdict(outcome.value) if verdict else "[green]ok[/]")
            rows.append([name, label, *cells, f"{outcome.seconds:.1f}s"])
        else:
            message = str(outcome.error)
            prefix = f"{name}: "
            if message.startswith(prefix):
                message = message[len(prefix) :]
            blanks = [""] * (len(columns) - 1)
            kind = type(outcome.error).__name__.removesuffix("Error").lower() or "error"
            rows.append(
                [name, styled("[red]{}[/]", kind), message, *blanks, f"{outcome.seconds:.1f}s"]
            )
    # A failure's message fills the first column: prose, so that column may wrap.
    return table(title, ["node", "result", *columns, "time"], rows, wrap=columns[:1])
