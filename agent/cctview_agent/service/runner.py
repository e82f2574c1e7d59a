"""The running agent: one asyncio process, one TaskGroup, one task per camera.

    Agent.main
    ├── CameraPoller.run   x N   poll when due (polling/scheduler.py), within the node's request
    │                             budget (polling/budget.py), classify and store (polling/poller.py)
    ├── closer loop               close camera-periods after end + grace (storage/closer.py)
    ├── disk guard loop           pause/resume frame writes on free space (storage/diskguard.py)
    └── status loop               rewrite the status file every ~2 s (status.py)

Signals: SIGHUP re-reads the assignment (added cameras start, removed ones stop after their
in-flight poll, unchanged ones keep their schedule); SIGTERM/SIGINT stop every task (a frame write
is synchronous, so it is never interrupted half way), close what is due, write a last status and
exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import ssl
import time
from collections import deque
from pathlib import Path
from typing import Any

import aiohttp

from cctview_agent import __version__
from cctview_agent.agentlog import EventLog, close_log, open_log
from cctview_agent.assignment import diff_assignment, load_assignment
from cctview_agent.atomicfile import remove_temporaries
from cctview_agent.cameras import Camera
from cctview_agent.config import AgentConfig
from cctview_agent.errors import CctviewError, ConfigError
from cctview_agent.layout import DataLayout
from cctview_agent.periods import Period
from cctview_agent.polling.budget import RequestBudget
from cctview_agent.polling.cadence import Mode
from cctview_agent.polling.fetch import open_session
from cctview_agent.polling.pictures import can_compare_pictures
from cctview_agent.polling.placeholders import PlaceholderRegistry
from cctview_agent.polling.poller import CameraPoller
from cctview_agent.polling.restartgap import (
    RestartGap,
    learnt_intervals,
    previous_frame_body,
    previous_frames,
)
from cctview_agent.polling.scheduler import LearningSlots, ScheduleStats
from cctview_agent.service import eventloop
from cctview_agent.service.pidfile import acquire
from cctview_agent.service.status import newest_receipt, write_status
from cctview_agent.storage.closer import PeriodCloser, data_roots, remove_stale_journals
from cctview_agent.storage.diskguard import DiskGuard
from cctview_agent.storage.frames import FrameStore
from cctview_agent.storage.reclaim import Reclaimer

STATUS_EVERY_S = 2.0
CLOSE_EVERY_S = 1.0
DISK_EVERY_S = 1.0
RECEIPTS_EVERY_S = 30.0


class Agent:
    """Holds what the camera tasks share: session, store, guard, closer, counters, log."""

    def __init__(self, config: AgentConfig, log: EventLog) -> None:
        self.config = config
        self.log = log
        self.store = FrameStore(config.data_dir, config.period)
        self.guard = DiskGuard(
            config.reserve_bytes,
            log,
            reserve_inodes=config.reserve_inodes,
            reclaimer=Reclaimer(config, log),  # space-driven retention (storage/reclaim.py)
        )
        self.closer = PeriodCloser(config, self.store, log)
        self.placeholders = PlaceholderRegistry()
        self.schedule = ScheduleStats()
        self.budget = RequestBudget(config.max_requests_per_s)
        self.learning = LearningSlots(config.max_requests_per_s, config.poll_interval)
        self._modes_at = -1.0
        self._modes = (0, 0)  # cameras waiting to learn, cameras tracking (recounted each second)
        self.timeout = aiohttp.ClientTimeout(total=config.timeout)
        self.session: aiohttp.ClientSession
        self.pollers: dict[str, CameraPoller] = {}
        self.frames_total = 0
        self.anchor = 0.0
        self.started_at = time.time()
        self._stop = asyncio.Event()
        self._group: asyncio.TaskGroup | None = None
        self._fpm_samples: deque[tuple[float, int]] = deque()
        self._last_synced: str | None = None
        self._receipts_at = 0.0
        self.write_errno: int | None = None
        self.learnt: dict[str, float] = {}  # the previous run's cadences (restartgap.py)

    # -- start-up ------------------------------------------------------------------------------

    def prepare(self) -> list[Camera]:
        """Everything before polling: clean crash leftovers, adopt open periods, read cameras."""
        cameras = load_assignment(self.config.assignment)
        self.learnt = learnt_intervals(self.config.status_file)  # before this run rewrites it
        try:
            root = Path(self.store.resolve_root())
            root.mkdir(parents=True, exist_ok=True)
            probe = root / f".write-probe.{os.getpid()}.tmp"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(
                f"data_dir {self.config.data_dir} is not a writable folder: {exc.strerror or exc}",
                key="data_dir",
            ) from exc
        removed = 0
        for data_root in data_roots(self.config, self.store):
            removed += remove_temporaries(Path(data_root) / "frames")
            removed += remove_temporaries(Path(data_root) / "manifests")
            remove_stale_journals(Path(data_root))
        self.closer.scan_all()
        closed = self.closer.close_due()
        self.log.info(
            "agent_started",
            version=__version__,
            pid=os.getpid(),
            cameras=len(cameras),
            data_dir=str(self.config.data_dir),
            active_volume=self.store.current_root,
            temporaries_removed=removed,
            periods_closed=closed,
            event_loop=eventloop.loop_factory()[0],
            polling=self.config.polling.value,
            max_requests_per_s=self.config.max_requests_per_s,
        )
        if not can_compare_pictures():
            self.log.warning(
                "picture_compare_unavailable",
                detail="libturbojpeg not found: frames are compared by bytes, so a frozen feed "
                "with a ticking clock is stored; install the Debian package libturbojpeg0",
            )
        return cameras

    async def main(self, cameras: list[Camera], *, reload_at_start: bool = False) -> None:
        loop = asyncio.get_running_loop()
        try:
            self.session = open_session(self.config.ca_file, user_agent=user_agent(self.config))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"ca_file {self.config.ca_file} is not a usable CA bundle: {exc}", key="ca_file"
            ) from exc
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop, signum)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        self.anchor = loop.time()
        self.guard.check(self.store.resolve_root())
        try:
            async with self.session, asyncio.TaskGroup() as group:
                self._group = group
                group.create_task(self._every(CLOSE_EVERY_S, self._close_tick))
                group.create_task(self._every(DISK_EVERY_S, self._disk_tick))
                group.create_task(self._every(STATUS_EVERY_S, self._status_tick))
                for camera in cameras:
                    self._start(camera, restarted=True)
                if reload_at_start:  # a SIGHUP came while starting: the file may be newer
                    self.reload()
                self._status_tick()
        finally:
            self._group = None
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(signum)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a late reload must not kill the exit
        self.closer.close_due()
        self.store.close()
        self._status_tick(running=False)
        self.log.info("agent_stopped", frames_stored=self.frames_total)

    # -- cameras -------------------------------------------------------------------------------

    def _start(self, camera: Camera, *, restarted: bool = False) -> None:
        """Poll ``camera``; ``restarted``: it was assigned when the agent started, so its gap
        since the previous run's last frame is measured (a few listings of its folders)."""
        assert self._group is not None
        poller = CameraPoller(camera, self)
        if restarted:
            layout = DataLayout(Path(self.store.current_root))
            previous = previous_frames(layout, camera.id, self.learnt.get(camera.id))
            if previous is not None:
                poller.restart = RestartGap(previous)
                newest = previous_frame_body(
                    layout, camera.id, previous, self.config.max_frame_bytes
                )
                if newest is not None:
                    poller.continue_from(newest)
        self.pollers[camera.id] = poller
        poller.task = self._group.create_task(poller.run(), name=f"camera-{camera.id}")
        poller.task.add_done_callback(lambda _task: self._ended(camera.id, poller))

    def _ended(self, camera_id: str, poller: CameraPoller) -> None:
        if self.pollers.get(camera_id) is poller and not self.stopping:
            del self.pollers[camera_id]

    def _retire(self, poller: CameraPoller) -> None:
        """Stop a camera after its in-flight poll (a sleeping one stops at once)."""
        poller.stopping = True
        if not poller.in_flight and poller.task is not None:
            poller.task.cancel()

    def reload(self) -> None:
        """SIGHUP: apply the assignment file's changes without touching unchanged cameras."""
        if self._group is None or self._stop.is_set():
            return
        try:
            cameras = load_assignment(self.config.assignment)
        except CctviewError as exc:
            self.log.error("reload_failed", error=str(exc), kept_cameras=len(self.pollers))
            return
        current = [p.camera for p in self.pollers.values() if not p.stopping]
        change = diff_assignment(current, cameras)
        by_id = {camera.id: camera for camera in cameras}
        for camera_id in change.removed:
            self._retire(self.pollers[camera_id])
        for camera_id in change.changed + change.unchanged:
            self.pollers[camera_id].camera = by_id[camera_id]  # new URL or name, same schedule
        for camera_id in change.added:
            self._start(by_id[camera_id])
        self.log.info(
            "assignment_reloaded",
            cameras=len(cameras),
            added=len(change.added),
            removed=len(change.removed),
            changed=len(change.changed),
        )

    def may_learn(self, poller: CameraPoller) -> bool:
        """Whether ``poller`` may learn its cadence now (LearningSlots), from this second's count
        of cameras waiting to learn and cameras tracking."""
        now = time.monotonic()
        if now - self._modes_at >= 1.0:
            self._modes_at = now
            tracking = sum(p.cadence.mode is Mode.TRACKING for p in self.pollers.values())
            learners = len(self.learning.learners)
            self._modes = (len(self.pollers) - tracking - learners, tracking)
        return self.learning.admit(poller, *self._modes)

    def write_failed(self, camera_id: str, exc: OSError) -> None:
        """Log a failing frame write once per kind of error, not once per frame."""
        if exc.errno != self.write_errno:
            self.write_errno = exc.errno
            self.log.error("frame_write_failed", camera=camera_id, error=str(exc))

    def write_succeeded(self) -> None:
        if self.write_errno is not None:
            self.write_errno = None
            self.log.info("frame_writes_recovered")

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self, signum: int = signal.SIGTERM) -> None:
        if self._stop.is_set():
            return
        self.log.info("agent_stopping", signal=signal.Signals(signum).name)
        self._stop.set()
        for poller in list(self.pollers.values()):
            poller.stopping = True
            if poller.task is not None:
                poller.task.cancel()

    # -- maintainers ---------------------------------------------------------------------------

    async def _every(self, seconds: float, tick: Any) -> None:
        """Run ``tick`` every ``seconds`` until stop; sleeps on the stop event, not blindly."""
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), seconds)
            if not self._stop.is_set():
                tick()

    def _close_tick(self) -> None:
        self.closer.close_due()

    def _disk_tick(self) -> None:
        self.guard.check(self.store.resolve_root())

    def _status_tick(self, running: bool = True) -> None:
        try:
            write_status(self.config.status_file, self.status(running=running))
        except OSError as exc:
            self.log.error("status_write_failed", error=exc.strerror or str(exc))

    # -- status --------------------------------------------------------------------------------

    def _frames_per_minute(self, now: float) -> float:
        samples = self._fpm_samples
        samples.append((now, self.frames_total))
        while len(samples) > 2 and now - samples[1][0] >= 60:
            samples.popleft()
        first_t, first_n = samples[0]
        if now - first_t < 1:
            return 0.0
        return round((self.frames_total - first_n) / (now - first_t) * 60, 1)

    def status(self, *, running: bool = True) -> dict[str, Any]:
        now = time.time()
        cameras = [p.status(now) for p in sorted(self.pollers.values(), key=lambda p: p.camera.id)]
        usage = self.guard.usage
        if now - self._receipts_at >= RECEIPTS_EVERY_S:
            self._receipts_at = now
            self._last_synced = newest_receipt(Path(self.store.current_root))
        last_closed = self.closer.last_closed
        return {
            "node": self.config.node,
            "agent_version": __version__,
            "pid": os.getpid(),
            "running": running,
            "started_at_ms": int(self.started_at * 1000),
            "updated_at_ms": int(now * 1000),
            "data_dir": str(self.config.data_dir),
            "active_volume": self.store.current_root,
            "disk": {
                "total_bytes": usage.total_bytes if usage else None,
                "free_bytes": usage.free_bytes if usage else None,
                "used_percent": usage.used_percent if usage else None,
                "reserve_bytes": self.config.reserve_bytes,
                "writing_paused": self.guard.paused,
                "dropped_frames": self.guard.dropped,
            },
            "open_period": Period.current(self.config.period, now=now).key,
            "last_closed_period": last_closed.key if last_closed else None,
            "last_synced_period": self._last_synced,
            "totals": {
                "cameras": len(cameras),
                "cameras_ok": sum(1 for c in cameras if c["state"] == "ok"),
                "cameras_offline": sum(1 for c in cameras if c["state"] == "offline"),
                "cameras_frozen": sum(1 for c in cameras if c["state"] == "frozen"),
                "offline_s": round(sum(c["offline_s"] for c in cameras), 1),
                "same_pictures": sum(c["same_pictures"] for c in cameras),
                "frames_stored": self.frames_total,
                "frames_per_minute": self._frames_per_minute(now),
                "duplicates": sum(c["duplicates"] for c in cameras),
                "placeholders": sum(c["placeholders"] for c in cameras),
                "failures": sum(sum(c["failures"].values()) for c in cameras),
                "periods_closed": self.closer.closed_count,
            },
            "schedule": self.schedule.to_dict(),
            "budget": {
                "polling": self.config.polling.value,
                "max_requests_per_s": self.config.max_requests_per_s,
                "granted": self.budget.granted,
                "waited": self.budget.waited,
                "peak_per_s": self.budget.peak,
                "slowed_by_403": self.budget.slowed_now(),
            },
            "cameras": cameras,
        }


