"""What the simulator served, per camera, so a test can compare it with what a collector stored.

Every image request lands in exactly one bucket: ``new`` (a frame version this camera had not
served before), ``repeat`` (a version served again), or ``faults[kind]``. The one exception is
``frozen``: it serves a real frame, so it counts in ``faults["frozen"]`` *and* as new/repeat;
then "frames a deduplicating collector stored" equals ``new`` in every case.

The digests of the last versions served as ``new`` are kept per camera (bounded), for tests that
check a collector's manifest digest by digest.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

DIGEST_HISTORY = 1000  # per camera: ~16 minutes at one frame a second


@dataclass(slots=True)
class CameraStats:
    """Counters for one camera (mutable: the server bumps them on every request)."""

    new: int = 0
    repeat: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    last_version: int | None = None
    digests: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=DIGEST_HISTORY))

    def to_dict(self) -> dict[str, Any]:
        return {"new": self.new, "repeat": self.repeat, "faults": dict(self.faults)}


class ServeStats:
    """Per-camera counters plus totals; ``started_at`` is wall time, for rate calculations."""

    def __init__(self, camera_ids: list[str], *, refresh: float, started_at: float) -> None:
        self.refresh = refresh
        self.started_at = started_at
        self.catalog_requests = 0
        self.in_flight = 0  # image requests being answered now; hangs and drips must drop out
        self._cameras = {camera_id: CameraStats() for camera_id in camera_ids}

    def frame_served(self, camera_id: str, version: int, digest: str) -> bool:
        """Count a served frame; True when the version is new for this camera."""
        stats = self._cameras[camera_id]
        if stats.last_version is None or version > stats.last_version:
            stats.last_version = version
            stats.new += 1
            stats.digests.append((version, digest))
            return True
        stats.repeat += 1
        return False

    def fault_served(self, camera_id: str, kind: str) -> None:
        self._cameras[camera_id].faults[kind] += 1

    def camera(self, camera_id: str) -> CameraStats:
        return self._cameras[camera_id]

    def served_digests(self, camera_id: str) -> list[dict[str, Any]]:
        """The (bounded) history of versions this camera served as new, oldest first."""
        return [
            {"version": version, "digest": digest}
            for version, digest in self._cameras[camera_id].digests
        ]

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``GET /_sim/stats``."""
        faults: Counter[str] = Counter()
        new = repeat = 0
        cameras: dict[str, Any] = {}
        for camera_id, stats in self._cameras.items():
            cameras[camera_id] = stats.to_dict()
            new += stats.new
            repeat += stats.repeat
            faults.update(stats.faults)
        return {
            "cameras": cameras,
            "totals": {
                "new": new,
                "repeat": repeat,
                "faults": dict(faults),
                "catalog_requests": self.catalog_requests,
                "in_flight": self.in_flight,
            },
            "started_at": self.started_at,
            "refresh": self.refresh,
        }
