"""`cctview-fleet status` counts offline and frozen cameras and offline time (issue 10)."""

from __future__ import annotations

import json

from rich.console import Console

from cctview_fleet.cloud.inventory import Node
from cctview_fleet.commands.status import status_table
from cctview_fleet.nodes.status import parse_status, totals
from cctview_fleet.results import FleetResult, NodeResult

AGENT_STATUS = {
    "running": True,
    "agent_version": "0.1.0",
    "totals": {
        "cameras": 21,
        "cameras_ok": 18,
        "cameras_offline": 2,
        "cameras_frozen": 1,
        "offline_s": 2460.0,
        "frames_stored": 1000,
        "frames_per_minute": 480.0,
    },
    "disk": {},
    "cameras": [],
}


def test_offline_and_frozen_cameras_and_offline_time_reach_the_fleet_table() -> None:
    node = Node(name="node-01", instance_id="i-1", state="running")
    status = parse_status(node, json.dumps(AGENT_STATUS))
    assert (status.cameras_offline, status.cameras_frozen, status.offline_s) == (2, 1, 2460.0)
    old = dict(AGENT_STATUS, totals={"cameras": 3, "cameras_ok": 3})  # an older agent
    assert parse_status(node, json.dumps(old)).cameras_offline == 0
    result = FleetResult([NodeResult("node-01", status)])
    fleet = totals(result)
    assert (fleet.cameras_offline, fleet.cameras_frozen, fleet.offline_s) == (2, 1, 2460.0)
    console = Console(width=250, record=True)
    console.print(status_table("fleet", result, {}, fleet))
    text = console.export_text()
    assert "offline (time) / frozen" in text
    assert text.count("2 (41m) / 1") == 2  # the node's row and the total
