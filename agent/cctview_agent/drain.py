"""Draining and retiring an old data volume: where its periods stand on their way to S3.

A volume is retired only when it is not active and every period on it has a sync receipt (the
syncer writes one only after it verified the object in S3). The rule lives here, on the node, so
no operator tool can remove a volume whose frames are not safe: ``rotate-volumes`` asks
:func:`drain_status` and then :func:`retire_volume`, which checks again.

A period is *verified* (receipt), *complete* (manifest, no receipt yet) or *open* (frames, no
manifest: the agent's closer writes it after the period's end plus grace).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cctview_agent import blockdevices
from cctview_agent.atomicfile import write_atomic
from cctview_agent.config import AgentConfig
from cctview_agent.diskguard import disk_fields
from cctview_agent.errors import DataVolumeError
from cctview_agent.layout import DataLayout, frame_timestamp
from cctview_agent.periods import HOUR, Period
from cctview_agent.volumes import (
    FSTAB,
    VOLUME_ID,
    active_volume,
    remove_fstab_line,
    resolve_mode,
    retired_marker,
    volume_path,
)

# -- drain ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenPeriod:
    camera_id: str
    period: Period
    frames: int
    closable_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "camera_id": self.camera_id,
            "period": self.period.key,
            "frames": self.frames,
            "closable_at": self.closable_at,
        }


@dataclass(frozen=True, slots=True)
class DrainStatus:
    """Where the periods on one volume stand on their way to S3."""

    volume_id: str
    path: Path
    exists: bool
    active: bool
    mounted: bool
    retired: bool
    verified: int = 0
    unverified: tuple[str, ...] = ()  # "<camera>/<period-key>", complete but no receipt yet
    open: tuple[OpenPeriod, ...] = field(default_factory=tuple)

    @property
    def drained(self) -> bool:
        """Safe to let go: retired already, or inactive with every period verified in S3."""
        return self.retired or (
            self.exists and not self.active and not self.unverified and not self.open
        )

    @property
    def next_closable_at(self) -> float | None:
        return max((p.closable_at for p in self.open), default=None)

    def reason(self) -> str:
        """Why the volume is not drained, in one clause (empty when it is)."""
        if self.drained:
            return ""
        if not self.exists:
            return f"{self.path} does not exist (not mounted? run volume prepare to mount it)"
        parts = []
        if self.active:
            parts.append("it is the active volume")
        if self.unverified:
            parts.append(f"{len(self.unverified)} complete periods are not yet verified in S3")
        if self.open:
            when = time.strftime("%H:%M:%S", time.gmtime(self.next_closable_at or 0))
            parts.append(f"{len(self.open)} periods are still open (closable at {when} UTC)")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "volume_id": self.volume_id,
            "path": str(self.path),
            "exists": self.exists,
            "active": self.active,
            "mounted": self.mounted,
            "retired": self.retired,
            "drained": self.drained,
            "verified": self.verified,
            "unverified": list(self.unverified),
            "open": [p.to_dict() for p in self.open],
            "next_closable_at": self.next_closable_at,
            "open_frames": sum(p.frames for p in self.open),
            "reason": self.reason(),
        }


def _receipts(layout: DataLayout) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    try:
        cameras = list(os.scandir(layout.synced_root))
    except FileNotFoundError:
        return found
    for camera in cameras:
        if camera.is_dir():
            for name in os.listdir(camera.path):
                if name.endswith(".json") and not name.startswith("."):
                    found.add((camera.name, name[: -len(".json")]))
    return found


def _settled_hour(
    camera_id: str, hour_dir: Path, settled: set[tuple[str, str]], length: int
) -> bool:
    """True when every period of an ``<YYYY-MM-DD>/<HH>`` folder has a manifest or a receipt:
    its frames need not be listed (in production, period = hour: one lookup per folder)."""
    try:
        start = datetime.strptime(f"{hour_dir.parent.name} {hour_dir.name}", "%Y-%m-%d %H")
    except ValueError:
        return False
    first = int(start.replace(tzinfo=UTC).timestamp())
    return all(
        (camera_id, Period(first + i * length, length).key) in settled
        for i in range(HOUR // length)
    )


def _open_periods(
    layout: DataLayout, settled: set[tuple[str, str]], length: int, grace: float
) -> list[OpenPeriod]:
    """Periods with frames but neither a manifest nor a receipt.

    The drain loop asks this every few seconds of a volume that may hold half a million frames,
    so hour folders whose periods are all settled are skipped without being listed.
    """
    counts: dict[tuple[str, Period], int] = {}
    for camera_id in layout.camera_ids():
        for hour_dir in sorted(layout.camera_dir(camera_id).glob("*/*")):
            if not hour_dir.is_dir() or _settled_hour(camera_id, hour_dir, settled, length):
                continue
            for name in os.listdir(hour_dir):
                ts_ms = frame_timestamp(name)
                if ts_ms is None:
                    continue
                period = Period.containing(ts_ms, length)
                if (camera_id, period.key) not in settled:
                    counts[(camera_id, period)] = counts.get((camera_id, period), 0) + 1
    return [
        OpenPeriod(camera_id, period, frames, period.end + grace)
        for (camera_id, period), frames in sorted(counts.items())
    ]


def drain_status(config: AgentConfig, volume_id: str, *, mode: str | None = None) -> DrainStatus:
    """Count the volume's periods: verified (receipt), complete but unverified, still open."""
    path = volume_path(config, volume_id)
    active = active_volume(config) == volume_id
    retired = retired_marker(config, volume_id).exists()
    mounted = blockdevices.is_mounted(path)
    # In block mode an empty folder that is not a mount point is where the volume is not mounted
    # (after a reboot, on a replaced instance): "not there", never "empty, so drained".
    exists = path.is_dir() and (
        mounted or resolve_mode(config, mode) == "folder" or any(path.iterdir())
    )
    base = DrainStatus(volume_id, path, exists, active, mounted, retired)
    if not exists or retired:
        return base
    layout = DataLayout(path)
    receipts = _receipts(layout)
    complete = {(camera_id, period.key) for camera_id, period, _path in layout.manifests()}
    unverified = sorted(f"{c}/{k}" for c, k in complete - receipts)
    open_periods = _open_periods(layout, complete | receipts, config.period, config.grace)
    return DrainStatus(
        volume_id,
        path,
        exists=True,
        active=active,
        mounted=mounted,
        retired=False,
        verified=len(receipts),
        unverified=tuple(unverified),
        open=tuple(open_periods),
    )


