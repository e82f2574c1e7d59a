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
from typing import Any

from cctview_agent.agentlog import EventLog

MIN_RESUME_MARGIN = 256 * 1024


@dataclass(frozen=True, slots=True)
class DiskUsage:
    """A filesystem's size, what the agent may still write (``free_bytes``: available to a
    non-root user, as df's "Avail") and what is used (df's "Used").

    Reserved blocks (5 % of an ext4 by default) are neither used nor available, so ``used_percent``
    is df's "Use%": used / (used + available), rounded up to a whole percent. Counting them as
    used made a fresh volume look 5 % full and `rotate-volumes --threshold` disagree with `df`.
    """

    total_bytes: int
    free_bytes: int
    used_bytes: int | None = None  # None: total - free (a stand-in without statvfs's detail)

    @property
    def used_percent(self) -> float:
        used = self.total_bytes - self.free_bytes if self.used_bytes is None else self.used_bytes
        visible = used + self.free_bytes
        if visible <= 0:
            return 0.0
        return float(-(-used * 100 // visible))  # ceil, as coreutils df computes it


def disk_usage(path: str | os.PathLike[str]) -> DiskUsage:
    st = os.statvfs(path)
    return DiskUsage(
        total_bytes=st.f_blocks * st.f_frsize,
        free_bytes=st.f_bavail * st.f_frsize,
        used_bytes=(st.f_blocks - st.f_bfree) * st.f_frsize,
    )


def disk_fields(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``total_bytes``, ``free_bytes`` and ``used_percent`` as df shows them (None if unknown)."""
    try:
        usage = disk_usage(path)
    except OSError:
        return {"total_bytes": None, "free_bytes": None, "used_percent": None}
    return {
        "total_bytes": usage.total_bytes,
        "free_bytes": usage.free_bytes,
        "used_percent": usage.used_percent,
    }


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
