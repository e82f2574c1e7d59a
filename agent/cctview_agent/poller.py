"""One camera's poll loop: deadlines on the monotonic clock, an explicit state, backoff.

Polls start on a fixed grid ``anchor + phase + k * poll_interval`` of the loop's monotonic clock,
so the schedule never drifts however long each poll takes; a poll that overruns skips the ticks
it missed instead of bunching up. Each camera's phase comes from its id, spreading N cameras over
the interval (and keeping the phase across reloads and restarts).

States: ``starting`` (no answer yet), ``ok`` (new frames), ``frozen`` (the same frame for longer
than ``frozen_after``), ``offline`` (placeholder images), ``failing`` (errors, backing off),
``stopped``. After the second consecutive bad poll the camera backs off exponentially, with jitter
so failing cameras do not retry in step, capped at :data:`BACKOFF_CAP_S`; the retry lands on the
camera's grid again. Each state change is one log line.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import time
import zlib
from collections import Counter
from typing import TYPE_CHECKING

from cctview_agent.cameras import Camera
from cctview_agent.closer import PeriodTally
from cctview_agent.fetch import FetchFailure, fetch_frame, poll_url
from cctview_agent.manifests import frame_digest
from cctview_agent.periods import Period
from cctview_agent.storage import DiskFullError, StoredFrame

if TYPE_CHECKING:
    from cctview_agent.runner import Agent

BACKOFF_CAP_S = 60.0
ON_TIME_S = 0.1
TINY_FRAME_BYTES = 1024
PHASE_SLOTS = 4


class ScheduleStats:
    """How punctually polls started: the benchmark's "polls on time" figure."""

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


class PlaceholderRegistry:
    """Recognises "camera offline" images without knowing them in advance.

    The service serves the same placeholder bytes for every offline camera, while two live
    cameras never produce the same frame: a digest that two cameras served is a placeholder from
    then on. The first camera's stored copy is taken back when the second one reveals it.
    """

    def __init__(self) -> None:
        self.known: set[str] = set()
        self.last_owner: dict[str, CameraPoller] = {}

    def release(self, digest: str | None, owner: CameraPoller) -> None:
        if digest is not None and self.last_owner.get(digest) is owner:
            del self.last_owner[digest]

    def claim(self, digest: str, owner: CameraPoller) -> CameraPoller | None:
        """Record ``owner`` as having stored ``digest``; return another camera that did too."""
        other = self.last_owner.get(digest)
        if other is not None and other is not owner:
            self.known.add(digest)
            del self.last_owner[digest]
            return other
        self.last_owner[digest] = owner
        return None


def phase_of(camera_id: str, interval: float) -> float:
    """The camera's offset in the interval: one of :data:`PHASE_SLOTS` slots, fixed by its id.

    Slots rather than a continuous spread: cameras of one slot poll together, so the event loop
    wakes a few times per interval for many sockets at once instead of once per camera, which
    is most of the CPU a poll costs (the requests themselves overlap on the network anyway).
    """
    return (zlib.crc32(camera_id.encode()) % PHASE_SLOTS) / PHASE_SLOTS * interval


