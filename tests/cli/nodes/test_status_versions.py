"""`status` shows each node's agent version and flags a fleet running more than one."""

from __future__ import annotations

from dataclasses import replace

from cctview_fleet.nodes.status import NodeStatus, mixed_warning, totals
from cctview_fleet.results import FleetResult, NodeResult

BASE = NodeStatus(
    node="node-01", instance_state="running", agent_running=True, agent_version="0.1.0",
    cameras_assigned=4, cameras_online=4, frames_per_minute=240.0, frames_stored=10,
    oldest_frame_age_s=1.0, disk_used_percent=3.0, disk_free_bytes=1, writing_paused=False,
    active_volume=None, open_period=None, last_synced_period=None, log_file=None,
)  # fmt: skip


def fleet(*statuses: NodeStatus) -> FleetResult[NodeStatus]:
    return FleetResult([NodeResult(s.node, s) for s in statuses])


def test_one_version_is_not_mixed() -> None:
    result = totals(fleet(BASE, replace(BASE, node="node-02")))
    assert result.agent_versions == {"0.1.0": ["node-01", "node-02"]}
    assert not result.mixed
    assert mixed_warning(result) == ""
    assert result.to_dict()["mixed_versions"] is False


def test_two_versions_are_flagged_with_their_nodes() -> None:
    result = totals(fleet(
        replace(BASE, node="node-03", agent_version="0.2.0+abc"),
        BASE,
        replace(BASE, node="node-02", agent_version=None),
    ))  # fmt: skip
    assert result.mixed
    assert mixed_warning(result) == (
        "mixed fleet: 0.1.0 on node-01; 0.2.0+abc on node-03; unknown on node-02 (finish or "
        "roll back with `cctview-fleet upgrade`)"
    )
