"""The agent's own measure of each camera's gap across a restart (restartgap.py): what the data
volume says about the previous run, and the real agent restarted against the simulator."""

from __future__ import annotations

import json
import time
from pathlib import Path

from cctview_agent.cadence import Cadence, Mode
from cctview_agent.layout import DataLayout
from cctview_agent.restartgap import (
    PreviousFrames,
    RestartGap,
    learnt_intervals,
    median_gap_s,
    previous_frames,
)
from tests.agent.agentproc import running_agent, wait_for, write_assignment_from, write_config

CAMERA = "cam-a"
HOUR_MS = 3_600_000
BASE_MS = 1_743_771_600_000  # 2025-04-04 13:00:00 UTC, an hour's start


def _store(layout: DataLayout, times: list[int], camera: str = CAMERA) -> None:
    for ts in times:
        path = layout.frame_path(camera, ts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\xff\xd8frame")


def test_previous_frames_is_the_newest_frame_and_the_median_gap(tmp_path: Path) -> None:
    layout = DataLayout(tmp_path)
    # an older day, the hour before, and two frames in the hour that just began
    _store(layout, [BASE_MS - 30 * HOUR_MS])
    _store(layout, [BASE_MS - 10_000 + i * 2_000 for i in range(5)])
    _store(layout, [BASE_MS + 500, BASE_MS + 2_500])
    (layout.hour_dir(CAMERA, BASE_MS) / ".123.jpg.9.tmp").write_bytes(b"half")
    found = previous_frames(layout, CAMERA)
    assert found == PreviousFrames(BASE_MS + 2_500, 2.0)
    # the previous run's learnt cadence wins over the stored gaps
    assert previous_frames(layout, CAMERA, 3.25) == PreviousFrames(BASE_MS + 2_500, 3.25)
    assert previous_frames(layout, "never-stored") is None


def test_median_gap_needs_two_frames() -> None:
    assert median_gap_s([BASE_MS]) is None
    assert median_gap_s([0, 1000, 2000, 6000]) == 1.0


def test_learnt_intervals_reads_only_tracking_cameras(tmp_path: Path) -> None:
    status = tmp_path / "status.json"
    assert learnt_intervals(status) == {}
    status.write_text("not json")
    assert learnt_intervals(status) == {}
    status.write_text(json.dumps({"cameras": [
        {"id": "a", "cadence": {"mode": "tracking", "period_s": 2.5}},
        {"id": "b", "cadence": {"mode": "learning", "period_s": 1.0}},
        {"id": "c"},
        "garbage",
    ]}))  # fmt: skip
    assert learnt_intervals(status) == {"a": 2.5}


def test_restart_gap_until_and_after_the_first_frame() -> None:
    gap = RestartGap(PreviousFrames(BASE_MS, 2.0))
    learning = Cadence(learn_step=0.25)
    assert gap.to_dict(learning) == {"previous_frame_ms": BASE_MS, "first_frame_ms": None,
                                     "gap_s": None, "interval_s": 2.0}  # fmt: skip
    gap.stored(BASE_MS + 3_100)
    gap.stored(BASE_MS + 5_000)  # only the first frame closes the gap
    assert gap.to_dict(learning)["gap_s"] == 3.1
    tracking = Cadence(learn_step=0.25)
    tracking.mode, tracking.period = Mode.TRACKING, 1.5
    assert gap.to_dict(tracking)["interval_s"] == 1.5  # this run's cadence, once learnt


def test_a_restarted_agent_reports_each_cameras_gap(camsim, tmp_path: Path) -> None:
    """The real agent, stopped and started again: status carries each camera's gap, which is
    exactly the gap between the stored frame files on either side of the restart."""
    sim = camsim(cameras=3, refresh=0.5)
    ids = write_assignment_from(sim, tmp_path / "assignment.json")
    config = write_config(tmp_path, period=60)
    layout = DataLayout(tmp_path / "data")
    with running_agent(config) as agent:
        wait_for(lambda: all(agent.camera(i)["frames_stored"] >= 3 for i in ids), 60, "frames")
        assert all(agent.camera(i)["restart"] is None for i in ids)  # nothing stored before
        agent.terminate()
    stopped_ms = int(time.time() * 1000)
    with running_agent(config) as agent:
        restarts = wait_for(
            lambda: (
                (r := [agent.camera(i)["restart"] for i in ids])
                and all(x and x["gap_s"] is not None for x in r)
                and r
            ),
            60,
            "each camera's first frame after the restart",
        )
        for camera, restart in zip(ids, restarts, strict=True):
            times = sorted(int(p.stem) for p in layout.camera_dir(camera).glob("*/*/*.jpg"))
            before = max(t for t in times if t < stopped_ms)
            after = min(t for t in times if t > stopped_ms)
            assert restart["previous_frame_ms"] == before
            assert restart["first_frame_ms"] == after
            assert restart["gap_s"] == round((after - before) / 1000, 3)
            assert restart["interval_s"] is not None and 0 < restart["interval_s"] < 5, restart