class CameraPoller:
    """Polls one camera until stopped; all counters live here and in the period tallies."""

    def __init__(self, camera: Camera, agent: Agent) -> None:
        self.camera = camera
        self.agent = agent
        self.state = "starting"
        self.stopping = False
        self.in_flight = False
        self.task: asyncio.Task[None] | None = None
        self.frames_stored = 0
        self.duplicates = 0
        self.placeholders = 0
        self.dropped = 0
        self.polls = 0
        self.failures: Counter[str] = Counter()
        self.consecutive_failures = 0
        self.backoff_s = 0.0
        self.last_failure = ""
        self.last_digest: str | None = None
        self.last_stored: StoredFrame | None = None
        self.last_frame_at: float | None = None  # wall clock of the last new frame
        self.unchanged_since: float | None = None
        self._period: Period | None = None
        self._tally_key: tuple[str, Period] | None = None
        self._tally: PeriodTally = PeriodTally()

    # -- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        agent = self.agent
        loop = asyncio.get_running_loop()
        interval = agent.config.poll_interval
        due = agent.anchor + phase_of(self.camera.id, interval)
        now = loop.time()
        if due < now:
            due += math.ceil((now - due) / interval) * interval
        try:
            while not self.stopping:
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                agent.schedule.record(loop.time() - due)
                self.in_flight = True
                try:
                    await self.poll_once()
                finally:
                    self.in_flight = False
                due = self._next_due(due, loop.time(), interval)
        finally:
            if not agent.stopping:  # removed by a reload; at shutdown the last state stays
                self._set_state("stopped")
            agent.placeholders.release(self.last_digest, self)

    def _next_due(self, due: float, now: float, interval: float) -> float:
        """The next tick of this camera's grid: the following one, or later when backing off."""
        backing_off = self.consecutive_failures >= 2
        if backing_off:
            ceiling = min(BACKOFF_CAP_S, interval * 2 ** (self.consecutive_failures - 1))
            self.backoff_s = random.uniform(ceiling / 2, ceiling)
            earliest = now + self.backoff_s
        else:
            self.backoff_s = 0.0
            earliest = max(due + interval, now)
        ticks = max(1, math.ceil((earliest - due) / interval - 1e-9))
        if not backing_off:
            self.agent.schedule.skipped += ticks - 1
        return due + ticks * interval

    async def poll_once(self) -> None:
        agent = self.agent
        config = agent.config
        self.polls += 1
        url = poll_url(self.camera.image_url or "", int(time.time() * 1000))
        try:
            body = await fetch_frame(agent.session, url, agent.timeout, config.max_frame_bytes)
        except FetchFailure as failure:
            self._tally_now(time.time()).polls += 1
            self._failed(failure)
            return
        now = time.time()
        self._handle_body(body, now)

    # -- outcomes -------------------------------------------------------------------------------

    def _tally_now(self, now: float) -> PeriodTally:
        period = self._period
        ts_ms = int(now * 1000)
        if period is None or not period.contains(ts_ms):
            period = self._period = Period.containing(ts_ms, self.agent.config.period)
        root = self.agent.store.current_root
        key = (root, period)
        if key != self._tally_key:
            self._tally = self.agent.closer.tally(
                root,
                self.camera.id,
                period,
                self.camera.name,
                (self.camera.latitude, self.camera.longitude),
            )
            self._tally_key = key
        return self._tally

    def _failed(self, failure: FetchFailure) -> None:
        kind = failure.kind
        self.failures[kind] += 1
        self._tally.failures[kind] += 1
        self.consecutive_failures += 1
        self.last_failure = f"{failure}"[:200]
        self._set_state("failing", failure=kind, detail=self.last_failure)

    def _handle_body(self, body: bytes, now: float) -> None:
        agent = self.agent
        digest = frame_digest(body)
        tally = self._tally_now(now)
        tally.polls += 1
        registry = agent.placeholders
        if digest in registry.known or len(body) < TINY_FRAME_BYTES:
            self._placeholder(tally)
            return
        if digest == self.last_digest:
            self.duplicates += 1
            tally.duplicates += 1
            self.consecutive_failures = 0
            if self.unchanged_since is None:
                self.unchanged_since = now
            if now - self.unchanged_since >= agent.config.frozen_after:
                self._set_state("frozen", unchanged_s=round(now - self.unchanged_since))
            elif self.state not in ("ok", "frozen"):
                self._set_state("ok")
            return
        other = registry.claim(digest, self)
        if other is not None:
            other.take_back_placeholder(digest)
            self._placeholder(tally)
            return
        registry.release(self.last_digest, self)
        self.last_digest = digest
        self.unchanged_since = None
        self.consecutive_failures = 0
        if agent.guard.paused:
            self._drop(tally)
            self._set_state("ok")
            return
        try:
            stored = agent.store.write(self.camera.id, int(now * 1000), body, digest)
        except DiskFullError:
            agent.guard.disk_full(agent.store.current_root)
            self._drop(tally)
            return
        except OSError as exc:
            agent.write_failed(self.camera.id, exc)
            self._drop(tally)
            return
        if agent.write_errno is not None:
            agent.write_succeeded()
        self.last_stored = stored
        self.frames_stored += 1
        self.last_frame_at = now
        agent.frames_total += 1
        if self.state != "ok":
            self._set_state("ok")

    def _drop(self, tally: PeriodTally) -> None:
        self.dropped += 1
        tally.dropped += 1
        self.agent.guard.drop()

    def _placeholder(self, tally: PeriodTally) -> None:
        self.placeholders += 1
        tally.placeholders += 1
        self.consecutive_failures += 1
        self._set_state("offline")

    def take_back_placeholder(self, digest: str) -> None:
        """Another camera served our last stored frame: it was a placeholder; un-store it."""
        stored = self.last_stored
        if self.last_digest != digest:
            return
        self.last_digest = None
        if stored is None:
            return
        try:
            os.unlink(stored.path)
        except OSError:
            return
        self.last_stored = None
        self.frames_stored -= 1
        if self.frames_stored == 0:
            self.last_frame_at = None  # the only "frame" it had was the placeholder
        self.placeholders += 1
        self.agent.frames_total -= 1
        tally = self.agent.closer.tally(stored.root, self.camera.id, stored.period)
        tally.placeholders += 1
        self._set_state("offline")

    def _set_state(self, state: str, **fields: object) -> None:
        if state == self.state:
            return
        previous, self.state = self.state, state
        self.agent.log.info(
            "camera_state", camera=self.camera.id, state=state, previous=previous, **fields
        )

    def status(self, now: float) -> dict[str, object]:
        return {
            "id": self.camera.id,
            "name": self.camera.name,
            "state": self.state,
            "polls": self.polls,
            "frames_stored": self.frames_stored,
            "duplicates": self.duplicates,
            "placeholders": self.placeholders,
            "dropped": self.dropped,
            "failures": dict(self.failures),
            "last_failure": self.last_failure or None,
            "last_frame_age_s": (
                round(now - self.last_frame_at, 1) if self.last_frame_at is not None else None
            ),
            "backoff_s": round(self.backoff_s, 1),
            "consecutive_failures": self.consecutive_failures,
        }
