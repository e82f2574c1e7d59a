"""Bounded parallel runs over nodes: every node tried, failures kept per node, order kept."""

from __future__ import annotations

import threading
import time

import pytest
from rich.console import Console

from cctview_fleet.cloud.inventory import Node
from cctview_fleet.errors import ConfigError, NodeError, UnreachableError
from cctview_fleet.nodes.ops import run_on_nodes
from cctview_fleet.nodes.tables import result_table
from cctview_fleet.render import console


def nodes(count: int) -> list[Node]:
    return [Node(f"node-{i:02d}", f"i-{i}", "running") for i in range(1, count + 1)]


def test_a_failure_never_hides_the_other_nodes() -> None:
    def work(node: Node) -> int:
        if node.name == "node-02":
            raise UnreachableError(node.name, "no answer")
        return int(node.name[-2:])

    result = run_on_nodes(nodes(4), work, parallel=3)
    assert list(result) == ["node-01", "node-02", "node-03", "node-04"]
    assert result.succeeded == {"node-01": 1, "node-03": 3, "node-04": 4}
    assert str(result.failed["node-02"]) == "node-02: no answer"
    with pytest.raises(Exception, match=r"failed on 1 of 4 nodes: node-02"):
        result.raise_on_failure("status")


def test_parallelism_is_bounded_and_used() -> None:
    running = 0
    peak = 0
    lock = threading.Lock()

    def work(node: Node) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1

    started = time.monotonic()
    run_on_nodes(nodes(12), work, parallel=4)
    assert peak == 4
    assert time.monotonic() - started < 12 * 0.05  # really in parallel


def test_a_bug_is_not_swallowed() -> None:
    def work(node: Node) -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        run_on_nodes(nodes(2), work)


def test_parallel_must_be_sane() -> None:
    with pytest.raises(ConfigError, match="--parallel must be between 1 and 128, not 0"):
        run_on_nodes(nodes(1), lambda node: None, parallel=0)


def test_result_table_shows_values_and_reasons() -> None:
    def work(node: Node) -> int:
        if node.name == "node-01":
            raise NodeError(node.name, "exploded")
        return 7

    table = result_table("t", run_on_nodes(nodes(2), work), ("value",), lambda v: (v,))
    with console.capture() as captured:
        console.print(table)
    text = captured.get()
    assert "exploded" in text and "node-02" in text and "7" in text


def test_text_from_nodes_is_never_parsed_as_markup() -> None:
    """A node's error text, output or name is shown literally: "[/]" used to crash the table."""

    def work(node: Node) -> str:
        if node.name == "node-01":
            raise NodeError(node.name, "disk [/] gone [bold]now")
        return "[/red] out"

    table = result_table("t", run_on_nodes(nodes(2), work), ("value",), lambda v: (v,))
    wide = Console(width=300)  # no wrapping: the literal text is checked whole
    with wide.capture() as captured:
        wide.print(table)
    text = captured.get()
    assert "disk [/] gone [bold]now" in text and "[/red] out" in text


def test_status_table_shows_a_nodes_own_text_literally() -> None:
    from cctview_fleet.commands.status import status_table
    from cctview_fleet.nodes.status import FleetTotals, NodeStatus
    from cctview_fleet.results import FleetResult, NodeResult

    status = NodeStatus(
        node="node-[/]", instance_state="running", agent_running=False, agent_version="1.[/]",
        cameras_assigned=1, cameras_online=0, frames_per_minute=0.0, frames_stored=0,
        oldest_frame_age_s=None, disk_used_percent=97.0, disk_free_bytes=1, writing_paused=True,
        active_volume=None, open_period=None, last_synced_period=None, log_file=None,
        problem="pid file [/] stale",
    )  # fmt: skip
    failed = NodeResult("node-02", error=NodeError("node-02", "refused [bold]"))
    result = FleetResult([NodeResult("node-[/]", value=status), failed])
    table = status_table("t", result, {"node-02": "running"}, FleetTotals(2, 1, 0, 1, 0, 0.0, None))
    wide = Console(width=300)  # no wrapping: the literal text is checked whole
    with wide.capture() as captured:
        wide.print(table)
    text = captured.get()
    for literal in ("node-[/]", "1.[/]", "pid file [/] stale", "refused [bold]", "PAUSED"):
        assert literal in text, literal
