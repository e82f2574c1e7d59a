"""One camera's poll loop: take a budget slot, poll, classify the answer, store, schedule next.

When to poll is the scheduler's business (scheduler.py: adaptive cadence or the fixed grid); what
an answer means is decided here, by content:

- a PNG, a digest two cameras served, or a tiny body is the service's offline card: ``offline``,
  not a failure; polled gently; counted as offline time (status, manifests);
- a JPEG whose picture (not bytes: pictures.py) equals the last stored one is a repeat, not
  stored; after ``frozen_after`` seconds of repeats the camera is ``frozen`` and the span is
  reported (status, manifest);
- anything else is a new frame, stored.

States: ``starting`` (no answer yet), ``ok``, ``frozen``, ``offline``, ``failing`` (errors,
backing off), ``stopped``. Each state change is one log line.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cctview_agent.cadence import Cadence, Mode
from cctview_agent.cameras import Camera
from cctview_agent.closer import PeriodTally
from cctview_agent.fetch import FetchFailure, fetch_frame, poll_url
from cctview_agent.layout import DataLayout
from cctview_agent.manifests import frame_digest
from cctview_agent.periods import Period
from cctview_agent.pictures import Thumbnail, is_png, same_picture, thumbnail
from cctview_agent.restartgap import RestartGap
from cctview_agent.scheduler import Polling, backoff_s, grid_next, phase_of
from cctview_agent.storage import DiskFullError, StoredFrame

if TYPE_CHECKING:
    from cctview_agent.camerastate import CameraState
    from cctview_agent.pollerhost import PollerHost

TINY_FRAME_BYTES = 1024
NEW, SAME, OFFLINE, FAILED = "new", "same", "offline", "failed"


class CameraPoller:
    """Polls one camera until stopped; all counters live here and in the period tallies.

    ``agent`` is the process that runs it, seen only through :class:`PollerHost`.
    """

    def __init__(self, camera: Camera, agent: PollerHost) -> None:
        self.camera = camera
        self.agent = agent
        self.state: CameraState = "starting"
        self.stopping = False
        self.in_flight = False
        self.task: asyncio.Task[None] | None = None
        self.frames_stored = 0
        self.duplicates = 0
        self.same_pictures = 0  # new bytes, same picture (a frozen feed's ticking clock)
        self.placeholders = 0
        self.dropped = 0
        self.polls = 0
        self.failures: Counter[str] = Counter()
        self.consecutive_failures = 0
        self.backoff_s = 0.0
        self.retry_after_s = 0.0
        self.last_failure = ""
        self.last_digest: str | None = None
        self.last_picture: Thumbnail | None = None
        self.last_stored: StoredFrame | None = None
        self.last_frame_at: float | None = None  # wall clock of the last new frame
        self.unchanged_since: float | None = None
        self.offline_s = 0.0
        self.frozen_s = 0.0
        self._polled_at: float | None = None  # wall clock of the previous answer
        self.restart: RestartGap | None = None  # the gap since the previous run's last frame
        self.cadence = Cadence(
            learn_step=agent.config.learn_step, relearn_s=agent.config.relearn_after
        )
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
                await agent.budget.acquire()
                sent = loop.time()
                agent.schedule.record(sent - due)
                self.in_flight = True
                try:
                    outcome = await self.poll_once()
                finally:
                    self.in_flight = False
                received = loop.time()
                due = self._after(outcome, due, sent, received)
        finally:
            if not agent.stopping:  # removed by a reload; at shutdown the last state stays
                self._set_state("stopped")
            agent.placeholders.release(self.last_digest, self)
            agent.learning.release(self)

    def _after(self, outcome: str, due: float, sent: float, received: float) -> float:
        """The next poll's time on the loop's clock, after a poll with ``outcome``."""
        config = self.agent.config
        if self.retry_after_s:  # the service said when: not one request before that
            wait, self.retry_after_s = self.retry_after_s, 0.0
            earliest = received + wait
            if config.polling is Polling.GRID:
                return grid_next(due, earliest, config.poll_interval)[0]
            return earliest
        if config.polling is Polling.GRID:
            return self._next_due(due, received, config.poll_interval)
        if outcome == FAILED and self.consecutive_failures >= 2:
            self.backoff_s = backoff_s(self.consecutive_failures, config.poll_interval)
            return received + self.backoff_s
        self.backoff_s = 0.0
        if outcome in (FAILED, OFFLINE):
            self.cadence.lost()
        else:
            self.cadence.observe((sent + received) / 2, changed=outcome == NEW)
        if self.state in ("offline", "frozen"):
            return received + config.offline_poll_interval
        if outcome == FAILED:
            return received + config.poll_interval
        if self.cadence.mode is Mode.TRACKING:
            self.agent.learning.release(self)
        elif not self.agent.may_learn(self):
            return received + config.poll_interval  # its turn to learn comes; poll at 1 Hz
        return max(received, self.cadence.next_poll((sent + received) / 2))

    def _next_due(self, due: float, now: float, interval: float) -> float:
        """The grid policy: the following tick, or a later one when backing off."""
        backing_off = self.consecutive_failures >= 2
        if backing_off:
            self.backoff_s = backoff_s(self.consecutive_failures, interval)
            earliest = now + self.backoff_s
        else:
            self.backoff_s = 0.0
            earliest = max(due + interval, now)
        following, skipped = grid_next(due, earliest, interval)
        if not backing_off:
            self.agent.schedule.skipped += skipped
        return following

    async def poll_once(self) -> str:
        agent = self.agent
        config = agent.config
        self.polls += 1
        url = poll_url(self.camera.image_url or "", int(time.time() * 1000))
        try:
            body = await fetch_frame(agent.session, url, agent.timeout, config.max_frame_bytes)
        except FetchFailure as failure:
            now = time.time()
            self._count_offline_time(now)
            self._tally_now(now).polls += 1
            self._failed(failure)
            return FAILED
        now = time.time()
        self._count_offline_time(now)
        return self._handle_body(body, now)

    # -- outcomes -------------------------------------------------------------------------------

    def _count_offline_time(self, now: float) -> None:
        """Time since the previous answer counts as offline when the camera was offline."""
        previous, self._polled_at = self._polled_at, now
        if previous is not None and self.state == "offline":
            elapsed = max(0.0, now - previous)
            self.offline_s += elapsed
            self._tally_now(now).offline_s += elapsed

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
            if self.state == "frozen" and self._tally.frozen_since_ms is None:
                self._tally.frozen_since_ms = period.start_ms  # a span that crosses periods
        return self._tally

    def _failed(self, failure: FetchFailure) -> None:
        kind = failure.kind
        self.failures[kind] += 1
        self._tally.failures[kind] += 1
        self.consecutive_failures += 1
        self.last_failure = f"{failure}"[:200]
        if kind == "http_403":
            self.agent.budget.forbidden(asyncio.get_running_loop().time())
        if failure.retry_after is not None:
            # Honoured exactly (plus a little, never less): the next request waits it out.
            self.retry_after_s = failure.retry_after + random.uniform(0.05, 0.25)
        self._set_state("failing", failure=kind, detail=self.last_failure)

    def _handle_body(self, body: bytes, now: float) -> str:
        agent = self.agent
        digest = frame_digest(body)
        tally = self._tally_now(now)
        tally.polls += 1
        registry = agent.placeholders
        if is_png(body) or digest in registry.known or len(body) < TINY_FRAME_BYTES:
            self._placeholder(tally)
            return OFFLINE
        if digest == self.last_digest:
            self.duplicates += 1
            tally.duplicates += 1
            self._unchanged(tally, now)
            return SAME
        picture = thumbnail(body)
        previous = self.last_picture
        if picture is not None and previous is not None and same_picture(previous, picture):
            self.same_pictures += 1
            tally.same_pictures += 1
            self._unchanged(tally, now)
            return SAME
        other = registry.claim(digest, self)
        if other is not None:
            other.take_back_placeholder(digest)
            self._placeholder(tally)
            return OFFLINE
        registry.release(self.last_digest, self)
        self.last_digest = digest
        self.last_picture = picture
        self.consecutive_failures = 0
        self._changed(tally, now)
        if agent.guard.paused:
            self._drop(tally)
            self._set_state("ok")
            return NEW
        try:
            stored = agent.store.write(self.camera.id, int(now * 1000), body, digest)
        except DiskFullError:
            agent.guard.disk_full(agent.store.current_root)
            self._drop(tally)
            return NEW
        except OSError as exc:
            agent.write_failed(self.camera.id, exc)
            self._drop(tally)
            return NEW
        agent.write_succeeded()
        self.last_stored = stored
        self.frames_stored += 1
        self.last_frame_at = now
        agent.frames_total += 1
        if self.restart is not None:
            self.restart.stored(int(now * 1000))
        if self.state != "ok":
            self._set_state("ok")
        return NEW

    def _unchanged(self, tally: PeriodTally, now: float) -> None:
        """The same picture again: not stored; frozen once it lasted ``frozen_after``."""
        self.consecutive_failures = 0
        if self.unchanged_since is None:
            self.unchanged_since = self.last_frame_at if self.last_frame_at is not None else now
        unchanged = now - self.unchanged_since
        if unchanged >= self.agent.config.frozen_after:
            if self.state != "frozen":
                start_ms = int(self.unchanged_since * 1000)
                period_start = self._period.start_ms if self._period is not None else 0
                tally.frozen_since_ms = max(start_ms, period_start)
                self._set_state("frozen", unchanged_s=round(unchanged))
        elif self.state not in ("ok", "frozen"):
            self._set_state("ok")

    def _changed(self, tally: PeriodTally, now: float) -> None:
        """A new picture: a frozen span (if any) ends here."""
        if self.state == "frozen" and self.unchanged_since is not None:
            self.frozen_s += now - self.unchanged_since
            since = tally.frozen_since_ms
            if since is not None:
                tally.frozen_spans.append((since, int(now * 1000)))
                tally.frozen_since_ms = None
        self.unchanged_since = None

    def _drop(self, tally: PeriodTally) -> None:
        self.dropped += 1
        tally.dropped += 1
        self.agent.guard.drop()

    def _placeholder(self, tally: PeriodTally) -> None:
        self.placeholders += 1
        tally.placeholders += 1
        if self.agent.config.polling is Polling.GRID:
            self.consecutive_failures += 1  # the grid's historical backoff for offline cameras
        self._set_state("offline")

    def take_back_placeholder(self, digest: str) -> None:
        """Another camera served our last stored frame: it was a placeholder; un-store it, unless
        its period is closed (its manifest lists it: then it stays, see placeholders.py)."""
        stored = self.last_stored
        if self.last_digest != digest:
            return
        self.last_digest = None
        self.last_picture = None
        if stored is None:
            return
        layout = DataLayout(Path(stored.root))
        if layout.manifest_path(self.camera.id, stored.period).exists():
            self.agent.log.info(
                "placeholder_kept",
                camera=self.camera.id,
                frame=str(stored.path),
                period=stored.period.key,
            )
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

    def _set_state(self, state: CameraState, **fields: object) -> None:
        if state == self.state:
            return
        previous, self.state = self.state, state
        self.agent.log.info(
            "camera_state", camera=self.camera.id, state=state, previous=previous, **fields
        )

    def status(self, now: float) -> dict[str, Any]:
        frozen_s = self.frozen_s
        if self.state == "frozen" and self.unchanged_since is not None:
            frozen_s += now - self.unchanged_since
        cadence = self.cadence
        return {
            "id": self.camera.id,
            "name": self.camera.name,
            "state": self.state,
            "polls": self.polls,
            "frames_stored": self.frames_stored,
            "duplicates": self.duplicates,
            "same_pictures": self.same_pictures,
            "placeholders": self.placeholders,
            "dropped": self.dropped,
            "failures": dict(self.failures),
            "last_failure": self.last_failure or None,
            "last_frame_age_s": (
                round(now - self.last_frame_at, 1) if self.last_frame_at is not None else None
            ),
            "backoff_s": round(self.backoff_s, 1),
            "consecutive_failures": self.consecutive_failures,
            "offline_s": round(self.offline_s, 1),
            "frozen_s": round(frozen_s, 1),
            "cadence": {
                "mode": cadence.mode.value,
                "period_s": round(cadence.period, 3) if cadence.period is not None else None,
                "spacing_s": round(cadence.spacing, 3),
            },
            "restart": self.restart.to_dict(cadence) if self.restart is not None else None,
        }
