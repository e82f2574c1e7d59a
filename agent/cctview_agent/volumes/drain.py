"""Draining and retiring an old data volume: where its periods stand on their way to S3.

A volume is retired only when it is not active and every period on it has a sync receipt for the
fleet's own bucket and prefix (the syncer writes one only after it verified the object in S3; a
receipt for another bucket does not count). The rule lives here, on the node, so
no operator tool can remove a volume whose frames are not safe: ``rotate-volumes`` asks
:func:`drain_status` and then :func:`retire_volume`, which checks again.

A period is *verified* (receipt), *complete* (manifest, no receipt yet) or *open* (frames, no
manifest: the agent's closer writes it after the period's end plus grace). "Drained" is decided
by counting the files on the volume, not the periods the layout knows: any file under ``frames/``
that is not a frame of a settled period keeps the volume (see :func:`_frame_files`).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cctview_agent.atomicfile import write_atomic
from cctview_agent.cameras import CAMERA_ID
from cctview_agent.config import AgentConfig
from cctview_agent.errors import DataVolumeError
from cctview_agent.layout import DataLayout, frame_timestamp
from cctview_agent.periods import Period
from cctview_agent.storage.diskguard import disk_fields
from cctview_agent.sync.receipts import SyncTarget, receipt_counts
from cctview_agent.volumes import blockdevices
from cctview_agent.volumes.switching import (
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
    stray: tuple[str, ...] = ()  # files under frames/ outside the layout (the first few)
    stray_count: int = 0
    fleet: str = ""  # s3://bucket/prefix whose receipts count; empty: the config names none

    @property
    def drained(self) -> bool:
        """Safe to let go: retired already, or inactive with no frame file on it outside a
        verified period (files are counted, so a frame the layout does not expect counts too)."""
        return self.retired or (
            self.exists
            and not self.active
            and not self.unverified
            and not self.open
            and not self.stray_count
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
            where = self.fleet or "S3 (the agent config names no bucket: set bucket = ...)"
            parts.append(f"{len(self.unverified)} complete periods are not yet verified in {where}")
        if self.open:
            when = time.strftime("%H:%M:%S", time.gmtime(self.next_closable_at or 0))
            parts.append(f"{len(self.open)} periods are still open (closable at {when} UTC)")
        if self.stray_count:
            parts.append(
                f"{self.stray_count} files under frames/ are outside the layout (no sync ships "
                f"them: {', '.join(self.stray)}); copy them off and remove them"
            )
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
            "stray": list(self.stray),
            "stray_count": self.stray_count,
            "fleet": self.fleet,
            "reason": self.reason(),
        }


def _receipts(layout: DataLayout, target: SyncTarget | None) -> set[tuple[str, str]]:
    """``(camera, period-key)`` of every receipt for ``target``, the fleet's bucket and prefix;
    a receipt for any other bucket (or none known) does not make a period verified."""
    found: set[tuple[str, str]] = set()
    try:
        cameras = list(os.scandir(layout.synced_root))
    except FileNotFoundError:
        return found
    for camera in cameras:
        if camera.is_dir():
            for name in os.listdir(camera.path):
                if (
                    name.endswith(".json")
                    and not name.startswith(".")
                    and receipt_counts(Path(camera.path, name), target)
                ):
                    found.add((camera.name, name[: -len(".json")]))
    return found


STRAY_SHOWN = 5  # stray paths named in the status; the count covers all of them


@dataclass(frozen=True, slots=True)
class FrameFiles:
    """Every file under a volume's ``frames/``: open periods, and files outside the layout."""

    open: tuple[OpenPeriod, ...]
    stray: tuple[str, ...]  # the first few, relative to frames/
    stray_count: int


def _hour_folder_ms(parts: tuple[str, ...]) -> int | None:
    """The first Unix ms of ``<camera>/<YYYY-MM-DD>/<HH>`` where the agent writes frames (a
    safe camera id, a real date and hour); None for any other folder."""
    if len(parts) != 3 or CAMERA_ID.fullmatch(parts[0]) is None or len(parts[2]) != 2:
        return None
    try:
        start = datetime.strptime(f"{parts[1]} {parts[2]}", "%Y-%m-%d %H").replace(tzinfo=UTC)
    except ValueError:
        return None
    if start.strftime("%Y-%m-%d") != parts[1]:
        return None  # strptime also takes "2025-4-4"; the agent never writes that
    return int(start.timestamp()) * 1000


def _frame_files(
    layout: DataLayout, settled: set[tuple[str, str]], length: int, grace: float
) -> FrameFiles:
    """Count the files, not the periods the layout knows: every file under ``frames/`` is either
    a frame of a settled period (manifest or receipt), a frame of an open one, or a stray.

    A stray (a frame nested one level deeper by a hostile camera id, a frame in another hour's
    folder, a link, anything the agent did not put there) is a file no sync ships, so it keeps
    the volume from being drained. Names that start with a dot are the agent's temporaries and
    are never frames. Every folder is listed: on a volume of half a million frames that is a
    second or so, paid only while a rotation waits for the drain.
    """
    counts: dict[tuple[str, int], int] = {}  # (camera, period start) -> open frames
    is_settled: dict[tuple[str, int], bool] = {}
    stray: list[str] = []
    stray_count = 0
    root = str(layout.frames_root)
    step_ms = length * 1000

    def strayed(path: str) -> None:
        nonlocal stray_count
        stray_count += 1
        if len(stray) < STRAY_SHOWN:
            stray.append(os.path.relpath(path, root))

    pending: list[tuple[str, tuple[str, ...]]] = [(root, ())]
    while pending:
        folder, parts = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue  # vanished (a sync deleting it) or unreadable: nothing to count there
        hour_ms = _hour_folder_ms(parts)
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                pending.append((entry.path, (*parts, entry.name)))
                continue
            if entry.name.startswith(".") and not entry.is_symlink():
                continue
            ts_ms = frame_timestamp(entry.name)
            if (
                hour_ms is None
                or ts_ms is None
                or not hour_ms <= ts_ms < hour_ms + 3_600_000
                or entry.is_symlink()  # d_type from the listing: no extra system call
            ):
                strayed(entry.path)
                continue
            key = (parts[0], ts_ms // step_ms * length)
            done = is_settled.get(key)
            if done is None:
                done = is_settled[key] = (parts[0], Period(key[1], length).key) in settled
            if not done:
                counts[key] = counts.get(key, 0) + 1
    open_periods = tuple(
        OpenPeriod(camera_id, Period(start, length), frames, start + length + grace)
        for (camera_id, start), frames in sorted(counts.items())
    )
    return FrameFiles(open_periods, tuple(stray), stray_count)


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
    target = SyncTarget.fleet(config)
    receipts = _receipts(layout, target)
    complete = {(camera_id, period.key) for camera_id, period, _path in layout.manifests()}
    unverified = sorted(f"{c}/{k}" for c, k in complete - receipts)
    files = _frame_files(layout, complete | receipts, config.period, config.grace)
    return DrainStatus(
        volume_id,
        path,
        exists=True,
        active=active,
        mounted=mounted,
        retired=False,
        verified=len(receipts),
        unverified=tuple(unverified),
        open=files.open,
        stray=files.stray,
        stray_count=files.stray_count,
        fleet=str(target) if target else "",
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
