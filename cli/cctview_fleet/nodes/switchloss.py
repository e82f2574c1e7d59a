"""The frames a node's agent restart cost, per camera, from what the restarted agent reports.

The agent records each camera's gap across its own start (``cameras[].restart`` in its status: the
previous run's last stored frame, this run's first, the camera's usual interval between pictures;
agent/cctview_agent/polling/restartgap.py). A camera whose pictures change every ``interval``
seconds and whose frames stopped for ``gap`` seconds missed ``round(gap / interval) - 1`` pictures
(a gap of one interval is no loss). ``upgrade`` counts them for the cameras that were collecting
before its switch, once each has stored its first frame again (or the wait ran out: those cameras
are listed as ``waiting``), and reports the node's worst and median camera against the target of at
most one lost frame per camera (:data:`TARGET_FRAMES_LOST`).

Pure functions and one bounded wait; the looks at the node are the caller's.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cctview_fleet.nodes.waiting import look_until

TARGET_FRAMES_LOST = 1  # issue 12: at most one poll interval per camera
WAIT_STEP_S = 2.0  # the agent rewrites its status every ~2 s


@dataclass(frozen=True, slots=True)
class CameraRestart:
    """One camera's restart as the agent reported it; ``gap_s`` None: no new frame yet."""

    camera: str
    gap_s: float | None
    interval_s: float | None

    @property
    def frames_lost(self) -> int | None:
        """Pictures missed in the gap; None while unknown (no new frame, or no interval)."""
        if self.gap_s is None or not self.interval_s:
            return None
        return max(0, round(self.gap_s / self.interval_s) - 1)


@dataclass(frozen=True, slots=True)
class SwitchLoss:
    """A node's frames lost across one restart, over the cameras that were collecting."""

    cameras: int  # cameras counted
    max: int
    median: float
    worst_camera: str | None
    waiting: tuple[str, ...] = ()  # collecting before, no new frame by the deadline

    @property
    def within_target(self) -> bool:
        return not self.waiting and self.max <= TARGET_FRAMES_LOST

    def to_dict(self) -> dict[str, Any]:
        return {"max": self.max, "median": self.median, "cameras": self.cameras,
                "worst_camera": self.worst_camera, "waiting": list(self.waiting),
                "within_target": self.within_target}  # fmt: skip

    def describe(self) -> str:
        """One cell of the upgrade table: ``max 1, median 0 over 12 cameras``, plus a miss."""
        text = f"max {self.max}, median {self.median:g} over {self.cameras} cameras"
        if self.waiting:
            text += f"; {len(self.waiting)} without a new frame yet ({self.waiting[0]}...)"
        if not self.within_target:
            text += f"; MISSES the target (<= {TARGET_FRAMES_LOST} per camera)"
        return text


def parse_restarts(cameras: object) -> dict[str, CameraRestart]:
    """``{camera id: CameraRestart}`` from the agent status's ``cameras`` list; cameras without
    a ``restart`` record (no earlier frame, or an agent older than the record) are left out."""
    found: dict[str, CameraRestart] = {}
    if not isinstance(cameras, list):
        return found
    for camera in cameras:
        if not isinstance(camera, dict) or not isinstance(camera.get("restart"), dict):
            continue
        restart = camera["restart"]
        gap, interval = restart.get("gap_s"), restart.get("interval_s")
        found[str(camera.get("id"))] = CameraRestart(
            str(camera.get("id")),
            float(gap) if isinstance(gap, int | float) else None,
            float(interval) if isinstance(interval, int | float) else None,
        )
    return found


def collecting(cameras: object) -> frozenset[str]:
    """The cameras an agent's status shows collecting: state ``ok`` with a frame stored."""
    if not isinstance(cameras, list):
        return frozenset()
    return frozenset(
        str(c.get("id"))
        for c in cameras
        if isinstance(c, dict) and c.get("state") == "ok" and c.get("frames_stored")
    )


def summarize(restarts: Mapping[str, CameraRestart], expected: Collection[str]) -> SwitchLoss:
    """The loss over ``expected`` cameras; those with no count yet are ``waiting``."""
    # a camera with a new frame but no known interval (one frame stored before) is not counted
    known = {c: n for c in expected if c in restarts and (n := restarts[c].frames_lost) is not None}
    waiting = tuple(sorted(c for c in expected if c not in restarts or restarts[c].gap_s is None))
    if not known:
        return SwitchLoss(0, 0, 0, None, waiting)
    worst = max(sorted(known), key=lambda c: known[c])
    return SwitchLoss(len(known), known[worst], statistics.median(known.values()), worst,
                      waiting)  # fmt: skip


def wait_for_loss(
    look: Callable[[], Mapping[str, CameraRestart]],
    expected: Collection[str],
    *,
    timeout: float,
    step: float = WAIT_STEP_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> SwitchLoss:
    """Look until every ``expected`` camera has its count, or ``timeout`` seconds passed."""
    return look_until(
        lambda: summarize(look(), expected), lambda loss: not loss.waiting, timeout=timeout,
        interval=step, sleep=sleep, clock=clock,
    )  # fmt: skip


class CameraLook(Protocol):
    """What one look at a node gives (a :class:`~cctview_fleet.nodes.status.NodeStatus`)."""

    @property
    def cameras_collecting(self) -> frozenset[str]: ...
    @property
    def restarts(self) -> Mapping[str, CameraRestart]: ...


@dataclass(frozen=True)
class StatusLosses:
    """:class:`cctview_fleet.rollout.upgrade.SwitchLosses` from looks at a node's status: the
    cameras collecting before the switch, then, after it, the wait for their counts
    (``timeout``)."""

    look: Callable[[str], CameraLook | None]
    timeout: float
    sleep: Callable[[float], None] = time.sleep

    def before(self, node: str) -> frozenset[str]:
        seen = self.look(node)
        return seen.cameras_collecting if seen is not None else frozenset()

    def after(self, node: str, cameras: frozenset[str] | None) -> SwitchLoss:
        """``cameras`` None (a resumed upgrade that did not see the node before its switch):
        every camera the agent has a restart record for."""

        def restarts() -> Mapping[str, CameraRestart]:
            seen = self.look(node)
            return seen.restarts if seen is not None else {}

        expected = cameras if cameras is not None else frozenset(restarts())
        return wait_for_loss(restarts, expected, timeout=self.timeout, sleep=self.sleep)
