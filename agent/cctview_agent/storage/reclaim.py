"""Space-driven retention: free room on the active volume by deleting what S3 already holds.

Retention by days cannot fit a volume: an 8 GiB volume holds about 5.7 hours of 21 cameras, far
less than the two days the hourly sync keeps. So when the disk guard sees free space (bytes, or
inodes: a volume of small frames runs out of inodes first) near the reserve, it asks
:class:`Reclaimer` to delete periods that are *verified in the fleet's own bucket* (a receipt for
the agent config's bucket and prefix, see :mod:`cctview_agent.sync.receipts`), oldest first, until
the volume is above its low-water mark again. Nothing else is ever deleted here: a period without
such a receipt stays, and when no verified period is left the guard pauses writing as before.
Days stay an upper bound (the sync's ``--retain-days`` deletes older verified periods anyway).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cctview_agent.agentlog import EventLog
from cctview_agent.config import AgentConfig
from cctview_agent.errors import ManifestError
from cctview_agent.layout import DataLayout
from cctview_agent.manifests import Manifest
from cctview_agent.periods import Period
from cctview_agent.sync.receipts import SyncTarget, delete_period, receipt_counts

# Periods deleted per guard check at most: the guard runs in the agent's event loop, and an
# hour of one camera is ~3,600 unlinks. The next check (a second later) goes on if still needed.
MAX_PERIODS_PER_CHECK = 8
# When nothing was deletable, look again only after this long (a sync may have verified more);
# the guard checks every second, and reading every receipt each time would be wasted work.
IDLE_RETRY_S = 30.0


@dataclass(frozen=True, slots=True)
class VerifiedPeriod:
    """A period whose frames are still here and whose copy in the fleet's bucket is verified."""

    period: Period
    camera_id: str
    manifest_path: Path


def verified_periods(root: Path, target: SyncTarget | None) -> list[VerifiedPeriod]:
    """The deletable periods of one data folder, oldest first (none without a fleet bucket)."""
    if target is None:
        return []
    layout = DataLayout(root)
    found = [
        VerifiedPeriod(period, camera_id, path)
        for camera_id, period, path in layout.manifests()
        if receipt_counts(layout.receipt_path(camera_id, period), target)
    ]
    return sorted(found, key=lambda item: (item.period.start, item.camera_id))


class Reclaimer:
    """Deletes verified periods oldest first while the guard says space is short."""

    def __init__(self, config: AgentConfig, log: EventLog) -> None:
        self.target = SyncTarget.fleet(config)
        self.log = log
        self.deleted_periods = 0
        self._idle_until = 0.0

    def reclaim(self, root: str, short: Callable[[], bool]) -> int:
        """Delete while ``short()`` (re-measured after each period); returns periods deleted."""
        if self.target is None or time.monotonic() < self._idle_until or not short():
            return 0
        candidates = verified_periods(Path(root), self.target)
        if not candidates:
            self._idle_until = time.monotonic() + IDLE_RETRY_S
            return 0
        deleted = 0
        for item in candidates[:MAX_PERIODS_PER_CHECK]:
            try:
                manifest = Manifest.read(item.manifest_path)
            except ManifestError:
                continue  # unreadable: keep everything, a person should look
            frames = 0
            with contextlib.suppress(FileNotFoundError):  # a sync deleting it at the same time
                frames = delete_period(DataLayout(Path(root)), manifest, item.manifest_path)
            deleted += 1
            self.log.info(
                "period_reclaimed",
                camera=item.camera_id,
                period=item.period.key,
                frames=frames,
                bucket=str(self.target),
            )
            if not short():
                break
        self.deleted_periods += deleted
        return deleted
