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
from typing import TypeVar

from cctview_fleet.cloud.inventory import Node
from cctview_fleet.defaults import DEFAULT_PARALLEL
from cctview_fleet.errors import CctviewError, ConfigError
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
