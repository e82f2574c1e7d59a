"""Receipts, and the deletion they allow: the local half of "verified in S3".

A receipt, ``<data>/synced/<camera>/<period-key>.json``, is written atomically (and fsynced)
only after a period's tar and manifest are verified in S3. It is the only thing that lets a
period's frames be deleted locally (``--delete-local``), and what volume rotation checks before
it retires a volume. It records where the objects are and what they hash to:

    {"version": 1, "bucket": ..., "prefix": ..., "tar_key": ..., "manifest_key": ...,
     "size": ..., "etag": ..., "sha256": ..., "manifest_sha256": ..., "frames": ...,
     "verified_at_ms": ...}

A receipt counts only for the bucket and prefix it records: retention, space reclaiming and
volume draining read it through :func:`receipt_counts` with the fleet's :class:`SyncTarget`, so a
copy sent to another bucket (``sync --bucket other``) never lets the fleet's frames go.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from cctview_agent.atomicfile import write_atomic
from cctview_agent.config import AgentConfig
from cctview_agent.errors import ManifestError
from cctview_agent.layout import DataLayout
from cctview_agent.manifests import Manifest
from cctview_agent.periods import HOUR

RECEIPT_VERSION = 1


@dataclass(frozen=True, slots=True)
class SyncTarget:
    """Where a sync ships periods: a bucket and a key prefix. The fleet's own one (from the agent
    config) is the only target whose receipts allow a deletion or a volume's retirement."""

    bucket: str
    prefix: str

    @classmethod
    def fleet(cls, config: AgentConfig) -> SyncTarget | None:
        """The fleet's target from the agent config; None when the config names no bucket."""
        return cls(config.bucket, config.prefix) if config.bucket else None

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def receipt_target(path: Path) -> SyncTarget | None:
    """The bucket and prefix a receipt records; None for a missing or unreadable receipt."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    bucket, prefix = data.get("bucket"), data.get("prefix")
    if not isinstance(bucket, str) or not isinstance(prefix, str):
        return None
    return SyncTarget(bucket, prefix)


def receipt_counts(path: Path, target: SyncTarget | None) -> bool:
    """True when ``path`` is a receipt for exactly ``target`` (never when target is None)."""
    return target is not None and receipt_target(path) == target


@dataclass(frozen=True, slots=True)
class Receipt:
    """Proof that one camera-period is in S3, verified."""

    bucket: str
    prefix: str
    tar_key: str
    manifest_key: str
    size: int
    etag: str
    sha256: str
    manifest_sha256: str
    frames: int
    verified_at_ms: int
    version: int = RECEIPT_VERSION

    def write(self, layout: DataLayout, manifest: Manifest) -> Path:
        path = layout.receipt_path(manifest.camera_id, manifest.period)
        write_atomic(path, json.dumps(asdict(self), indent=1).encode(), fsync=True)
        return path


def delete_period(layout: DataLayout, manifest: Manifest, manifest_path: Path) -> int:
    """Remove a verified period's frames (only those its manifest lists), then its manifest;
    the receipt stays as the record. Returns how many frames were deleted."""
    folder = layout.period_dir(manifest.camera_id, manifest.period)
    deleted = 0
    for frame in manifest.frames:
        with contextlib.suppress(FileNotFoundError):  # a rerun after a crash mid-deletion
            (folder / frame.name).unlink()
            deleted += 1
    manifest_path.unlink(missing_ok=True)
    if manifest.period.end % HOUR == 0:  # the hour is over: nobody writes to its folder again
        with contextlib.suppress(OSError):  # not empty: something unlisted is kept
            folder.rmdir()
    return deleted


def finish_deletions(receipted: Iterable[tuple[DataLayout, Path]]) -> int:
    """Delete the local copy of periods verified earlier (receipt present, manifest still here:
    synced without --delete-local, or a crash mid-deletion). Returns periods deleted."""
    done = 0
    for layout, manifest_path in receipted:
        try:
            manifest = Manifest.read(manifest_path)
        except ManifestError:
            continue  # unreadable: keep everything, a person should look
        delete_period(layout, manifest, manifest_path)
        done += 1
    return done
