"""Fleet status: what EC2 says about each node plus what its agent says over SSH.

A node's row combines the instance state (so a node terminated on the cloud side says so instead
of just timing out) with the agent's own ``cctview-agent status --json``. Nodes are asked in
parallel over one SSH connection each; an unreachable node is a row with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from cctview_fleet.cloud.inventory import Node
from cctview_fleet.defaults import DEFAULT_PARALLEL
from cctview_fleet.errors import NodeError, RemoteCommandError
from cctview_fleet.nodes import bootoutcome
from cctview_fleet.nodes.ops import run_on_nodes
from cctview_fleet.nodes.switchloss import CameraRestart, collecting, parse_restarts
from cctview_fleet.remote.ssh import Connections
from cctview_fleet.results import FleetResult

STATUS_WORDS = ("status", "--json")


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """One node's health, flattened from the agent's status for the table and ``--json``.

    ``ok`` is False when the agent is down (not running, or its status older than the agent's
    own limit) or not collecting (every camera failing, or nothing stored for a minute while
    cameras are live); ``problem`` says why. A down agent's live numbers (cameras online,
    frames/min, frame ages) are None: its last numbers are not shown as if they were current.
    """

    node: str
    instance_state: str
    agent_running: bool
    agent_version: str | None
    cameras_assigned: int
    cameras_online: int | None
    frames_per_minute: float | None
    frames_stored: int
    oldest_frame_age_s: float | None  # the stalest camera's last frame; None: no frame yet
    disk_used_percent: float | None
    disk_free_bytes: int | None
    writing_paused: bool
    active_volume: str | None
    open_period: str | None
    last_synced_period: str | None
    log_file: str | None
    problem: str | None = None
    ok: bool = True
    # Issue 10: cameras serving the offline card, cameras frozen (picture stopped), and the
    # seconds of offline time the node's cameras accumulated since the agent started.
    cameras_offline: int = 0
    cameras_frozen: int = 0
    offline_s: float = 0.0
    # how the node's first boot ended (bootoutcome.FirstBoot.describe); None: no record
    first_boot: str | None = None
    # Per camera, for `upgrade` (switchloss.py), left out of `status --json`: the cameras
    # collecting now, and each camera's gap across the agent's last start.
    cameras_collecting: frozenset[str] = frozenset()
    restarts: Mapping[str, CameraRestart] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["cameras_collecting"], data["restarts"]
        return data


def parse_status(node: Node, text: str) -> NodeStatus:
    """A NodeStatus from the agent's JSON; garbage is a NodeError naming the node."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NodeError(
            node.name,
            f"`cctview-agent status --json` printed no JSON ({exc}); is the agent installed?",
        ) from exc
    if not isinstance(raw, dict):
        raise NodeError(
            node.name, f"`cctview-agent status --json` printed {type(raw).__name__}, not an object"
        )
    totals = raw.get("totals") or {}
    disk = raw.get("disk") or {}
    cameras = raw.get("cameras") or []
    ages = [c.get("last_frame_age_s") for c in cameras if isinstance(c, dict)]
    known_ages = [float(a) for a in ages if isinstance(a, int | float)]
    oldest = None
    if known_ages:
        oldest = max(known_ages)
    running = bool(raw.get("running"))
    problem = raw.get("problem")
    if not running and not problem:  # an agent older than its `ok`/`problem` fields
        problem = "agent is not running"
    return NodeStatus(
        node=node.name,
        instance_state=node.state,
        agent_running=running,
        agent_version=raw.get("agent_version"),
        cameras_assigned=int(totals.get("cameras", len(cameras)) or 0),
        cameras_online=int(totals.get("cameras_ok", 0) or 0) if running else None,
        frames_per_minute=float(totals.get("frames_per_minute", 0) or 0) if running else None,
        frames_stored=int(totals.get("frames_stored", 0) or 0),
        oldest_frame_age_s=oldest if running else None,
        disk_used_percent=disk.get("used_percent"),
        disk_free_bytes=disk.get("free_bytes"),
        writing_paused=bool(disk.get("writing_paused")),
        active_volume=raw.get("active_volume"),
        open_period=raw.get("open_period"),
        last_synced_period=raw.get("last_synced_period"),
        log_file=raw.get("log_file"),
        problem=problem,
        ok=running and not problem,
        cameras_offline=int(totals.get("cameras_offline", 0) or 0),
        cameras_frozen=int(totals.get("cameras_frozen", 0) or 0),
        offline_s=float(totals.get("offline_s", 0) or 0),
        cameras_collecting=collecting(cameras) if running else frozenset(),
        restarts=parse_restarts(cameras),
    )