def user_agent(config: AgentConfig) -> str:
    """Names the project and, when the operator set one, whom to contact: the service's operators
    see who polls them and how to reach them before they block anyone."""
    contact = f"; contact: {config.contact}" if config.contact else ""
    return f"cctview-agent/{__version__} (cctview-fleet traffic-camera collector{contact})"


def run_agent(config: AgentConfig) -> int:
    """``cctview-agent run``: hold the pid file, log, poll until a stop signal; exit code."""
    # From the moment the pid file names this process, `assign` may send SIGHUP: remember it
    # until the event loop handles signals (SIGHUP's default action would end the process).
    early_reload: list[int] = []
    signal.signal(signal.SIGHUP, lambda signum, _frame: early_reload.append(signum))
    try:
        lock = acquire(config)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the pid file beside status_file {config.status_file}: "
            f"{exc.strerror or exc}",
            key="status_file",
        ) from exc
    try:
        log = open_log(config.log_file, config.log_max_bytes)
    except OSError as exc:
        lock.release()
        raise ConfigError(
            f"cannot open log_file {config.log_file}: {exc.strerror or exc}", key="log_file"
        ) from exc
    try:
        agent = Agent(config, log)
        cameras = agent.prepare()
        eventloop.run(agent.main(cameras, reload_at_start=bool(early_reload)))
    except CctviewError as exc:
        log.error("agent_failed", error=str(exc))
        raise
    finally:
        close_log()
        lock.release()
    return 0
