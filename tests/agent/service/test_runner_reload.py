"""Reload: ``cctview-agent assign -`` replaces the assignment and signals the agent; added cameras
start, removed ones stop, and an unchanged camera keeps polling without a hole."""

from __future__ import annotations

import itertools
import json
import time

from cctview_agent.cameras import dump_cameras, parse_cameras
from tests.agent.agentproc import (
    frame_times,
    log_events,
    run_cli,
    running_agent,
    wait_for,
    write_assignment_from,
    write_config,
)


def test_assign_reloads_without_a_gap(camsim, tmp_path) -> None:
    sim = camsim(cameras=3, refresh=0.25)
    keep, drop, add = sim.camera_ids
    write_assignment_from(sim, tmp_path / "assignment.json", [keep, drop])
    config = write_config(tmp_path, poll_interval=0.5)
    with running_agent(config) as agent:
        time.sleep(3)
        cameras = [c for c in parse_cameras(sim.cameras()) if c.id in (keep, add)]
        result = run_cli(config, "assign", "-", stdin=dump_cameras(cameras).encode())
        reloaded_at = time.time()
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary == {
            "assignment": str(tmp_path / "assignment.json"),
            "cameras": 2,
            "added": 1,
            "removed": 1,
            "changed": 0,
            "unchanged": 1,
            "reloaded": True,
            "pid": agent.pid,
        }
        wait_for(lambda: {c["id"] for c in agent.status()["cameras"]} == {keep, add}, 5, "new set")
        time.sleep(3)
        again = run_cli(config, "reload")
        assert again.returncode == 0 and json.loads(again.stdout)["pid"] == agent.pid
        time.sleep(1)
        assert agent.terminate()[0] == 0
    data = tmp_path / "data"
    kept = frame_times(data, keep)
    assert len(kept) >= 12
    holes = [b - a for a, b in itertools.pairwise(kept)]
    # No hole a manifest would call a gap (3 poll intervals), across two reloads.
    assert max(holes) < 1500, f"the unchanged camera had a {max(holes)} ms hole across reload"
    assert frame_times(data, add), "the added camera never stored a frame"
    assert all(ts < (reloaded_at + 1.0) * 1000 for ts in frame_times(data, drop))
    events = [e["event"] for e in log_events(tmp_path / "agent.log")]
    assert events.count("assignment_reloaded") == 2


def test_second_agent_on_same_config_is_refused(camsim, tmp_path) -> None:
    sim = camsim(cameras=1)
    write_assignment_from(sim, tmp_path / "assignment.json")
    config = write_config(tmp_path)
    with running_agent(config) as agent:
        second = run_cli(config, "run")
        assert second.returncode == 2
        assert second.stderr.decode().startswith("error: an agent (pid ")
        assert len(second.stderr.decode().strip().splitlines()) == 1
        status = run_cli(config, "status", "--json")
        assert json.loads(status.stdout)["running"] is True
        wait_for(lambda: agent.status()["totals"]["frames_stored"] >= 1, 10, "a frame")
        assert agent.terminate()[0] == 0
    after = json.loads(run_cli(config, "status", "--json").stdout)
    assert after["running"] is False
    assert after["cameras"][0]["frames_stored"] >= 1
    assert "NOT RUNNING" in run_cli(config, "status").stdout.decode()


def test_sighup_while_starting_is_not_fatal_and_applies(camsim, tmp_path) -> None:
    """`assign` signals as soon as the pid file names the agent, maybe before its loop runs."""
    import signal

    from cctview_agent.config import load_config
    from cctview_agent.service.pidfile import running_pid

    sim = camsim(cameras=2)
    first, second = sim.camera_ids
    write_assignment_from(sim, tmp_path / "assignment.json", [first])
    config = write_config(tmp_path)
    settings = load_config(config)
    with running_agent(config, wait=False) as agent:
        wait_for(lambda: running_pid(settings) == agent.pid, 20, "the pid file", step=0.005)
        write_assignment_from(sim, tmp_path / "assignment.json", [first, second])
        agent.process.send_signal(signal.SIGHUP)
        agent.wait_running()
        wait_for(
            lambda: {c["id"] for c in agent.status()["cameras"]} == {first, second}, 10, "both"
        )
        assert agent.terminate()[0] == 0
