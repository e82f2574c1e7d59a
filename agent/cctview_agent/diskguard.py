"""The disk guard: stop writing frames before the data volume fills, resume when space returns.

It measures the folder ``data_dir`` points at now (the active volume) once a second. Below
``reserve_bytes`` free, or right after a real ENOSPC, frame writes pause: pollers keep polling and
count each frame they would have stored as dropped, so status and manifests show the loss. Writes
resume once free space is back above the reserve plus a margin (hysteresis, so the guard does not
flap at the edge). Each transition is logged once.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from cctview_agent.agentlog import EventLog

MIN_RESUME_MARGIN = 256 * 1024


@dataclass(frozen=True, slots=True)
class DiskUsage:
    total_bytes: int
    free_bytes: int

    @property
    def used_percent(self) -> float:
        if not self.total_bytes:
            return 0.0
        return round((self.total_bytes - self.free_bytes) / self.total_bytes * 100, 1)


def disk_usage(path: str) -> DiskUsage:
    st = os.statvfs(path)
    return DiskUsage(st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize)


class DiskGuard:
    """Decides whether frames may be written; the pollers ask :attr:`paused` before each write."""

    def __init__(self, reserve_bytes: int, log: EventLog) -> None:
        self.reserve_bytes = reserve_bytes
        self.log = log
        self.paused = False
        self.dropped = 0
        self.usage: DiskUsage | None = None
        self._reason = ""

    def resume_threshold(self) -> int:
        total = self.usage.total_bytes if self.usage else 0
        return self.reserve_bytes + max(MIN_RESUME_MARGIN, total // 100)

    def check(self, root: str) -> None:
        """Measure ``root`` and pause or resume; a failing statvfs keeps the current state."""
        try:
            self.usage = usage = disk_usage(root)
        except OSError as exc:
            self.log.warning("disk_check_failed", root=root, error=exc.strerror or str(exc))
            return
        if not self.paused and usage.free_bytes < self.reserve_bytes:
            self._pause(root, "below_reserve")
        elif self.paused and usage.free_bytes >= self.resume_threshold():
            self.paused = False
            self.log.info(
                "disk_writing_resumed",
                root=root,
                free_bytes=usage.free_bytes,
                dropped_frames=self.dropped,
            )

    def disk_full(self, root: str) -> None:
        """A write hit ENOSPC: pause at once (the next check decides when to resume)."""
        if not self.paused:
            with contextlib.suppress(OSError):
                self.usage = disk_usage(root)
            self._pause(root, "enospc")

    def _pause(self, root: str, reason: str) -> None:
        self.paused = True
        self._reason = reason
        self.log.warning(
            "disk_writing_paused",
            root=root,
            reason=reason,
            free_bytes=self.usage.free_bytes if self.usage else None,
            reserve_bytes=self.reserve_bytes,
        )

    def drop(self) -> None:
        self.dropped += 1
