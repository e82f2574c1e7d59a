"""When each camera is polled next: the adaptive schedule, the fixed grid, backoff, punctuality.

Two policies (``polling`` in the agent's config, docs/agent.md):

- ``adaptive`` (the default): each camera's :class:`~cctview_agent.polling.cadence.Cadence` learns
  how often its picture changes and polls just often enough to see every picture; offline and
  frozen cameras are polled gently (every ``offline_poll_interval`` seconds);
  a 429's ``Retry-After`` is a floor for that camera's next poll;
  every request takes a slot of the node's
  :class:`~cctview_agent.polling.budget.RequestBudget` first.
- ``grid``: every camera on a fixed grid ``anchor + phase + k * poll_interval`` of the loop's
  monotonic clock (the agent's historical 1 Hz behaviour, kept as the benchmark's baseline). The
  schedule never drifts however long each poll takes; a poll that overruns skips the ticks it
  missed instead of bunching up. Each camera's phase comes from its id.

After the second consecutive failure a camera backs off exponentially, with jitter so failing
cameras do not retry in step, capped at :data:`BACKOFF_CAP_S`.
"""

from __future__ import annotations

import math
import random
import zlib

BACKOFF_CAP_S = 60.0
ON_TIME_S = 0.1
PHASE_SLOTS = 4
LEARNING_RATE = 4.0  # requests a second of a camera learning its cadence (measured: 3-4)
TRACKING_RATE = 0.5  # requests a second of a camera tracking it (0.34 pictures/s x 1.25)
LEARNING_SHARE = 0.7  # learners may fill the budget up to this share of it


class ScheduleStats:
    """How punctually polls started (after their budget slot): the benchmark's "on time"."""

    def __init__(self) -> None:
        self.polls = 0
        self.on_time = 0
        self.skipped = 0
        self.max_late_s = 0.0

    def record(self, lateness: float) -> None:
        self.polls += 1
        if lateness <= ON_TIME_S:
            self.on_time += 1
        if lateness > self.max_late_s:
            self.max_late_s = lateness

    def to_dict(self) -> dict[str, float | int]:
        return {
            "polls": self.polls,
            "on_time": self.on_time,
            "late": self.polls - self.on_time,
            "skipped_ticks": self.skipped,
            "on_time_fraction": round(self.on_time / self.polls, 5) if self.polls else 1.0,
            "max_late_ms": round(self.max_late_s * 1000, 1),
        }


class LearningSlots:
    """How many cameras may learn their cadence at once, so learning fits the node's budget.

    Learning polls a camera ~4 times a second; a camera waiting for its turn polls every
    ``poll_interval`` (the old grid), a tracking one ~0.5 times a second. Learners are admitted
    while the expected load stays under :data:`LEARNING_SHARE` of the budget (at least one
    learner), so the budget rarely holds a learner's poll back: a held-back poll dates a picture
    change too loosely to learn from.
    """

    def __init__(self, budget_per_s: float, poll_interval: float) -> None:
        self.budget_per_s = budget_per_s
        self.poll_interval = poll_interval
        self.learners: set[object] = set()

    def capacity(self, waiting: int, tracking: int) -> int:
        load = waiting / self.poll_interval + tracking * TRACKING_RATE
        return max(1, int((LEARNING_SHARE * self.budget_per_s - load) / LEARNING_RATE))

    def admit(self, camera: object, waiting: int, tracking: int) -> bool:
        if camera in self.learners:
            return True
        if len(self.learners) < self.capacity(waiting, tracking):
            self.learners.add(camera)
            return True
        return False

    def release(self, camera: object) -> None:
        self.learners.discard(camera)


def phase_of(camera_id: str, interval: float) -> float:
    """The camera's offset in the interval: one of :data:`PHASE_SLOTS` slots, fixed by its id.

    Slots rather than a continuous spread: cameras of one slot poll together, so the event loop
    wakes a few times per interval for many sockets at once instead of once per camera, which
    is most of the CPU a poll costs (the requests themselves overlap on the network anyway).
    """
    return (zlib.crc32(camera_id.encode()) % PHASE_SLOTS) / PHASE_SLOTS * interval


def backoff_s(consecutive_failures: int, interval: float) -> float:
    """A jittered wait after ``consecutive_failures`` (>= 2) failures in a row."""
    ceiling = min(BACKOFF_CAP_S, interval * 2 ** (consecutive_failures - 1))
    return random.uniform(ceiling / 2, ceiling)


def grid_next(due: float, earliest: float, interval: float) -> tuple[float, int]:
    """The first tick of the grid through ``due`` after ``due`` and not before ``earliest``, and
    how many ticks that skips."""
    ticks = max(1, math.ceil((earliest - due) / interval - 1e-9))
    return due + ticks * interval, ticks - 1
