"""Data volumes on a node: prepare a new one, switch the agent to it, drain and retire the old.

    <volumes_root>/<vol-id>/            one folder (a mount point in block mode) per volume
    <volumes_root>/<vol-id>/.cctview-volume   the volume's id, written when it was prepared
    <volumes_root>/.retired-<vol-id>    left by ``retire``: the volume was drained and let go
    <data_dir> -> <volumes_root>/<vol-id>     the active volume (a symlink)

Switching is one ``os.replace`` of a fresh symlink over ``data_dir``: the agent resolves the link
once per frame and writes temp+rename inside the resolved folder, so every frame lands whole on
exactly one volume and none is lost. The agent's period closer keeps closing periods on every
volume under ``volumes_root``, so a period split by a switch ends with a manifest on each side.

A volume is retired only when it is not active and every period on it has a sync receipt (the
syncer writes one only after it verified the object in S3). That rule lives here, on the node,
so no operator tool can delete a volume whose frames are not safe.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cctview_agent import blockdevices
from cctview_agent.atomicfile import write_atomic
from cctview_agent.config import AgentConfig
from cctview_agent.errors import ConfigError, DataVolumeError
from cctview_agent.layout import DataLayout, frame_timestamp
from cctview_agent.periods import Period

VOLUME_ID = re.compile(r"^vol-[0-9a-f]{8,32}$")
MARKER = ".cctview-volume"
RETIRED_PREFIX = ".retired-"


def check_volume_id(text: str) -> str:
    """``text`` if it looks like an EBS volume id, else a one-line ConfigError."""
    if not VOLUME_ID.match(text or ""):
        raise ConfigError(
            f"{text!r} is not an EBS volume id; expected e.g. vol-0123456789abcdef0",
            key="volume-id",
        )
    return text


def volume_path(config: AgentConfig, volume_id: str) -> Path:
    return config.volumes_root / check_volume_id(volume_id)


def retired_marker(config: AgentConfig, volume_id: str) -> Path:
    return config.volumes_root / f"{RETIRED_PREFIX}{volume_id}"


def resolve_mode(config: AgentConfig, mode: str | None = None, *, device: str | None = None) -> str:
    """``block`` or ``folder``: the flag, else the setting; ``auto`` asks the hardware."""
    chosen = mode or config.volume_mode
    if chosen == "auto":
        chosen = "block" if device or blockdevices.has_ebs_devices() else "folder"
    if chosen not in ("block", "folder"):
        raise ConfigError(f"volume mode {chosen!r} is unknown; use auto, block or folder")
    return chosen


def active_volume(config: AgentConfig) -> str | None:
    """The id of the volume ``data_dir`` links to, or None (no link, or a link elsewhere)."""
    try:
        target = Path(os.readlink(config.data_dir))
    except OSError:
        return None
    if not target.is_absolute():
        target = config.data_dir.parent / target
    target = Path(os.path.normpath(target))
    if target.parent != Path(os.path.normpath(config.volumes_root.absolute())) and (
        target.parent.resolve() != config.volumes_root.resolve()
    ):
        return None
    return target.name if VOLUME_ID.match(target.name) else None


# -- prepare -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PrepareResult:
    volume_id: str
    path: Path
    mode: str
    device: str | None = None
    formatted: bool = False
    mounted_now: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "volume_id": self.volume_id,
            "path": str(self.path),
            "mode": self.mode,
            "device": self.device,
            "formatted": self.formatted,
            "mounted_now": self.mounted_now,
        }


def _check_marker(path: Path, volume_id: str) -> bool:
    """True when ``path`` holds this volume's marker; an error when it holds another's."""
    try:
        found = (path / MARKER).read_text().strip()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise DataVolumeError(f"cannot read {path / MARKER}: {exc}", volume_id=volume_id) from exc
    if found != volume_id:
        raise DataVolumeError(
            f"{path} holds volume {found}, not {volume_id}; the wrong device is mounted there",
            volume_id=volume_id,
        )
    return True


def _finish(path: Path, volume_id: str) -> None:
    """The marker and an empty ``frames/`` make the folder a data root the closer will visit."""
    if not _check_marker(path, volume_id):
        write_atomic(path / MARKER, f"{volume_id}\n".encode(), fsync=True)
    (path / "frames").mkdir(exist_ok=True)


def prepare_volume(
    config: AgentConfig,
    volume_id: str,
    *,
    mode: str | None = None,
    device: str | None = None,
    attachment_device: str | None = None,
    size_gib: int | None = None,
    by_id_dir: Path = Path("/dev/disk/by-id"),
) -> PrepareResult:
    """Make ``volume_id`` a usable data root under ``volumes_root``; safe to run again."""
    path = volume_path(config, volume_id)
    chosen = resolve_mode(config, mode, device=device)
    if retired_marker(config, volume_id).exists():
        raise DataVolumeError(
            f"volume {volume_id} was retired on this node; a retired volume is not reused",
            volume_id=volume_id,
        )
    path.mkdir(parents=True, exist_ok=True)
    if chosen == "folder":
        _finish(path, volume_id)
        return PrepareResult(volume_id, path, chosen)
    if blockdevices.is_mounted(path):
        if not _check_marker(path, volume_id):
            raise DataVolumeError(
                f"{path} is a mount point without this volume's marker; unmount it and retry",
                volume_id=volume_id,
            )
        (path / "frames").mkdir(exist_ok=True)
        return PrepareResult(volume_id, path, chosen, device=device)
    found = (
        Path(device)
        if device
        else blockdevices.find_device(
            volume_id, attachment_device=attachment_device, size_gib=size_gib, by_id_dir=by_id_dir
        )
    )
    if found is None or not found.exists():
        raise DataVolumeError(
            f"no block device for {volume_id} on this node (looked for its NVMe id, its label "
            f"{blockdevices.volume_label(volume_id)} and the attachment {attachment_device}); "
            "is it attached? wait for the attachment and retry, or pass --device",
            volume_id=volume_id,
        )
    label = blockdevices.volume_label(volume_id)
    filesystem = blockdevices.probe(found)
    formatted = False
    if filesystem is None:
        blockdevices.format_ext4(found, label)
        formatted = True
    elif filesystem != ("ext4", label):
        kind, other = filesystem
        raise DataVolumeError(
            f"{found} already holds a {kind} file system labelled {other!r}, not volume "
            f"{volume_id}'s ({label}); refusing to format a device that holds data",
            volume_id=volume_id,
        )
    if any(path.iterdir()):
        raise DataVolumeError(
            f"{path} is not empty and not mounted; move its files away before mounting "
            f"{volume_id} over them",
            volume_id=volume_id,
        )
    blockdevices.mount(found, path)
    try:
        _finish(path, volume_id)
    except DataVolumeError:
        blockdevices.umount(path)
        raise
    return PrepareResult(volume_id, path, chosen, str(found), formatted, mounted_now=True)


# -- switch --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SwitchResult:
    volume_id: str
    previous: str | None
    changed: bool

    def to_dict(self) -> dict[str, Any]:
        return {"volume_id": self.volume_id, "previous": self.previous, "changed": self.changed}


def _link_text(config: AgentConfig, target: Path) -> str:
    """Relative when the volumes sit beside ``data_dir`` (a node folder can move), else absolute."""
    try:
        return str(target.relative_to(config.data_dir.parent))
    except ValueError:
        return str(target.absolute())


def switch_volume(config: AgentConfig, volume_id: str) -> SwitchResult:
    """Point ``data_dir`` at ``volume_id`` atomically; a no-op when it already does."""
    target = volume_path(config, volume_id)
    # A volume this module prepared carries the marker; a first-generation volume (made by the
    # Pulumi user data or the local fleet) is recognised by its frames/. An unmounted mount point
    # has neither, so the agent is never pointed at an empty folder on the root disk.
    if not _check_marker(target, volume_id) and not (target / "frames").is_dir():
        raise DataVolumeError(
            f"volume {volume_id} is not prepared on this node ({target} has no {MARKER}); "
            f"run `cctview-agent volume prepare --volume-id {volume_id}` first",
            volume_id=volume_id,
        )
    previous = active_volume(config)
    if previous == volume_id:
        return SwitchResult(volume_id, previous, changed=False)
    link = config.data_dir
    if link.exists() and not link.is_symlink():
        raise DataVolumeError(
            f"{link} is a real folder, not a link to a volume; move its contents into "
            f"{config.volumes_root}/<vol-id>/ and make {link} a symlink to it",
            volume_id=volume_id,
        )
    tmp = link.with_name(f".{link.name}.{os.getpid()}.switch.tmp")
    try:
        tmp.unlink(missing_ok=True)
        os.symlink(_link_text(config, target), tmp)
        os.replace(tmp, link)  # rename(2) over the old link: readers see old or new, never none
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(link.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return SwitchResult(volume_id, previous, changed=True)


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
    frames: int = 0

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
            "frames": self.frames,
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


def _open_periods(
    layout: DataLayout, settled: set[tuple[str, str]], length: int, grace: float
) -> tuple[list[OpenPeriod], int]:
    """Periods with frames but neither a manifest nor a receipt, and the number of frames."""
    counts: dict[tuple[str, Period], int] = {}
    total = 0
    for camera_id in layout.camera_ids():
        for dirpath, _dirs, names in os.walk(layout.camera_dir(camera_id)):
            del dirpath
            for name in names:
                ts_ms = frame_timestamp(name)
                if ts_ms is None:
                    continue
                total += 1
                period = Period.containing(ts_ms, length)
                if (camera_id, period.key) not in settled:
                    counts[(camera_id, period)] = counts.get((camera_id, period), 0) + 1
    periods = [
        OpenPeriod(camera_id, period, frames, period.end + grace)
        for (camera_id, period), frames in sorted(counts.items())
    ]
    return periods, total


def drain_status(config: AgentConfig, volume_id: str) -> DrainStatus:
    """Count the volume's periods: verified (receipt), complete but unverified, still open."""
    path = volume_path(config, volume_id)
    active = active_volume(config) == volume_id
    retired = retired_marker(config, volume_id).exists()
    mounted = blockdevices.is_mounted(path)
    # An empty folder that is not a mount point is where a block volume is not mounted (yet).
    exists = path.is_dir() and (mounted or any(path.iterdir()))
    base = DrainStatus(volume_id, path, exists, active, mounted, retired)
    if not exists or retired:
        return base
    layout = DataLayout(path)
    receipts = _receipts(layout)
    complete = {(camera_id, period.key) for camera_id, period, _path in layout.manifests()}
    unverified = sorted(f"{c}/{k}" for c, k in complete - receipts)
    open_periods, frames = _open_periods(layout, complete | receipts, config.period, config.grace)
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
        frames=frames,
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


def retire_volume(config: AgentConfig, volume_id: str, *, mode: str | None = None) -> RetireResult:
    """Let a drained volume go: unmount it (block) or remove its folder (folder mode).

    Refused while the volume is active or any period on it lacks a sync receipt; the refusal
    says which and what to do. Running it again after success is a no-op.
    """
    status = drain_status(config, volume_id)
    chosen = resolve_mode(config, mode)
    if status.retired:
        # Finish a removal a crash interrupted; the marker says the volume was drained.
        if status.mounted:
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
        usage = shutil.disk_usage(status.path)
        rows.append(
            {
                **status.to_dict(),
                "active": name == active,
                "disk": {
                    "total_bytes": usage.total,
                    "free_bytes": usage.free,
                    "used_percent": round((usage.total - usage.free) / usage.total * 100, 1)
                    if usage.total
                    else 0.0,
                },
            }
        )
    return rows
