"""The assignment: which cameras this node polls (a ``cctview-fleet cameras --json`` array).

The operator CLI pipes a selection into ``cctview-agent assign -`` over SSH; the agent reads the
file at start and on SIGHUP. Validation happens before the file is replaced, so a bad push never
leaves a node with an unreadable assignment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cctview_agent.atomicfile import write_atomic
from cctview_agent.cameras import Camera, dump_cameras, load_cameras, parse_cameras_json
from cctview_agent.errors import CatalogError, StorageError


@dataclass(frozen=True, slots=True)
class AssignmentChange:
    """What a new assignment does to the current one, by camera id."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]  # same id, new image URL
    unchanged: tuple[str, ...]


def validate_assignment(cameras: Sequence[Camera], *, source: str) -> list[Camera]:
    """Every camera must have an http(s) image URL: the agent polls nothing else."""
    for camera in cameras:
        url = camera.image_url or ""
        if not url.startswith(("http://", "https://")):
            raise CatalogError(
                f"{source}: camera {camera.id} has no http(s) image_url ({url!r}); "
                "assign cameras as `cctview-fleet cameras --json` prints them",
                source=source,
            )
    return list(cameras)


def parse_assignment(text: str | bytes, *, source: str = "assignment") -> list[Camera]:
    return validate_assignment(parse_cameras_json(text, source=source), source=source)


def load_assignment(path: Path, *, missing_ok: bool = True) -> list[Camera]:
    """The cameras in the assignment file; none if it does not exist yet (a fresh node)."""
    if missing_ok and not path.exists():
        return []
    return validate_assignment(load_cameras(path), source=str(path))


def write_assignment(path: Path, cameras: Sequence[Camera]) -> None:
    """Replace the assignment atomically and durably.

    The temporary file is made in the assignment's own folder (so the rename is atomic): the
    user running ``assign`` (``cctview`` on a node) must be able to create files there, not only
    to write the assignment itself.
    """
    try:
        write_atomic(path, (dump_cameras(cameras) + "\n").encode(), fsync=True)
    except PermissionError as exc:
        raise StorageError(
            f"cannot write the assignment {path}: {exc.strerror or exc} on "
            f"{exc.filename or path}; the agent's user must be able to create files in "
            f"{path.parent} (first boot makes it group-writable with the sticky bit: "
            f"chgrp cctview {path.parent} && chmod 1775 {path.parent})",
            path=path,
        ) from exc


def diff_assignment(old: Sequence[Camera], new: Sequence[Camera]) -> AssignmentChange:
    before = {camera.id: camera for camera in old}
    after = {camera.id: camera for camera in new}
    return AssignmentChange(
        added=tuple(cid for cid in after if cid not in before),
        removed=tuple(cid for cid in before if cid not in after),
        changed=tuple(
            cid for cid in after if cid in before and before[cid].image_url != after[cid].image_url
        ),
        unchanged=tuple(
            cid for cid in after if cid in before and before[cid].image_url == after[cid].image_url
        ),
    )
