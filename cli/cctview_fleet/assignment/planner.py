"""The assignment planner: which node polls which camera. Pure functions, no I/O.

Three properties, each tested:

- **balanced**: node loads differ by at most one camera and never exceed the capacity;
- **deterministic**: the same cameras, nodes and current assignment give the same plan;
- **stable**: a camera stays on its node while the node exists and is not above its share, so
  adding a node moves only what the new node must take to balance (the minimum), and removing
  a node moves only that node's cameras.

How: each node keeps the cameras it has that are still selected, up to its target load; the
larger targets (``ceil(N/P)``) go to the nodes that already hold the most, which is what makes the
number of moved cameras minimal. Whatever is left (new cameras, cameras of removed nodes, a full
node's excess) fills the nodes below their target in a spatial order, so a fresh fleet gets
geographically compact shards (short strips of latitude), which the ``--plot`` map shows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cctview_agent.cameras import Camera
from cctview_agent.fleetconstants import DEFAULT_CAMERAS_PER_NODE  # one default, shared with `plan`
from cctview_fleet.errors import AssignmentError

__all__ = ["DEFAULT_CAMERAS_PER_NODE", "Assignment", "AssignmentDiff", "Move", "Plan", "plan"]


@dataclass(frozen=True, slots=True)
class Assignment:
    """Camera ids by node name; every node of the plan appears, maybe with no camera."""

    shards: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, shards: Mapping[str, Iterable[str]]) -> Assignment:
        return cls({node: tuple(sorted(ids)) for node, ids in sorted(shards.items())})

    @property
    def nodes(self) -> list[str]:
        return list(self.shards)

    def node_of(self) -> dict[str, str]:
        """Where each camera is; a camera listed twice counts on the first node by name."""
        where: dict[str, str] = {}
        for node in sorted(self.shards):
            for camera in self.shards[node]:
                where.setdefault(camera, node)
        return where

    def loads(self) -> dict[str, int]:
        return {node: len(ids) for node, ids in self.shards.items()}

    @property
    def camera_count(self) -> int:
        return len(self.node_of())

    def to_dict(self) -> dict[str, list[str]]:
        return {node: list(ids) for node, ids in self.shards.items()}


@dataclass(frozen=True, slots=True)
class Move:
    camera: str
    source: str
    target: str


@dataclass(frozen=True, slots=True)
class AssignmentDiff:
    """What a new assignment changes: new cameras, dropped cameras, cameras on another node."""

    added: tuple[tuple[str, str], ...] = ()  # (camera, node)
    removed: tuple[tuple[str, str], ...] = ()  # (camera, node it was on)
    moved: tuple[Move, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.moved)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": [{"camera": c, "node": n} for c, n in self.added],
            "removed": [{"camera": c, "node": n} for c, n in self.removed],
            "moved": [{"camera": m.camera, "from": m.source, "to": m.target} for m in self.moved],
        }


@dataclass(frozen=True, slots=True)
class Plan:
    assignment: Assignment
    diff: AssignmentDiff
    cameras_per_node: int
    minimum_moves: int  # the fewest moves any balanced plan could make from the current one


def nodes_needed(cameras: int, per_node: int) -> int:
    return math.ceil(cameras / per_node) if cameras else 0


def check_capacity(
    cameras: int, nodes: int, per_node: int, *, resize_hint: str | None = None
) -> None:
    """Refuse a selection the fleet cannot take, with the numbers and what to change."""
    if per_node < 1:
        raise AssignmentError(
            f"--cameras-per-node must be at least 1, not {per_node}; "
            f"e.g. --cameras-per-node {DEFAULT_CAMERAS_PER_NODE}"
        )
    needed = nodes_needed(cameras, per_node)
    if needed <= nodes:
        return
    hint = resize_hint or (f"run `pulumi config set cctview-fleet:nodeCount {needed} && pulumi up`")
    if nodes:
        hint += f" or pass --cameras-per-node {math.ceil(cameras / nodes)}"
    raise AssignmentError(
        f"{cameras} cameras need {needed} nodes at {per_node} per node; the fleet has "
        f"{nodes}; {hint}"
    )


def _targets(nodes: Sequence[str], kept: Mapping[str, int], total: int) -> dict[str, int]:
    """Balanced loads; the ``total % len(nodes)`` larger ones go to nodes holding the most."""
    share, extra = divmod(total, len(nodes))
    ranked = sorted(nodes, key=lambda n: (-kept.get(n, 0), n))
    return {node: share + (1 if rank < extra else 0) for rank, node in enumerate(ranked)}


def _spatial_key(camera: Camera) -> tuple[float, float, str]:
    return (round(camera.latitude, 6), round(camera.longitude, 6), camera.id)


def minimum_moves(cameras: Iterable[str], nodes: Sequence[str], current: Assignment) -> int:
    """The fewest selected cameras any balanced plan must put on another node than today's.

    Cameras of nodes that are gone must all move. Each remaining node can keep at most its
    target load of the selected cameras it has; pairing the larger targets with the fuller nodes
    keeps the most, and everything else it holds must move.
    """
    selected = set(cameras)
    alive = set(nodes)
    kept = {n: 0 for n in nodes}
    orphans = 0
    for camera, node in current.node_of().items():
        if camera not in selected:
            continue
        if node in alive:
            kept[node] += 1
        else:
            orphans += 1
    if not nodes:
        return orphans
    targets = sorted(_targets(nodes, kept, len(selected)).values(), reverse=True)
    counts = sorted(kept.values(), reverse=True)
    excess = sum(max(0, have - want) for have, want in zip(counts, targets, strict=True))
    return orphans + excess


def plan(
    cameras: Sequence[Camera],
    nodes: Sequence[str],
    current: Assignment | None = None,
    *,
    cameras_per_node: int = DEFAULT_CAMERAS_PER_NODE,
    resize_hint: str | None = None,
) -> Plan:
    """A balanced, deterministic, stable assignment of ``cameras`` to ``nodes``."""
    current = current or Assignment()
    node_names = sorted(dict.fromkeys(nodes))
    by_id = {camera.id: camera for camera in cameras}
    check_capacity(len(by_id), len(node_names), cameras_per_node, resize_hint=resize_hint)
    if not node_names:
        return Plan(Assignment(), diff(current, Assignment()), cameras_per_node, 0)
    where = current.node_of()
    holding: dict[str, list[str]] = {node: [] for node in node_names}
    for camera in sorted(by_id):
        node = where.get(camera)
        if node in holding:
            holding[node].append(camera)
    targets = _targets(node_names, {n: len(ids) for n, ids in holding.items()}, len(by_id))
    shards: dict[str, list[str]] = {}
    pool: list[Camera] = []
    for node in node_names:
        # A full node sheds the cameras farthest north-east in the spatial order: deterministic,
        # and the kept ones stay a compact group.
        have = sorted(holding[node], key=lambda cid: _spatial_key(by_id[cid]))
        shards[node] = have[: targets[node]]
        pool.extend(by_id[cid] for cid in have[targets[node] :])
    taken = {cid for ids in shards.values() for cid in ids} | {camera.id for camera in pool}
    pool.extend(camera for cid, camera in by_id.items() if cid not in taken)
    pool.sort(key=_spatial_key)
    position = 0
    for node in node_names:
        room = targets[node] - len(shards[node])
        shards[node].extend(camera.id for camera in pool[position : position + room])
        position += room
    new = Assignment.of(shards)
    return Plan(
        new,
        diff(current, new),
        cameras_per_node,
        minimum_moves(by_id, node_names, current),
    )


def diff(current: Assignment, new: Assignment) -> AssignmentDiff:
    before, after = current.node_of(), new.node_of()
    added = tuple((c, after[c]) for c in sorted(after) if c not in before)
    removed = tuple((c, before[c]) for c in sorted(before) if c not in after)
    moved = tuple(
        Move(c, before[c], after[c]) for c in sorted(after) if c in before and before[c] != after[c]
    )
    return AssignmentDiff(added, removed, moved)