def cloud_side_problem(node: Node) -> NodeError | None:
    """An error for a node EC2 says cannot answer, so no SSH timeout is spent on it."""
    if node.terminated:
        return NodeError(
            node.name,
            f"instance {node.instance_id} is {node.state}: terminated on the cloud side; "
            "run `pulumi up` to replace it",
        )
    if node.state in ("stopped", "stopping"):
        return NodeError(
            node.name,
            f"instance {node.instance_id} is {node.state}; start it (`aws ec2 start-instances "
            f"--instance-ids {node.instance_id}`) or run `pulumi up`",
        )
    return None


def node_status(node: Node, connections: Connections) -> NodeStatus:
    """The agent's status and the first boot's outcome. A failed first boot is the node's
    problem even when an agent answers, and the reason when none does."""
    problem = cloud_side_problem(node)
    if problem is not None:
        raise problem
    conn = connections.get(node)
    boot = bootoutcome.parse_state(conn.run(bootoutcome.READ_COMMAND).stdout)
    try:
        result = conn.check(conn.agent_command(*STATUS_WORDS))
        status = parse_status(node, result.stdout)
    except RemoteCommandError as exc:
        if boot is not None and not boot.ok:
            raise NodeError(node.name, boot.problem()) from exc
        raise
    if boot is None:
        return status
    if boot.ok:
        return replace(status, first_boot=boot.describe())
    return replace(status, first_boot=boot.describe(), problem=boot.problem(), ok=False)


def fleet_status(
    nodes: list[Node], connections: Connections, *, parallel: int = DEFAULT_PARALLEL
) -> FleetResult[NodeStatus]:
    return run_on_nodes(nodes, lambda node: node_status(node, connections), parallel=parallel)


@dataclass(frozen=True, slots=True)
class FleetTotals:
    nodes: int
    reachable: int
    agents_running: int
    cameras_assigned: int
    cameras_online: int
    frames_per_minute: float
    oldest_frame_age_s: float | None
    cameras_offline: int = 0
    cameras_frozen: int = 0
    offline_s: float = 0.0
    problems: int = 0  # answering nodes whose agent is down or not collecting
    # agent version -> the reachable nodes running it (an upgrade in progress shows two)
    agent_versions: dict[str, list[str]] = field(default_factory=dict)

    @property
    def mixed(self) -> bool:
        """More than one agent version runs: an upgrade is under way or stopped half-way."""
        return len(self.agent_versions) > 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"mixed_versions": self.mixed}


def totals(result: FleetResult[NodeStatus]) -> FleetTotals:
    rows = [s for s in result.succeeded.values() if s is not None]
    ages = [s.oldest_frame_age_s for s in rows if s.oldest_frame_age_s is not None]
    return FleetTotals(
        nodes=len(result),
        reachable=len(rows),
        agents_running=sum(1 for s in rows if s.agent_running),
        cameras_assigned=sum(s.cameras_assigned for s in rows),
        cameras_online=sum(s.cameras_online or 0 for s in rows),
        frames_per_minute=round(sum(s.frames_per_minute or 0 for s in rows), 1),
        oldest_frame_age_s=max(ages) if ages else None,
        agent_versions=versions_by_node(rows),
        problems=sum(1 for s in rows if not s.ok),
        cameras_offline=sum(s.cameras_offline for s in rows),
        cameras_frozen=sum(s.cameras_frozen for s in rows),
        offline_s=round(sum(s.offline_s for s in rows), 1),
    )


def versions_by_node(rows: list[NodeStatus]) -> dict[str, list[str]]:
    versions: dict[str, list[str]] = {}
    for status in sorted(rows, key=lambda s: s.node):
        versions.setdefault(status.agent_version or "unknown", []).append(status.node)
    return dict(sorted(versions.items()))


def mixed_warning(fleet_totals: FleetTotals) -> str:
    """One line naming each version and its nodes ("" when the fleet runs one version)."""
    if not fleet_totals.mixed:
        return ""
    parts = [f"{v} on {', '.join(nodes)}" for v, nodes in fleet_totals.agent_versions.items()]
    return f"mixed fleet: {'; '.join(parts)} (finish or roll back with `cctview-fleet upgrade`)"


def nodes_not_ok(result: FleetResult[NodeStatus]) -> list[str]:
    """Nodes that failed to answer or whose agent is down or not collecting, in order."""
    return [
        name
        for name, outcome in result.items()
        if not outcome.ok or outcome.value is None or not outcome.value.ok
    ]
