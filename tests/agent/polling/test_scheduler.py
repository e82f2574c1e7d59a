"""The fixed grid, backoff and phases of the poll schedule, without a server."""

from __future__ import annotations

import random
from collections import Counter

from cctview_agent.polling.poller import CameraPoller
from cctview_agent.polling.scheduler import BACKOFF_CAP_S, PHASE_SLOTS, phase_of


class _Agent:
    def __init__(self) -> None:
        from cctview_agent.polling.scheduler import ScheduleStats

        self.schedule = ScheduleStats()


def test_grid_does_not_drift_and_skips_missed_ticks() -> None:
    poller = CameraPoller.__new__(CameraPoller)
    poller.agent = _Agent()
    poller.consecutive_failures = 0
    due = 100.0
    # A poll that took 0.3 s: the next one is still due exactly one interval later.
    assert poller._next_due(due, 100.3, 1.0) == 101.0
    # A poll that overran by 2.5 intervals skips the ticks it missed, staying on the grid.
    assert poller._next_due(due, 102.5, 1.0) == 103.0
    assert poller.agent.schedule.skipped == 2


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    random.seed(7)
    poller = CameraPoller.__new__(CameraPoller)
    poller.agent = _Agent()
    waits = []
    for failures in range(2, 12):
        poller.consecutive_failures = failures
        due = poller._next_due(0.0, 0.2, 1.0)
        assert due == int(due), "a retry lands on the camera's grid"
        waits.append(poller.backoff_s)
        ceiling = min(BACKOFF_CAP_S, 2 ** (failures - 1))
        assert ceiling / 2 <= poller.backoff_s <= ceiling
    assert max(waits) <= BACKOFF_CAP_S
    assert waits[-1] > waits[0]


def test_phase_is_stable_and_spread() -> None:
    phases = [phase_of(f"cam-{i}", 1.0) for i in range(100)]
    slots = Counter(phases)
    assert len(slots) == PHASE_SLOTS and all(0 <= p < 1 for p in phases)
    assert max(slots.values()) < 100 / PHASE_SLOTS * 2, "cameras spread over the slots"
    assert phase_of("cam-1", 1.0) == phase_of("cam-1", 1.0)
