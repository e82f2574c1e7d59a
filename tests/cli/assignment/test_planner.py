"""The assignment planner: balance, determinism, stability, minimal moves, refusal with numbers."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from cctview_agent.cameras import Camera, load_cameras
from cctview_fleet.assignment.planner import Assignment, check_capacity, minimum_moves, plan
from cctview_fleet.errors import AssignmentError


def cams(count: int, seed: int = 1) -> list[Camera]:
    rng = random.Random(seed)
    return [
        Camera(f"cam-{i:04d}", f"Camera {i}", 40.70 + rng.random() / 10, -74.0 + rng.random() / 10)
        for i in range(count)
    ]


def names(count: int) -> list[str]:
    return [f"node-{i:02d}" for i in range(1, count + 1)]


def assert_balanced(assignment: Assignment, cameras: list[Camera], per_node: int) -> None:
    loads = assignment.loads()
    assert max(loads.values()) - min(loads.values()) <= 1, loads
    assert max(loads.values()) <= per_node, loads
    placed = [cid for ids in assignment.shards.values() for cid in ids]
    assert sorted(placed) == sorted(c.id for c in cameras), "every camera exactly once"


@pytest.fixture(scope="module")
def manhattan(real_catalog_path: Path) -> list[Camera]:
    """Real cameras: Manhattan south of Central Park South (the lower-manhattan preset's area)."""
    return [
        c for c in load_cameras(real_catalog_path) if c.area == "Manhattan" and c.latitude < 40.7648
    ]


@pytest.mark.parametrize(
    ("count", "nodes"), [(0, 1), (1, 1), (21, 1), (22, 2), (235, 12), (100, 7)]
)
def test_fresh_plan_is_balanced(count: int, nodes: int) -> None:
    cameras = cams(count)
    result = plan(cameras, names(nodes))
    assert_balanced(result.assignment, cameras, 21)
    assert len(result.diff.added) == count
    assert result.diff.moved == () and result.diff.removed == ()


def test_plan_is_deterministic_whatever_the_input_order() -> None:
    cameras = cams(120)
    shuffled = cameras[:]
    random.Random(7).shuffle(shuffled)
    first = plan(cameras, names(6))
    second = plan(shuffled, list(reversed(names(6))))
    assert first.assignment == second.assignment


def test_replanning_the_same_selection_changes_nothing(manhattan: list[Camera]) -> None:
    nodes = names(12)
    first = plan(manhattan, nodes).assignment
    again = plan(manhattan, nodes, first)
    assert again.assignment == first
    assert not again.diff.changed


@pytest.mark.parametrize(
    ("count", "before", "after"), [(235, 12, 13), (100, 5, 6), (21, 1, 2), (50, 3, 7)]
)
def test_adding_nodes_moves_the_minimum(count: int, before: int, after: int) -> None:
    cameras = cams(count)
    first = plan(cameras, names(before)).assignment
    second = plan(cameras, names(after), first)
    assert_balanced(second.assignment, cameras, 21)
    # The new nodes' share is exactly what has to move, nothing more.
    new_share = sum(len(second.assignment.shards[n]) for n in names(after)[before:])
    assert len(second.diff.moved) == second.minimum_moves == new_share
    assert all(m.target in names(after)[before:] for m in second.diff.moved)
    assert second.diff.added == () and second.diff.removed == ()


def test_real_lower_manhattan_twelve_to_thirteen_nodes(manhattan: list[Camera]) -> None:
    first = plan(manhattan, names(12)).assignment
    second = plan(manhattan, names(13), first)
    assert len(manhattan) > 200
    # node-13 takes floor(n/13) cameras (the one larger share stays on a node already holding it).
    assert len(second.assignment.shards["node-13"]) == len(manhattan) // 13
    assert len(second.diff.moved) == len(second.assignment.shards["node-13"])
    assert len(second.diff.moved) == second.minimum_moves


def test_removing_a_node_moves_only_its_cameras() -> None:
    cameras = cams(100)
    first = plan(cameras, names(6)).assignment
    survivors = [n for n in names(6) if n != "node-03"]
    second = plan(cameras, survivors, first)
    assert_balanced(second.assignment, cameras, 21)
    assert {m.source for m in second.diff.moved} == {"node-03"}
    assert len(second.diff.moved) == len(first.shards["node-03"]) == second.minimum_moves


def test_cameras_stay_on_their_node_when_the_selection_grows() -> None:
    cameras = cams(60)
    first = plan(cameras[:50], names(3)).assignment
    second = plan(cameras, names(3), first)
    assert second.diff.moved == ()
    assert sorted(c for c, _ in second.diff.added) == sorted(c.id for c in cameras[50:])
    assert_balanced(second.assignment, cameras, 21)


def test_dropped_cameras_are_removed_and_the_rest_rebalanced_minimally() -> None:
    cameras = cams(60)
    first = plan(cameras, names(3)).assignment
    # Drop 15 of node-01's 20: loads 5/20/20 -> 15 each, so node-02 and node-03 give 5 each.
    gone = set(first.shards["node-01"][:15])
    remaining = [c for c in cameras if c.id not in gone]
    second = plan(remaining, names(3), first)
    assert sorted(c for c, _ in second.diff.removed) == sorted(gone)
    assert len(second.diff.moved) == second.minimum_moves == 10
    assert_balanced(second.assignment, remaining, 21)


def test_minimum_moves_counts_orphans_and_excess() -> None:
    current = Assignment.of({"a": ["1", "2", "3", "4"], "b": [], "gone": ["5"]})
    assert minimum_moves(["1", "2", "3", "4", "5"], ["a", "b"], current) == 1 + 1


def test_a_camera_listed_on_two_nodes_is_placed_once() -> None:
    cameras = cams(4)
    ids = [c.id for c in cameras]
    current = Assignment.of({"node-01": ids, "node-02": ids[:2]})
    result = plan(cameras, names(2), current)
    assert_balanced(result.assignment, cameras, 21)


def test_too_small_fleet_is_refused_with_the_numbers(manhattan: list[Camera]) -> None:
    with pytest.raises(AssignmentError) as caught:
        plan(cams(235), names(3))
    assert str(caught.value) == (
        "235 cameras need 12 nodes at 21 per node; the fleet has 3; run "
        "`pulumi config set cctview-fleet:nodeCount 12 && pulumi up` or pass "
        "--cameras-per-node 79"
    )


def test_capacity_message_with_a_custom_hint_and_no_nodes() -> None:
    with pytest.raises(AssignmentError) as caught:
        check_capacity(5, 0, 2, resize_hint="run `cctview-fleet dev up --nodes 3`")
    assert str(caught.value) == (
        "5 cameras need 3 nodes at 2 per node; the fleet has 0; "
        "run `cctview-fleet dev up --nodes 3`"
    )


def test_cameras_per_node_must_be_positive() -> None:
    with pytest.raises(AssignmentError, match="at least 1"):
        plan(cams(3), names(1), cameras_per_node=0)


def test_fresh_shards_are_geographic_strips(manhattan: list[Camera]) -> None:
    result = plan(manhattan, names(12)).assignment
    by_id = {c.id: c for c in manhattan}
    spans = []
    for ids in result.shards.values():
        lats = [by_id[i].latitude for i in ids]
        spans.append(max(lats) - min(lats))
    whole = max(c.latitude for c in manhattan) - min(c.latitude for c in manhattan)
    assert max(spans) < whole / 3
