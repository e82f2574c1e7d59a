"""Where things live in a node's data folder.

    <data>/frames/<camera-id>/<YYYY-MM-DD>/<HH>/<unix-ms>.jpg   one file per stored frame (UTC)
    <data>/manifests/<camera-id>/<period-key>.json              the manifest: period complete
    <data>/synced/<camera-id>/<period-key>.json                 receipt: verified in S3

``<data>`` is a link to the active volume's mount point, so switching volumes is swapping a link.
Every file here is written through :mod:`cctview_agent.atomicfile`; names that start with a dot
are temporaries and are never read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cctview_agent.periods import Period

FRAME_SUFFIX = ".jpg"


def frame_name(ts_ms: int) -> str:
    return f"{ts_ms}{FRAME_SUFFIX}"


def frame_timestamp(name: str) -> int | None:
    """The Unix-ms time in a frame's file name, or None for anything that is not a frame."""
    if name.startswith(".") or not name.endswith(FRAME_SUFFIX):
        return None
    stem = name[: -len(FRAME_SUFFIX)]
    return int(stem) if stem.isdigit() else None


def data_roots(active: Path, volumes_root: Path) -> list[Path]:
    """Every data folder of a node: the active one first, then each other volume folder under
    ``volumes_root`` that holds ``frames/`` or ``manifests/`` (a rotated volume still draining).

    The closer closes periods and the syncer ships them on all of these, so a period split by a
    volume switch is complete on both halves. Folders are compared by real path, so the active
    volume (``data_dir`` links to one of them) is listed once; paths are returned as given.
    """
    roots = [active]
    seen = {os.path.realpath(active)}
    try:
        entries = sorted(os.scandir(volumes_root), key=lambda entry: entry.name)
    except OSError:
        entries = []
    for entry in entries:
        real = os.path.realpath(entry.path)
        if real in seen or not entry.is_dir():
            continue
        if os.path.isdir(os.path.join(entry.path, "frames")) or os.path.isdir(
            os.path.join(entry.path, "manifests")
        ):
            roots.append(Path(entry.path))
            seen.add(real)
    return roots


@dataclass(frozen=True, slots=True)
class DataLayout:
    """The paths of one data folder; pure path arithmetic, no I/O except the listing helpers."""

    root: Path

    @property
    def frames_root(self) -> Path:
        return self.root / "frames"

    @property
    def manifests_root(self) -> Path:
        return self.root / "manifests"

    @property
    def synced_root(self) -> Path:
        return self.root / "synced"

    def camera_dir(self, camera_id: str) -> Path:
        return self.frames_root / camera_id

    def hour_dir(self, camera_id: str, ts_ms: int) -> Path:
        stamp = datetime.fromtimestamp(ts_ms / 1000, UTC)
        return self.camera_dir(camera_id) / stamp.strftime("%Y-%m-%d") / stamp.strftime("%H")

    def period_dir(self, camera_id: str, period: Period) -> Path:
        return self.camera_dir(camera_id) / period.date / period.hour

    def frame_path(self, camera_id: str, ts_ms: int) -> Path:
        return self.hour_dir(camera_id, ts_ms) / frame_name(ts_ms)

    def manifest_path(self, camera_id: str, period: Period) -> Path:
        return self.manifests_root / camera_id / f"{period.key}.json"

    def receipt_path(self, camera_id: str, period: Period) -> Path:
        return self.synced_root / camera_id / f"{period.key}.json"

    def frames_in(self, camera_id: str, period: Period) -> list[tuple[int, Path]]:
        """The stored frames of one camera-period as ``(ts_ms, path)``, in time order."""
        folder = self.period_dir(camera_id, period)
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return []
        frames = []
        for name in names:
            ts_ms = frame_timestamp(name)
            if ts_ms is not None and period.contains(ts_ms):
                frames.append((ts_ms, folder / name))
        frames.sort()
        return frames

    def camera_ids(self) -> list[str]:
        """Cameras that have a frames folder, sorted."""
        try:
            return sorted(p.name for p in self.frames_root.iterdir() if p.is_dir())
        except FileNotFoundError:
            return []

    def manifests(self) -> Iterator[tuple[str, Period, Path]]:
        """Every complete period as ``(camera_id, period, manifest_path)``, in name order."""
        try:
            cameras = sorted(self.manifests_root.iterdir())
        except FileNotFoundError:
            return
        for camera_dir in cameras:
            if not camera_dir.is_dir():
                continue
            for path in sorted(camera_dir.glob("[0-9]*.json")):
                try:
                    period = Period.from_key(path.stem)
                except ValueError:
                    continue
                yield camera_dir.name, period, path