# -- retire --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetireResult:
    volume_id: str
    mode: str
    verified: int
    already: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "volume_id": self.volume_id,
            "mode": self.mode,
            "verified": self.verified,
            "already": self.already,
        }


def retire_volume(
    config: AgentConfig, volume_id: str, *, mode: str | None = None, fstab: Path | None = FSTAB
) -> RetireResult:
    """Let a drained volume go: unmount it (block) or remove its folder (folder mode).

    Refused while the volume is active or any period on it lacks a sync receipt; the refusal
    says which and what to do. Running it again after success is a no-op.
    """
    chosen = resolve_mode(config, mode)
    status = drain_status(config, volume_id, mode=chosen)
    if status.retired:
        # Finish a removal a crash interrupted; the marker says the volume was drained.
        if status.mounted:
            if fstab is not None:
                remove_fstab_line(fstab, blockdevices.volume_label(volume_id))
            blockdevices.umount(status.path)
        if status.path.is_dir():
            shutil.rmtree(status.path) if chosen == "folder" else status.path.rmdir()
        return RetireResult(volume_id, chosen, 0, already=True)
    if not status.drained:
        raise DataVolumeError(
            f"refusing to retire {volume_id}: {status.reason()}; run `cctview-agent sync` "
            "and retry once the open periods are closed",
            volume_id=volume_id,
        )
    path = status.path
    if status.mounted:
        if fstab is not None:
            remove_fstab_line(fstab, blockdevices.volume_label(volume_id))
        blockdevices.umount(path)
        chosen = "block"
    elif chosen == "block":
        raise DataVolumeError(
            f"{path} is not a mount point, so {volume_id} is not mounted here; mount it with "
            f"`cctview-agent volume prepare --volume-id {volume_id}` or pass --mode folder",
            volume_id=volume_id,
        )
    # The marker goes first: a crash half-way through the removal leaves a volume known retired.
    write_atomic(retired_marker(config, volume_id), f"{status.verified}\n".encode(), fsync=True)
    if chosen == "folder":
        shutil.rmtree(path)
    else:
        path.rmdir()  # the empty mount point
    return RetireResult(volume_id, chosen, status.verified)


# -- list ----------------------------------------------------------------------------------


def list_volumes(config: AgentConfig) -> list[dict[str, Any]]:
    """Every volume folder under ``volumes_root`` with its drain state and disk use."""
    active = active_volume(config)
    try:
        names = sorted(os.listdir(config.volumes_root))
    except FileNotFoundError:
        names = []
    rows = []
    for name in names:
        if not VOLUME_ID.match(name) or not (config.volumes_root / name).is_dir():
            continue
        status = drain_status(config, name)
        rows.append(
            {
                **status.to_dict(),
                "active": name == active,
                "disk": disk_fields(status.path),
            }
        )
    return rows
