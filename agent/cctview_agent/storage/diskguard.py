"""The disk guard: keep the data volume from filling, by deleting what S3 holds, then by pausing.

It measures the folder ``data_dir`` points at now (the active volume) once a second, in bytes and
in inodes (``statvfs`` ``f_favail``: a volume of small frames runs out of inodes first). When free
space nears the reserve (below the low-water mark: the reserve plus 5 % of the volume, at most
2 GiB or 100,000 inodes), its
:class:`~cctview_agent.storage.reclaim.Reclaimer` deletes the oldest periods already verified in the
fleet's bucket, so a node keeps recording on a volume far smaller than its retention in days.
Only when that is not enough -- below ``reserve_bytes`` / ``reserve_inodes`` free with nothing
verified left, or right after a real ENOSPC -- do frame writes pause: pollers keep polling and
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
from cctview_agent.storage.reclaim import Reclaimer

MIN_RESUME_MARGIN = 256 * 1024
LOW_WATER_SHARE = 20  # reclaim below reserve + 1/20 of the volume (bytes and inodes alike),
MAX_LOW_WATER_BYTES = 2 * 1024**3  # at most 2 GiB (~80 min of 21 cameras) on a large volume
MAX_LOW_WATER_INODES = 100_000


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
    total_inodes: int = 0  # 0: the file system does not count inodes (btrfs): not checked
    free_inodes: int = 0

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
        total_inodes=st.f_files,
        free_inodes=st.f_favail,
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

    def __init__(
        self,
        reserve_bytes: int,
        log: EventLog,
        *,
        reserve_inodes: int = 0,
        reclaimer: Reclaimer | None = None,
    ) -> None:
        self.reserve_bytes = reserve_bytes
        self.reserve_inodes = reserve_inodes
        self.log = log
        self.reclaimer = reclaimer
        self.paused = False
        self.dropped = 0
        self.usage: DiskUsage | None = None
        self._reason = ""

    def resume_threshold(self) -> int:
        total = self.usage.total_bytes if self.usage else 0
        return self.reserve_bytes + max(MIN_RESUME_MARGIN, total // 100)

    def _below(self, usage: DiskUsage, *, low_water: bool) -> bool:
        """Free bytes or inodes under the reserve (or, with ``low_water``, under the mark)."""
        share = min(usage.total_bytes // LOW_WATER_SHARE, MAX_LOW_WATER_BYTES)
        spare_bytes = max(MIN_RESUME_MARGIN, share)
        if usage.free_bytes < self.reserve_bytes + (spare_bytes if low_water else 0):
            return True
        if not usage.total_inodes:
            return False
        spare_inodes = min(usage.total_inodes // LOW_WATER_SHARE, MAX_LOW_WATER_INODES)
        spare_inodes = spare_inodes if low_water else 0
        return usage.free_inodes < self.reserve_inodes + spare_inodes

    def _short(self, root: str) -> bool:
        try:
            self.usage = disk_usage(root)
        except OSError:
            return False
        return self._below(self.usage, low_water=True)

    def check(self, root: str) -> None:
        """Measure ``root``; reclaim verified periods when near the reserve, then pause or
        resume; a failing statvfs keeps the current state."""
        try:
            self.usage = usage = disk_usage(root)
        except OSError as exc:
            self.log.warning("disk_check_failed", root=root, error=exc.strerror or str(exc))
            return
        if self.reclaimer is not None and self._below(usage, low_water=True):
            try:
                self.reclaimer.reclaim(root, lambda: self._short(root))
            except OSError as exc:  # a deletion failed: the pause below still protects the disk
                self.log.warning("reclaim_failed", root=root, error=exc.strerror or str(exc))
            usage = self.usage or usage
        if not self.paused and self._below(usage, low_water=False):
            self._pause(root, "below_reserve")
        elif (
            self.paused
            and usage.free_bytes >= self.resume_threshold()
            and not (
                usage.total_inodes
                and usage.free_inodes < self.reserve_inodes + usage.total_inodes // 100
            )
        ):
            self.paused = False
            self.log.info(
                "disk_writing_resumed",
                root=root,
                free_bytes=usage.free_bytes,
                free_inodes=usage.free_inodes,
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
            free_inodes=self.usage.free_inodes if self.usage else None,
            reserve_bytes=self.reserve_bytes,
            reserve_inodes=self.reserve_inodes,
        )

    def drop(self) -> None:
        self.dropped += 1
