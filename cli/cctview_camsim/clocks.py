"""When each camera shows a new picture: a fixed grid (easy) or an irregular timeline (real).

Both clocks answer the same two questions for the renderer and the server: which picture
(``version``) a camera shows at wall time ``t``, and when a version went up (drawn into the frame).

:class:`FrameClock` (the easy profile): camera ``c`` shows ``floor((t + phase(c)) / refresh)``; the
phase, derived from the id, spreads the roll-overs over the period.

:class:`PictureClock` (the real profile): each camera walks a timeline of pictures whose intervals
are drawn one by one from its :class:`~cctview_camsim.profiles.CameraProfile` (period ± jitter, a
held picture now and then), from a random stream seeded by camera and seed, so the timeline is the
same on every run that starts at the same second. Time only moves forward, so a timeline is
advanced lazily, when a client asks, and keeps only its recent boundaries.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from cctview_camsim.profiles import CameraProfile

HISTORY = 256  # boundaries kept per camera: version_start of a recent version is exact


class Clock(Protocol):
    def version_at(self, camera_id: str, now: float) -> int: ...

    def version_start(self, camera_id: str, version: int) -> float: ...


@lru_cache(maxsize=8192)
def camera_hash(camera_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(camera_id.encode(), digest_size=8).digest(), "big")


@dataclass(frozen=True, slots=True)
class FrameClock:
    """Maps wall time to a camera's frame version; each camera rolls over at its own phase."""

    refresh: float

    def phase(self, camera_id: str) -> float:
        """Seconds added to the clock for this camera, in ``[0, refresh)``, fixed by its id."""
        return (camera_hash(camera_id) / 2**64) * self.refresh

    def version_at(self, camera_id: str, now: float) -> int:
        return math.floor((now + self.phase(camera_id)) / self.refresh)

    def version_start(self, camera_id: str, version: int) -> float:
        """The wall time at which ``version`` became current (drawn into the frame)."""
        return version * self.refresh - self.phase(camera_id)


class _Timeline:
    """One camera's pictures: the current version, when it went up and when the next one will."""

    __slots__ = ("history", "next_start", "profile", "rng", "start", "version")

    def __init__(self, profile: CameraProfile, rng: random.Random, epoch: float) -> None:
        self.profile = profile
        self.rng = rng
        # Version 0 went up a random part of an interval before the epoch, so the cameras'
        # roll-overs are spread, as the feeds' are.
        self.version = 0
        self.start = epoch - rng.uniform(0, profile.period)
        self.next_start = self.start + self._interval()
        self.history: deque[tuple[int, float]] = deque([(0, self.start)], maxlen=HISTORY)

    def _interval(self) -> float:
        profile = self.profile
        interval = profile.period * (1 + self.rng.uniform(-profile.jitter, profile.jitter))
        if self.rng.random() < profile.hold_chance:
            interval += profile.period  # a held picture: one irregular repeat
        return interval

    def advance(self, now: float) -> int:
        while self.next_start <= now:
            self.version += 1
            self.start = self.next_start
            self.next_start = self.start + self._interval()
            self.history.append((self.version, self.start))
        return self.version

    def start_of(self, version: int) -> float:
        first_version, first_start = self.history[0]
        if version < first_version:  # long gone: an estimate is enough for the drawn time
            return first_start - (first_version - version) * self.profile.period
        index = version - first_version
        if index < len(self.history):
            return self.history[index][1]
        return self.next_start + (version - self.version - 1) * self.profile.period


class PictureClock:
    """Irregular per-camera timelines, started at ``epoch`` (wall time)."""

    def __init__(
        self, profile_of: Callable[[str], CameraProfile], *, seed: int, epoch: float
    ) -> None:
        self._profile_of = profile_of
        self._seed = seed
        self._epoch = epoch
        self._timelines: dict[str, _Timeline] = {}

    def _timeline(self, camera_id: str) -> _Timeline:
        timeline = self._timelines.get(camera_id)
        if timeline is None:
            rng = random.Random(f"cctview-camsim-timeline-{self._seed}-{camera_id}")
            profile = self._profile_of(camera_id)
            timeline = self._timelines[camera_id] = _Timeline(profile, rng, self._epoch)
        return timeline

    def version_at(self, camera_id: str, now: float) -> int:
        return self._timeline(camera_id).advance(now)

    def version_start(self, camera_id: str, version: int) -> float:
        return self._timeline(camera_id).start_of(version)

    def next_change(self, camera_id: str, now: float) -> float:
        """When the picture after the current one goes up (tests, the bench's oracle)."""
        timeline = self._timeline(camera_id)
        timeline.advance(now)
        return timeline.next_start
