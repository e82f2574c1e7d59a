"""One sync at a time per data folder: an advisory ``flock`` on a file in the data root.

Two syncs on one node (a cron job and an operator's ``sync-s3``, or rotation draining a volume)
would upload the same periods twice and race to complete each other's multipart uploads. The lock
is taken without waiting: the second sync fails at once with one line naming the holder's pid.
The kernel drops a ``flock`` when its holder dies, so a ``kill -9`` never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from cctview_agent.errors import SyncError

LOCK_NAME = ".cctview-sync.lock"


def _holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""


@contextlib.contextmanager
def sync_lock(root: Path) -> Iterator[Path]:
    """Hold the sync lock of ``root`` for the block; SyncError if another sync holds it."""
    path = root / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise SyncError(
            f"cannot create the sync lock {path}: {exc.strerror or exc}; "
            "is the data folder writable by this user?"
        ) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SyncError(
                f"another sync is running on {root}{_holder(fd)}; "
                "wait for it to finish, or rerun afterwards"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the flock


@contextlib.contextmanager
def sync_locks(roots: Sequence[Path]) -> Iterator[None]:
    """The locks of several data roots, always taken in the same order (no deadlock)."""
    with contextlib.ExitStack() as stack:
        for root in sorted(roots):
            stack.enter_context(sync_lock(root))
        yield
