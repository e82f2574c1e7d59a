"""File steps that run as root inside folders the agent's user owns, and never follow a link.

``cctview-agent volume prepare`` runs as root (it formats and mounts), but the volume folders it
touches belong to the agent's unprivileged user, who can swap ``frames/`` or the volume marker for
a symbolic link at any moment. A root ``mkdir(exist_ok=True)`` then ``chown`` would follow such a
link and hand ``/etc`` to that user; a root ``read_text`` of the marker would read any file. So
every step here opens the entry with ``O_NOFOLLOW`` (or checks it with ``lstat``), refuses a link
with one line that says what to do, and changes owners with ``lchown`` semantics on the opened
file descriptor, so a swap between check and change cannot redirect it either.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from cctview_agent.errors import DataVolumeError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
MAX_SMALL_FILE = 4096


def _link_refused(path: Path, volume_id: str | None) -> DataVolumeError:
    return DataVolumeError(
        f"{path} is a symbolic link (or not the kind of file expected); a root step never "
        "follows links in the agent's folders: remove it and run the command again",
        volume_id=volume_id,
    )


def _open(path: Path, flags: int, volume_id: str | None) -> int:
    try:
        return os.open(path, flags)
    except OSError as exc:
        # ELOOP: the last component is a link; ENOTDIR: a link or a file where a folder belongs.
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise _link_refused(path, volume_id) from exc
        raise


def ensure_dir(path: Path, *, volume_id: str | None = None, mode: int = 0o755) -> None:
    """``mkdir`` that accepts an existing real folder and refuses a link or anything else."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, mode)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise _link_refused(path, volume_id)


def read_small(path: Path, *, volume_id: str | None = None) -> str:
    """The text of a small regular file, opened without following a link (a marker)."""
    fd = _open(path, _FILE_FLAGS, volume_id)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _link_refused(path, volume_id)
        return os.read(fd, MAX_SMALL_FILE).decode(errors="replace")
    finally:
        os.close(fd)


def chown_nofollow(path: Path, uid: int, gid: int, *, volume_id: str | None = None) -> None:
    """Give ``path`` (a real folder or regular file, never a link) to ``uid:gid``.

    The entry is opened with ``O_NOFOLLOW`` and changed through that descriptor, so what is
    checked is what is changed."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise _link_refused(path, volume_id)
    flags = _DIR_FLAGS if stat.S_ISDIR(info.st_mode) else _FILE_FLAGS
    fd = _open(path, flags, volume_id)
    try:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino) or not (
            stat.S_ISDIR(opened.st_mode) or stat.S_ISREG(opened.st_mode)
        ):
            raise _link_refused(path, volume_id)
        os.fchown(fd, uid, gid)
    finally:
        os.close(fd)
