"""A node that is not collecting says so, with the reason: the real agent against the real camera
simulator, read as `cctview-agent status --json` (and as `cctview-fleet status` parses it).

- every assigned camera failing: "0 of N cameras reachable: <the failure>"
- nothing stored for a minute while cameras are live (the minute is shortened in this process;
  the agent and its status file are real)
- a hung agent (SIGSTOP) whose status outlives the agent's own limit: down, ``ok: false``, and
  none of its last numbers shown as live
"""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from cctview_agent.config import load_config
from cctview_agent.service import health
from cctview_agent.service.status import read_status
from cctview_fleet.cloud.inventory import Node
from cctview_fleet.nodes.status import NodeStatus, parse_status
from tests.agent.agentproc import (
    run_cli,
    running_agent,
    wait_for,
    write_assignment_from,
    write_config,
)

NODE = Node(name="node-07", instance_id="i-0123456789abcdef0", state="running")


def agent_status(config: Path) -> dict[str, Any]:
    """What `cctview-agent status --json` prints, from a real process."""
    result = run_cli(config, "status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def fleet_view(config: Path) -> NodeStatus:
    """The same status as `cctview-fleet status` reads it over SSH."""
    return parse_status(NODE, run_cli(config, "status", "--json").stdout.decode())


def test_every_camera_unreachable_is_a_problem_with_the_reason(camsim, tmp_path) -> None:
    sim = camsim(cameras=3)
    write_assignment_from(sim, tmp_path / "assignment.json")
    port = sim.url.rsplit(":", 1)[1]
    sim.stop()  # the port now refuses: every camera fails on connect
    config = write_config(tmp_path, poll_interval=0.5, timeout=1.0)
    with running_agent(config) as agent:
        status = wait_for(lambda: (s := agent_status(config))["problem"] and s, 30, "the problem")
        assert status["running"] is True and status["ok"] is False
        assert status["problem"].startswith("0 of 3 cameras reachable: connect: ")
        assert f"127.0.0.1:{port}" in status["problem"]
        view = fleet_view(config)
        assert (view.ok, view.agent_running, view.problem) == (False, True, status["problem"])
        assert agent.terminate()[0] == 0


def test_nothing_stored_while_cameras_are_live(camsim, tmp_path, monkeypatch) -> None:
    # Writing paused (a reserve larger than any disk): cameras answer, nothing is stored.
    sim = camsim(cameras=2, refresh=0.25)
    write_assignment_from(sim, tmp_path / "assignment.json")
    config = write_config(tmp_path, poll_interval=0.25, reserve_bytes=2**62)
    settings = load_config(config)
    with running_agent(config) as agent:
        wait_for(lambda: agent.status()["disk"]["dropped_frames"] >= 2, 15, "dropped frames")
        assert read_status(settings)["problem"] is None  # under a minute: not yet a problem
        monkeypatch.setattr(health, "NOTHING_STORED_S", 1.0)
        status = wait_for(lambda: (s := read_status(settings))["problem"] and s, 15, "problem")
        assert status["running"] is True and status["ok"] is False
        assert status["problem"].startswith("no frame stored for ")
        assert status["problem"].endswith(
            " while 2 of 2 cameras are live; writing is paused (disk below its reserve)"
        )
        assert agent.terminate()[0] == 0


def _ageless(problem: str | None) -> str | None:
    """A problem line with the status's age taken out (it grows while two readers read it)."""
    return None if problem is None else re.sub(r"status is \d+ s old", "status is N s old", problem)


def test_a_hung_agent_is_down_and_its_last_numbers_are_not_shown(camsim, tmp_path) -> None:
    sim = camsim(cameras=2, refresh=0.25)
    write_assignment_from(sim, tmp_path / "assignment.json")
    config = write_config(tmp_path, poll_interval=0.25)
    with running_agent(config) as agent:
        live = wait_for(
            lambda: (v := fleet_view(config)).frames_per_minute and v, 30, "frames per minute"
        )
        assert (live.ok, live.agent_running, live.problem) == (True, True, None)
        os.kill(agent.pid, signal.SIGSTOP)
        try:
            status = wait_for(
                lambda: (s := agent_status(config))["running"] is False and s,
                health.STALE_AFTER_S + 20,
                "the status to go stale",
            )
            assert status["ok"] is False
            assert status["problem"].startswith(
                f"agent pid {agent.pid} holds the pid file but its status is "
            )
            assert status["problem"].endswith(" old (limit 10 s): hung")
            down = fleet_view(config)
            assert (down.ok, down.agent_running) == (False, False)
            assert (down.cameras_online, down.frames_per_minute, down.oldest_frame_age_s) == (
                None, None, None,
            )  # fmt: skip
            # the same reason, read a moment later: the status's age may have gone up a second
            assert down.cameras_assigned == 2 and _ageless(down.problem) == _ageless(
                status["problem"]
            )
        finally:
            os.kill(agent.pid, signal.SIGCONT)
        wait_for(lambda: agent_status(config)["ok"], 30, "the agent to be back")
        assert agent.terminate()[0] == 0
    stopped = agent_status(config)
    assert (stopped["running"], stopped["ok"]) == (False, False)
    assert stopped["problem"] == "agent is not running (its pid file is not held)"


@pytest.mark.parametrize(
    ("cameras", "problem"),
    [
        ([], None),
        ([{"state": "offline"}, {"state": "offline"}], None),  # the city's side
        ([{"state": "failing", "last_failure": "timeout: no complete answer in time"},
          {"state": "failing", "last_failure": "http_503: Service Unavailable"},
          {"state": "failing", "last_failure": "timeout: no complete answer in time"}],
         "0 of 3 cameras reachable: timeout: no complete answer in time (2 of them; other "
         "causes too)"),
        ([{"state": "ok", "last_frame_age_s": 61.0}, {"state": "offline"}],
         "no frame stored for 61 s while 1 of 2 cameras are live"),
        ([{"state": "ok", "last_frame_age_s": 59.0}, {"state": "ok", "last_frame_age_s": 300}],
         None),
    ],
)  # fmt: skip
def test_collecting_problem_rules(cameras: list[dict[str, Any]], problem: str | None) -> None:
    status = {"cameras": cameras, "started_at_ms": 0, "disk": {}}
    assert health.collecting_problem(status, now=1_000_000.0) == problem
