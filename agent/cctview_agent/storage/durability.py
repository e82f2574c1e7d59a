"""Making a period's frames durable before the manifest that lists them.

Frames are written without an fsync each (a power cut may lose the last seconds, never tear a
frame: they appear by ``os.replace``). The manifest is the completion mark the syncer trusts, so
the frames it lists must be on disk first, or a power cut after the manifest could leave a
manifest naming frames that never reached the disk. One ``syncfs(2)`` of the period's file system
at close does that in one call instead of an fsync per frame; where ``syncfs`` is missing (not
Linux) each frame and its folder are fsynced instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable, Iterable
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)


def _load_syncfs() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        function = ctypes.CDLL(name, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function


_SYNCFS = _load_syncfs()


def syncfs(folder: Path) -> bool:
    """Flush the whole file system ``folder`` is on; False when the call is not available."""
    if _SYNCFS is None:
        return False
    fd = os.open(folder, _DIR_FLAGS)
    try:
        if _SYNCFS(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(folder))
    finally:
        os.close(fd)
    return True


def fsync_each(paths: Iterable[Path]) -> None:
    """The portable way: fsync every file, then each folder holding them (their names)."""
    folders: set[Path] = set()
    for path in paths:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        folders.add(path.parent)
    for folder in sorted(folders):
        fd = os.open(folder, _DIR_FLAGS)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def make_durable(folder: Path, frames: Iterable[Path]) -> None:
    """The frames in ``folder`` (one period's) are on disk when this returns; raises OSError."""
    if not syncfs(folder):
        fsync_each(frames)
