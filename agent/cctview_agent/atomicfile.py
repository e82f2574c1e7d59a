"""Files that become visible only when whole.

Every file a reader may look at (frames, manifests, status, assignments) is written to a hidden
temporary name in the same folder and moved into place with ``os.replace``, which is atomic on a
POSIX file system. A crash leaves at most a temporary file, which :func:`remove_temporaries`
clears at start-up.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

TMP_PREFIX = "."
TMP_SUFFIX = ".tmp"


def temporary_name(path: Path) -> Path:
    """The hidden temporary sibling of ``path``; readers skip names starting with a dot."""
    return path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}{TMP_SUFFIX}")


def is_temporary(path: Path) -> bool:
    """True for a name :func:`temporary_name` made, so scans and cleanup agree on it."""
    return path.name.startswith(TMP_PREFIX) and path.name.endswith(TMP_SUFFIX)


def write_atomic(path: Path, data: bytes, *, fsync: bool = False, make_dirs: bool = True) -> None:
    """Write ``data`` to ``path`` so that no reader ever sees a partial file.

    ``fsync`` trades speed for durability across power loss; frames skip it (a lost second of
    frames is acceptable, a torn one is not), manifests and assignments use it.
    """
    if make_dirs:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    # A leftover (or planted) temporary is removed, never opened: root writes markers into folders
    # the agent's user owns, and O_EXCL|O_NOFOLLOW never writes through a link put at this name.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if fsync:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def iter_temporaries(root: Path) -> Iterator[Path]:
    """Every temporary file below ``root`` (left behind by a crash or a kill -9)."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            if name.startswith(TMP_PREFIX) and name.endswith(TMP_SUFFIX):
                yield Path(dirpath) / name


def remove_temporaries(root: Path) -> int:
    """Delete leftover temporary files below ``root``; returns how many were removed."""
    removed = 0
    for tmp in iter_temporaries(root):
        try:
            tmp.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed
