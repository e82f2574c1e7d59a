"""Frame writes: a temporary name in the frame's own folder, then ``os.replace``.

``data_dir`` may be a link that volume rotation swaps at any moment, so every write resolves the
link once and creates the temporary file and renames it inside that one resolved folder: a rename
never crosses file systems and a reader never sees half a frame. A ``kill -9`` leaves at most a
dot-named temporary, which start-up removes.

Each stored frame also gets one line in its period's journal (``manifests/<camera>/.<period>.
journal``: name, size, digest), so closing a period never re-reads an hour of frames to digest
them, and the agent holds no per-frame state in memory.
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cctview_agent.atomicfile import TMP_PREFIX, TMP_SUFFIX
from cctview_agent.layout import FRAME_SUFFIX, DataLayout
from cctview_agent.periods import Period

JOURNAL_SUFFIX = ".journal"
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_APPEND_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)


class DiskFullError(Exception):
    """The file system refused a write for lack of space (ENOSPC/EDQUOT); nothing was left."""


def journal_path(root: Path, camera_id: str, period: Period) -> Path:
    return DataLayout(root).manifests_root / camera_id / f".{period.key}{JOURNAL_SUFFIX}"


def read_journal(path: Path) -> dict[str, tuple[int, str]]:
    """``{frame name: (size, digest)}``; a torn last line (crash mid-append) is skipped."""
    entries: dict[str, tuple[int, str]] = {}
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return entries
    for line in text.splitlines():
        parts = line.split(" ")
        if len(parts) == 3 and parts[1].isdigit() and len(parts[2]) == 32:
            entries[parts[0]] = (int(parts[1]), parts[2])
    return entries


@dataclass(frozen=True, slots=True)
class StoredFrame:
    root: str
    path: str
    period: Period


class FrameStore:
    """Writes frames below the data folder the ``data_dir`` link points at right now."""

    def __init__(self, data_dir: Path, period_length: int) -> None:
        self.data_dir = Path(os.path.abspath(data_dir))
        self.period_length = period_length
        self._pid = os.getpid()
        self._dirs: dict[tuple[str, str, int], str] = {}  # (root, camera, hour) -> folder
        self._journals: dict[tuple[str, str, Period], int] = {}  # open append fds
        self.current_root = self.resolve_root()

    def resolve_root(self) -> str:
        """The folder ``data_dir`` stands for now: one readlink, not a full realpath walk."""
        path = str(self.data_dir)
        try:
            target = os.readlink(path)
        except OSError:  # not a link (or missing): the folder itself
            root = path
        else:
            root = target if os.path.isabs(target) else os.path.join(os.path.dirname(path), target)
        self.current_root = root
        return root

    def _folder(self, root: str, camera_id: str, ts_ms: int) -> str:
        hour = ts_ms // 3_600_000
        key = (root, camera_id, hour)
        folder = self._dirs.get(key)
        if folder is None:
            stamp = datetime.fromtimestamp(hour * 3600, UTC)
            folder = os.path.join(
                root, "frames", camera_id, stamp.strftime("%Y-%m-%d"), stamp.strftime("%H")
            )
            os.makedirs(folder, exist_ok=True)
            if len(self._dirs) > 4096:
                self._dirs.clear()
            self._dirs[key] = folder
        return folder

    def write(self, camera_id: str, ts_ms: int, body: bytes, digest: str) -> StoredFrame:
        """Store one frame; raises :class:`DiskFullError` (nothing left behind) when full."""
        root = self.resolve_root()
        name = f"{ts_ms}{FRAME_SUFFIX}"
        try:
            folder = self._folder(root, camera_id, ts_ms)
        except FileNotFoundError:  # the folder vanished under the cache (cleanup, rotation)
            self._dirs.clear()
            folder = self._folder(root, camera_id, ts_ms)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFullError(str(exc)) from exc
            raise
        final = f"{folder}/{name}"
        tmp = f"{folder}/{TMP_PREFIX}{name}.{self._pid}{TMP_SUFFIX}"
        try:
            fd = os.open(tmp, _WRITE_FLAGS, 0o644)
            try:
                view = memoryview(body)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(tmp, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFullError(str(exc)) from exc
            if exc.errno == errno.ENOENT:
                self._dirs.clear()
            raise
        period = Period.containing(ts_ms, self.period_length)
        self._journal(root, camera_id, period, f"{name} {len(body)} {digest}\n".encode())
        return StoredFrame(root, final, period)

    def _journal(self, root: str, camera_id: str, period: Period, line: bytes) -> None:
        """Best effort: a frame missing from the journal is digested from its file at close."""
        key = (root, camera_id, period)
        fd = self._journals.get(key)
        try:
            if fd is None:
                path = journal_path(Path(root), camera_id, period)
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, _APPEND_FLAGS, 0o644)
                self._journals[key] = fd
            os.write(fd, line)
        except OSError:
            pass

    def close_journal(self, root: str, camera_id: str, period: Period) -> None:
        fd = self._journals.pop((root, camera_id, period), None)
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        for fd in self._journals.values():
            os.close(fd)
        self._journals.clear()
