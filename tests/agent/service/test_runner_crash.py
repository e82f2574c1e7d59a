"""Crash safety: ``kill -9`` at random moments never leaves a partial frame, and the next start
removes temporaries and closes the periods that ended while the agent was down."""

from __future__ import annotations

import os
import random
import time

import pytest

from cctview_agent.layout import DataLayout, frame_timestamp
from cctview_agent.periods import Period
from tests.agent.agentproc import (
    check_data_tree,
    log_events,
    running_agent,
    start_agent,
    write_assignment_from,
    write_config,
)

KILLS = int(os.environ.get("CCTVIEW_KILL_LOOPS", "20"))
PERIOD = 2


@pytest.mark.slow
def test_kill_9_loop_leaves_only_whole_frames_and_complete_manifests(camsim, tmp_path) -> None:
    sim = camsim(cameras=4, refresh=0.2)
    write_assignment_from(sim, tmp_path / "assignment.json")
    config = write_config(tmp_path, poll_interval=0.2, period=PERIOD, grace=0.3, timeout=1.0)
    data = tmp_path / "data"
    rng = random.Random(20250404)
    for _ in range(KILLS):
        agent = start_agent(config)
        try:
            time.sleep(rng.uniform(0.3, 1.6))  # start-up, mid-poll, mid-write, mid-close
        finally:
            agent.kill()
        assert agent.process.returncode == -9
        report = check_data_tree(data, allow_temporaries=True)
        assert report.bad_frames == [], "a reader saw a partial .jpg"
        assert report.problems == [], report.problems
    assert check_data_tree(data, allow_temporaries=True).frames > 0

    # What a kill in the middle of a write leaves (planted, as the kills rarely land mid-write).
    layout = DataLayout(data)
    camera_id = layout.camera_ids()[0]
    planted = [
        layout.frame_path(camera_id, 1_743_771_600_000).with_name(".1743771600000.jpg.999.tmp"),
        layout.manifests_root / camera_id / ".20250404T130000Z-2s.json.999.tmp",
    ]
    for path in planted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\xff\xd8 half a frame")

    # One clean run: start-up removes temporaries and closes what ended while the agent was down.
    with running_agent(config) as agent:
        time.sleep(PERIOD + 1.0)
        code, _took = agent.terminate()
        stopped_at = time.time()
    assert code == 0
    started = next(
        e for e in log_events(tmp_path / "agent.log")[::-1] if e["event"] == "agent_started"
    )
    assert started["temporaries_removed"] >= len(planted)
    assert not any(path.exists() for path in planted)
    report = check_data_tree(data)
    assert report.problems == []
    assert report.temporaries == []
    # Every period that ended (plus grace) before the stop has its manifest; none is missing.
    closed = {(cid, per) for cid, per, _ in layout.manifests()}
    for camera_id in layout.camera_ids():
        for dirpath, _dirs, names in os.walk(layout.camera_dir(camera_id)):
            for name in names:
                ts = frame_timestamp(name)
                if ts is None:
                    continue
                period = Period.containing(ts, PERIOD)
                if period.closable(stopped_at - 0.5, 0.3):
                    assert (camera_id, period) in closed, f"{dirpath}/{name} is in no manifest"
