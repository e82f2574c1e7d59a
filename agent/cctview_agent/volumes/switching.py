"""Data volumes on a node: prepare a new one and switch the agent to it (drain.py retires the old).

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
so no operator tool can delete a volume whose frames are not safe
(:mod:`cctview_agent.volumes.drain`).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cctview_agent.atomicfile import write_atomic
from cctview_agent.config import AgentConfig
from cctview_agent.errors import ConfigError, DataVolumeError
from cctview_agent.storage.nofollow import chown_nofollow, ensure_dir, read_small
from cctview_agent.volumes import blockdevices

VOLUME_ID = re.compile(r"^vol-[0-9a-f]{8,32}$")
FSTAB = Path("/etc/fstab")
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
        found = read_small(path / MARKER, volume_id=volume_id).strip()
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


def _finish(config: AgentConfig, path: Path, volume_id: str) -> None:
    """The marker and an empty ``frames/`` make the folder a data root the closer will visit."""
    if not _check_marker(path, volume_id):
        write_atomic(path / MARKER, f"{volume_id}\n".encode(), fsync=True)
    ensure_dir(path / "frames", volume_id=volume_id)
    _own_like_active(config, path, volume_id)


def _own_like_active(config: AgentConfig, path: Path, volume_id: str) -> None:
    """Give a new data root the owner of the active one.

    ``prepare`` runs as root (it formats and mounts), while the agent runs as an unprivileged user
    (``User=`` in its unit); without this the agent could not write a single frame after the
    switch. The active volume's owner is the agent's user, whatever it is called. That user
    owns these folders too, so none of them is followed if it is a link
    (:mod:`cctview_agent.storage.nofollow`).
    """
    if os.geteuid() != 0:
        return
    try:
        active = os.stat(config.data_dir)  # follows the link to the active volume
    except OSError:
        return  # first volume: the installer sets ownership
    for item in (path, path / "frames", path / MARKER):
        chown_nofollow(item, active.st_uid, active.st_gid, volume_id=volume_id)


def prepare_volume(
    config: AgentConfig,
    volume_id: str,
    *,
    mode: str | None = None,
    device: str | None = None,
    attachment_device: str | None = None,
    size_gib: int | None = None,
    by_id_dir: Path = Path("/dev/disk/by-id"),
    fstab: Path | None = FSTAB,
    device_wait: float = 30.0,
) -> PrepareResult:
    """Make ``volume_id`` a usable data root under ``volumes_root``; safe to run again.

    In block mode the volume also gets an ``fstab`` line (by label, ``nofail``), so a reboot
    mounts it again before the agent starts instead of leaving an empty folder on the root disk.
    """
    path = volume_path(config, volume_id)
    chosen = resolve_mode(config, mode, device=device)
    if retired_marker(config, volume_id).exists():
        raise DataVolumeError(
            f"volume {volume_id} was retired on this node; a retired volume is not reused",
            volume_id=volume_id,
        )
    path.parent.mkdir(parents=True, exist_ok=True)  # volumes_root: root's, not the agent's
    ensure_dir(path, volume_id=volume_id)
    if chosen == "folder":
        _finish(config, path, volume_id)
        return PrepareResult(volume_id, path, chosen)
    label = blockdevices.volume_label(volume_id)
    if blockdevices.is_mounted(path):
        if not _check_marker(path, volume_id):
            raise DataVolumeError(
                f"{path} is a mount point without this volume's marker; unmount it and retry",
                volume_id=volume_id,
            )
        ensure_dir(path / "frames", volume_id=volume_id)
        _own_like_active(config, path, volume_id)
        if fstab is not None:
            add_fstab_line(fstab, label, path)
        return PrepareResult(volume_id, path, chosen, device=device)
    # EC2 reports "attached" a moment before the guest's kernel and udev show the device.
    deadline = time.monotonic() + device_wait
    while True:
        found = (
            Path(device)
            if device
            else blockdevices.find_device(
                volume_id,
                attachment_device=attachment_device,
                size_gib=size_gib,
                by_id_dir=by_id_dir,
            )
        )
        if (found is not None and found.exists()) or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    if found is None or not found.exists():
        raise DataVolumeError(
            f"no block device for {volume_id} on this node after {device_wait:g} s (looked for "
            f"its NVMe id, its label {blockdevices.volume_label(volume_id)} and the attachment "
            f"{attachment_device}); is it attached? retry once it is, or pass --device",
            volume_id=volume_id,
        )
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
        _finish(config, path, volume_id)
    except DataVolumeError:
        blockdevices.umount(path)
        raise
    if fstab is not None:
        add_fstab_line(fstab, label, path)
    return PrepareResult(volume_id, path, chosen, str(found), formatted, mounted_now=True)


def fstab_line(label: str, mount_point: Path) -> str:
    """The same line the first boot writes for generation 1 (cctview_infra.userdata)."""
    return f"LABEL={label} {mount_point} ext4 noatime,nofail 0 2"


def add_fstab_line(fstab: Path, label: str, mount_point: Path) -> None:
    text = fstab.read_text() if fstab.exists() else ""
    if any(line.split()[:1] == [f"LABEL={label}"] for line in text.splitlines()):
        return
    if text and not text.endswith("\n"):
        text += "\n"
    write_atomic(fstab, f"{text}{fstab_line(label, mount_point)}\n".encode(), fsync=True)


def remove_fstab_line(fstab: Path, label: str) -> None:
    try:
        lines = fstab.read_text().splitlines(keepends=True)
    except FileNotFoundError:
        return
    kept = [line for line in lines if line.split()[:1] != [f"LABEL={label}"]]
    if kept != lines:
        write_atomic(fstab, "".join(kept).encode(), fsync=True)


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
