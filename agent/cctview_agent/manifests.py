"""Manifests: the record that closes a camera-period and marks it complete.

A manifest lists every stored frame of one camera-period (name, time, size, digest) and what the
period lost (duplicates skipped, failures by kind, gaps, coverage). It is written atomically after
the period ends plus a grace time; its presence is the completion mark, so a reader (the syncer,
a data-set loader) never trusts a period without one. The same format travels to S3 beside the
period's tar, so a downloaded period can be checked frame by frame.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cctview_agent.atomicfile import write_atomic
from cctview_agent.errors import ManifestError
from cctview_agent.periods import Period

MANIFEST_VERSION = 1
DIGEST_ALGORITHM = "blake2b-128"


def frame_digest(data: bytes) -> str:
    """The per-frame digest: BLAKE2b, 16 bytes, hex. Fast on a t2.micro and collision-safe here."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class FrameRecord:
    """One stored frame: its file name, capture time (Unix ms), size in bytes and digest."""

    name: str
    ts_ms: int
    size: int
    digest: str


@dataclass(frozen=True, slots=True)
class Gap:
    """A stretch with no stored frame longer than the gap threshold, in Unix ms."""

    start_ms: int
    end_ms: int

    @property
    def seconds(self) -> float:
        return (self.end_ms - self.start_ms) / 1000


def find_gaps(ts_ms: Sequence[int], period: Period, threshold_ms: int) -> tuple[Gap, ...]:
    """Stretches of a period longer than ``threshold_ms`` with no frame, edges included."""
    gaps: list[Gap] = []
    previous = period.start_ms
    for ts in [*sorted(ts_ms), period.end_ms]:
        if ts - previous > threshold_ms:
            gaps.append(Gap(previous, ts))
        previous = ts
    return tuple(gaps)


def _coordinate(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"coordinate {value!r} is not finite")
    return number


def _shard(data: Any, frames: int) -> dict[str, Any]:
    """``shard_layout`` and ``shard_members`` from the manifest's optional ``shard`` object."""
    if data is None:
        return {}
    members = tuple((int(a), int(b), int(c)) for a, b, c in data["members"])
    if len(members) != frames:
        raise ValueError(f"shard lists {len(members)} members for {frames} frames")
    return {"shard_layout": str(data["layout"]), "shard_members": members}


@dataclass(frozen=True, slots=True)
class Manifest:
    """Everything known about one closed camera-period."""

    camera_id: str
    period: Period
    frames: tuple[FrameRecord, ...]
    camera_name: str = ""
    node: str | None = None
    duplicates: int = 0
    placeholders: int = 0
    failures: Mapping[str, int] = field(default_factory=dict)
    dropped: int = 0
    gaps: tuple[Gap, ...] = ()
    polls: int = 0
    # Added by issue 10 (older manifests read as 0 / empty): repeated pictures not stored, seconds
    # the camera served the offline card, and [start_ms, end_ms] spans it was frozen.
    same_pictures: int = 0
    offline_s: float = 0.0
    frozen_spans: tuple[tuple[int, int], ...] = ()
    agent_version: str = ""
    closed_at_ms: int = 0
    version: int = MANIFEST_VERSION
    # The camera's position when the period closed (a camera reassigned later is gone from the
    # assignment by the time the period is synced); None in manifests written before it existed.
    latitude: float | None = None
    longitude: float | None = None
    # The shard's layout (cctview_agent.samples.SHARD_LAYOUT) and, per frame in ``frames``
    # order, ``(jpg data offset, json data offset, json size)`` in the tar: an index of samples
    # reads offsets here instead of scanning tars. Empty in manifests written before it existed.
    shard_layout: str = ""
    shard_members: tuple[tuple[int, int, int], ...] = ()

    @property
    def total_bytes(self) -> int:
        return sum(frame.size for frame in self.frames)

    @property
    def coverage(self) -> float:
        """Stored frames over polls attempted (1.0 for an idle period with no polls)."""
        if self.polls <= 0:
            return 1.0
        return min(1.0, len(self.frames) / self.polls)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "camera_id": self.camera_id,
            "camera_name": self.camera_name,
            "node": self.node,
            "period": {
                "key": self.period.key,
                "start": self.period.start,
                "end": self.period.end,
                "length": self.period.length,
            },
            "digest_algorithm": DIGEST_ALGORITHM,
            "frame_count": len(self.frames),
            "total_bytes": self.total_bytes,
            "polls": self.polls,
            "coverage": round(self.coverage, 6),
            "duplicates": self.duplicates,
            "placeholders": self.placeholders,
            "dropped": self.dropped,
            "failures": dict(sorted(self.failures.items())),
            "gaps": [[gap.start_ms, gap.end_ms] for gap in self.gaps],
            "same_pictures": self.same_pictures,
            "offline_s": self.offline_s,
            "frozen_spans": [[start, end] for start, end in self.frozen_spans],
            "agent_version": self.agent_version,
            "closed_at_ms": self.closed_at_ms,
            "frames": [[f.name, f.ts_ms, f.size, f.digest] for f in self.frames],
            # Added fields (readers of version 1 ignore keys they do not know):
            "latitude": self.latitude,
            "longitude": self.longitude,
            **(
                {"shard": {"layout": self.shard_layout, "members": list(self.shard_members)}}
                if self.shard_layout
                else {}
            ),
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "manifest") -> Manifest:
        try:
            if data["version"] != MANIFEST_VERSION:
                raise ManifestError(
                    f"{source}: manifest version {data['version']} is not supported "
                    f"(this cctview understands {MANIFEST_VERSION}); upgrade cctview-fleet"
                )
            period_data = data["period"]
            frames = tuple(
                FrameRecord(str(name), int(ts), int(size), str(digest))
                for name, ts, size, digest in data["frames"]
            )
            manifest = cls(
                camera_id=str(data["camera_id"]),
                camera_name=str(data.get("camera_name") or ""),
                node=data.get("node"),
                period=Period(int(period_data["start"]), int(period_data["length"])),
                frames=frames,
                duplicates=int(data.get("duplicates", 0)),
                placeholders=int(data.get("placeholders", 0)),
                failures={str(k): int(v) for k, v in dict(data.get("failures", {})).items()},
                dropped=int(data.get("dropped", 0)),
                gaps=tuple(Gap(int(a), int(b)) for a, b in data.get("gaps", [])),
                polls=int(data.get("polls", 0)),
                same_pictures=int(data.get("same_pictures", 0)),
                offline_s=float(data.get("offline_s", 0.0)),
                frozen_spans=tuple((int(a), int(b)) for a, b in data.get("frozen_spans", [])),
                agent_version=str(data.get("agent_version", "")),
                closed_at_ms=int(data.get("closed_at_ms", 0)),
                latitude=_coordinate(data.get("latitude")),
                longitude=_coordinate(data.get("longitude")),
                **_shard(data.get("shard"), len(frames)),
            )
        except ManifestError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"{source}: not a valid manifest ({exc!r})") from exc
        return manifest

    @classmethod
    def from_json(cls, data: bytes | str, *, source: str = "manifest") -> Manifest:
        try:
            parsed = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ManifestError(f"{source}: not valid JSON ({exc})") from exc
        if not isinstance(parsed, dict):
            raise ManifestError(f"{source}: not a JSON object")
        return cls.from_dict(parsed, source=source)

    def write(self, path: Path) -> None:
        """Write atomically and durably: the manifest is the period's completion mark."""
        write_atomic(path, self.to_json(), fsync=True)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ManifestError(
                f"cannot read manifest {path}: {exc.strerror or exc}", path=path
            ) from exc
        return cls.from_json(data, source=str(path))
