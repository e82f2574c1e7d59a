"""When to poll one camera next: learn how often its picture changes, then poll just often enough.

A camera's pictures go up at irregular intervals (docs/camsim.md: a period of ~1-4 s or ~15 s per
camera, each interval drawn anew, now and then a picture held twice as long). A collector captures
every picture exactly when every interval between two changes holds at least one poll; polls spaced
by the *shortest* interval the camera produces do that, and cost ``mean / shortest`` requests per
new picture (about 1.25 for intervals of ±15 % and 5 % held pictures), where a fixed 1 Hz grid
spends 1-4 (or 15 for a slow camera) and still misses pictures shorter than a second.

So a :class:`Cadence` has two modes:

- ``learning``: poll in fine steps around the expected change (at first every ``learn_step``
  seconds, then in steps of 5 % of the period from 80 % of the shortest interval on) and
  record the change times to within a step. After :data:`SAMPLES` precise intervals it knows
  the camera's typical period (the median interval, which held pictures do not move) and
  spread (twice the median absolute deviation, the half-width of a uniform spread), and
  switches to
- ``tracking``: poll every ``min(period * (1 - spread), shortest seen) * (1 - MARGIN)``
  seconds, just under the shortest interval expected. It learns again every ``relearn_s``
  seconds (an hour), so a camera whose cadence changes is followed at the cost of about one
  percent more requests.

Times are the loop's monotonic clock; an observation is the midpoint of a request (the service
picks the picture about half a round trip after the request leaves).
"""

from __future__ import annotations

import enum
import statistics
from collections import deque

SAMPLES = 12  # precise intervals before tracking
MIN_SPACING_S = 0.25  # never poll a camera more often than this
MIN_SPREAD = 0.03  # spacing at most 97 % of the period, whatever the samples say
MAX_SPREAD = 0.5
HELD = 1.5  # an interval longer than 1.5 periods is a held picture: not a sample of the spread
FINE = 0.05  # learning steps are 5 % of the period (once a period is known)
SKIP_AHEAD = 0.8  # while learning, nothing changes before 80 % of the shortest interval
MARGIN = 0.05  # spacing 5 % under the shortest interval expected
PRECISION_FLOOR_S = 0.6  # a round trip of up to 470 ms, plus scheduling


class Mode(enum.StrEnum):
    LEARNING = "learning"
    TRACKING = "tracking"


class Cadence:
    """One camera's picture cadence, learned from what its polls saw."""

    def __init__(self, *, learn_step: float, relearn_s: float = 3600.0) -> None:
        self.learn_step = learn_step
        self.relearn_s = relearn_s
        self.mode = Mode.LEARNING
        self.period: float | None = None
        self.spread = MAX_SPREAD
        self.spacing = learn_step
        self.intervals: deque[float] = deque(maxlen=SAMPLES)
        self._last_seen: float | None = None  # when a poll last saw the current picture
        self._last_change: tuple[float, float] | None = None  # (after, before) of the last change
        self._learned_at = 0.0
        self._skipped = False  # the poll being made was scheduled by skipping ahead

    def observe(self, at: float, *, changed: bool) -> None:
        """A poll saw a new picture (``changed``) or the same one at time ``at``."""
        if changed and self._last_seen is not None:
            window = (self._last_seen, at)
            precise = at - self._last_seen <= self._precision()
            if precise and self._last_change is not None:
                interval = sum(window) / 2 - sum(self._last_change) / 2
                if interval > 0:
                    self.intervals.append(interval)
                    if self.mode is Mode.LEARNING:  # a running estimate to step and skip by
                        self.period = statistics.median(self.intervals)
            if not precise and self.mode is Mode.LEARNING and self._skipped:
                # Skipping ahead jumped over a change: the period learned so far is too long
                # (a held picture taken for a normal one). Start the samples again.
                self.intervals.clear()
                self.period = None
            self._last_change = window if precise else None
            if self.mode is Mode.LEARNING and len(self.intervals) >= SAMPLES:
                self._track(at)
        self._last_seen = at
        if self.mode is Mode.TRACKING and at - self._learned_at >= self.relearn_s:
            self.mode = Mode.LEARNING
            self.intervals.clear()

    def lost(self) -> None:
        """A poll failed or the camera went offline: what the last poll saw no longer dates a
        change (the picture may have changed twice meanwhile)."""
        self._last_seen = None
        self._last_change = None

    def next_poll(self, at: float) -> float:
        """When to poll next, after the poll observed at ``at``."""
        self._skipped = False
        if self.mode is Mode.TRACKING:
            return at + self.spacing
        if self.period is not None and self._last_change is not None:
            # Learning with a known period: skip the part of the interval where nothing changes.
            quiet_until = self._changed_after(self._last_change) + SKIP_AHEAD * min(self.intervals)
            if at < quiet_until:
                self._skipped = True
                return quiet_until
        return at + self._step()

    @staticmethod
    def _changed_after(window: tuple[float, float]) -> float:
        """The earliest the last change can have come: the window's early edge. From the late
        edge (up to a round trip later) a skip of a 1-2.5 s camera jumped over the next change
        about once in three intervals, which starts the samples again (bench/cadence_bench.py)."""
        return window[0]

    def _step(self) -> float:
        if self.period is None:
            return self.learn_step
        return max(0.05, min(self.learn_step, FINE * self.period))

    def _precision(self) -> float:
        """The widest change window that still dates a change well enough to learn from: a step
        and a half, or one round trip to a distant service (one request in flight per camera, so
        polls cannot come closer than the latency)."""
        return max(self._step() * 1.5, PRECISION_FLOOR_S)

    def _track(self, at: float) -> None:
        intervals = list(self.intervals)
        period = statistics.median(intervals)
        regular = [interval for interval in intervals if interval <= HELD * period]
        period = statistics.median(regular)
        deviation = statistics.median(abs(interval - period) for interval in regular)
        self.period = period
        self.spread = min(MAX_SPREAD, max(MIN_SPREAD, 2 * deviation / period))
        # The shortest interval expected: the spread's lower edge or the shortest seen, whichever
        # is shorter, less a margin for the samples' own error (each is dated to within a step).
        shortest = min(period * (1 - self.spread), min(regular))
        self.spacing = max(MIN_SPACING_S, shortest * (1 - MARGIN))
        self.mode = Mode.TRACKING
        self._learned_at = at
