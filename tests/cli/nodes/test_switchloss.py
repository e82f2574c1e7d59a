"""Counting the frames a restart cost from the agent's restart records (switchloss.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from cctview_fleet.cloud.inventory import Node
from cctview_fleet.nodes.status import parse_status
from cctview_fleet.nodes.switchloss import (
    CameraRestart,
    StatusLosses,
    SwitchLoss,
    collecting,
    parse_restarts,
    summarize,
    wait_for_loss,
)


@pytest.mark.parametrize(
    ("gap", "interval", "lost"),
    [(2.0, 2.0, 0), (2.9, 2.0, 0), (3.1, 2.0, 1), (4.0, 2.0, 1), (10.0, 2.0, 4), (0.4, 2.0, 0),
     (None, 2.0, None), (3.0, None, None), (3.0, 0.0, None)],
)  # fmt: skip
def test_frames_lost_is_the_gap_in_intervals_less_one(gap, interval, lost) -> None:
    assert CameraRestart("c", gap, interval).frames_lost == lost


def cam(camera: str, state: str = "ok", stored: int = 5, restart: dict | None = None) -> dict:
    return {"id": camera, "state": state, "frames_stored": stored, "restart": restart}


def record(gap: float | None, interval: float | None = 2.0) -> dict:
    return {"previous_frame_ms": 1, "first_frame_ms": None if gap is None else 2, "gap_s": gap,
            "interval_s": interval}  # fmt: skip


def test_parse_restarts_and_collecting_from_the_agents_status() -> None:
    cameras = [cam("a", restart=record(3.0)), cam("b", restart=record(None)),
               cam("c", state="offline"), cam("d", stored=0), "junk", {"id": "e"}]  # fmt: skip
    assert parse_restarts(cameras) == {"a": CameraRestart("a", 3.0, 2.0),
                                       "b": CameraRestart("b", None, 2.0)}  # fmt: skip
    assert collecting(cameras) == {"a", "b"}
    assert parse_restarts(None) == {} and collecting("x") == frozenset()


def test_summary_names_the_worst_camera_and_the_target() -> None:
    restarts = {c: CameraRestart(c, g, 2.0) for c, g in
                (("a", 2.0), ("b", 4.0), ("c", 2.1), ("x", 20.0))}  # fmt: skip
    loss = summarize(restarts, {"a", "b", "c"})  # x was not collecting before: not counted
    assert loss == SwitchLoss(cameras=3, max=1, median=0, worst_camera="b")
    assert loss.within_target
    assert loss.describe() == "max 1, median 0 over 3 cameras"
    worse = summarize(restarts, {"a", "x", "gone"})
    assert (worse.max, worse.worst_camera, worse.waiting) == (9, "x", ("gone",))
    assert not worse.within_target
    assert worse.to_dict() == {"max": 9, "median": 4.5, "cameras": 2, "worst_camera": "x",
                               "waiting": ["gone"], "within_target": False}  # fmt: skip
    assert "MISSES the target (<= 1 per camera)" in worse.describe()
    assert "1 without a new frame yet (gone...)" in worse.describe()
    assert summarize({}, set()) == SwitchLoss(0, 0, 0, None)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_wait_ends_when_every_camera_stored_again_or_at_the_timeout() -> None:
    clock = Clock()
    looks = iter([{"a": CameraRestart("a", None, 2.0)},
                  {"a": CameraRestart("a", 3.5, 2.0)}])  # fmt: skip
    loss = wait_for_loss(lambda: next(looks), {"a"}, timeout=60, sleep=clock.sleep, clock=clock)
    assert (loss.max, loss.waiting, clock.now) == (1, (), 2.0)
    clock = Clock()
    never = wait_for_loss(lambda: {}, {"a"}, timeout=7, sleep=clock.sleep, clock=clock)
    assert never.waiting == ("a",) and clock.now == 7


@dataclass
class Look:
    cameras_collecting: frozenset[str] = frozenset()
    restarts: dict[str, CameraRestart] = field(default_factory=dict)


def test_status_losses_before_and_after_a_switch() -> None:
    looks = {"node-01": Look(frozenset({"a", "b"})), "node-02": None}
    losses = StatusLosses(lambda node: looks[node], timeout=10, sleep=lambda s: None)
    assert losses.before("node-01") == {"a", "b"}
    assert losses.before("node-02") == frozenset()  # unreachable: nothing to wait for
    looks["node-01"] = Look(restarts={"a": CameraRestart("a", 2.0, 2.0),
                                      "b": CameraRestart("b", 6.2, 2.0),
                                      "c": CameraRestart("c", 9.0, 2.0)})  # fmt: skip
    assert losses.after("node-01", frozenset({"a", "b"})).max == 2
    resumed = losses.after("node-01", None)  # not seen before the switch: every record
    assert (resumed.cameras, resumed.worst_camera) == (3, "c")


def test_node_status_carries_the_records_but_status_json_does_not() -> None:
    text = json.dumps({"running": True, "totals": {"cameras": 2}, "cameras": [
        {"id": "a", "state": "ok", "frames_stored": 3,
         "restart": {"gap_s": 4.0, "interval_s": 2.0}},
        {"id": "b", "state": "failing", "frames_stored": 0}]})  # fmt: skip
    status = parse_status(Node("node-01", "i-1", "running"), text)
    assert status.cameras_collecting == {"a"}
    assert status.restarts == {"a": CameraRestart("a", 4.0, 2.0)}
    assert "restarts" not in status.to_dict() and "cameras_collecting" not in status.to_dict()
