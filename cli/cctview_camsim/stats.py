"""What the simulator served, per camera, so a test can compare it with what a collector stored.

Every image request lands in exactly one bucket: ``new`` (a frame version this camera had not
served before), ``repeat`` (a version served again), or ``faults[kind]``. A frozen camera's frames
count only in ``faults["frozen"]``: their bytes change (the clock ticks) but their picture does
not, so a collector that stores pictures, not bytes, stores ``new`` frames in every case.

``shown`` (filled in by the server) is how many new pictures each camera put up since it joined:
the most a collector could have stored; ``new / shown`` is a collector's capture rate.
``retry_after_ignored`` counts requests that came before a ``Retry-After`` this camera had sent;
``peak_requests_per_s`` is the most image requests that arrived within any one second.

The digests of the last versions served as ``new`` are kept per camera (bounded), for tests that
check a collector's manifest digest by digest.
"""

from __future__ import annotations

import time
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
    retry_at: float | None = None  # wall time the last 429's Retry-After ends
    retry_after_ignored: int = 0
    digests: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=DIGEST_HISTORY))

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"new": self.new, "repeat": self.repeat, "faults": dict(self.faults)}
        if self.retry_after_ignored:
            body["retry_after_ignored"] = self.retry_after_ignored
        return body


class ServeStats:
    """Per-camera counters plus totals; ``started_at`` is wall time, for rate calculations."""

    def __init__(self, camera_ids: list[str], *, refresh: float | None, started_at: float) -> None:
        self.refresh = refresh  # None: per-camera irregular cadence (the real profile)
        self.profile = "easy"
        self.started_at = started_at
        self.catalog_requests = 0
        self.in_flight = 0  # image requests being answered now; hangs and drips must drop out
        self.peak_per_s = 0  # most image requests that arrived within one second
        self._arrivals: deque[float] = deque()
        self.user_agents: dict[str, int] = {}  # who polls (a few distinct values at most)
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

    def arrived(self) -> None:
        """An image request arrived: keeps the busiest one-second window (a client's budget)."""
        now = time.monotonic()
        arrivals = self._arrivals
        arrivals.append(now)
        while arrivals[0] <= now - 1.0:
            arrivals.popleft()
        if len(arrivals) > self.peak_per_s:
            self.peak_per_s = len(arrivals)

    def polled_by(self, user_agent: str) -> None:
        if user_agent in self.user_agents or len(self.user_agents) < 16:
            self.user_agents[user_agent] = self.user_agents.get(user_agent, 0) + 1

    def add_camera(self, camera_id: str) -> None:
        self._cameras.setdefault(camera_id, CameraStats())

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

    def to_dict(self, shown: dict[str, int] | None = None) -> dict[str, Any]:
        """The JSON of ``GET /_sim/stats``; ``shown`` adds each camera's pictures put up."""
        faults: Counter[str] = Counter()
        new = repeat = ignored = 0
        cameras: dict[str, Any] = {}
        for camera_id, stats in self._cameras.items():
            cameras[camera_id] = stats.to_dict()
            if shown is not None and camera_id in shown:
                cameras[camera_id]["shown"] = shown[camera_id]
            new += stats.new
            repeat += stats.repeat
            ignored += stats.retry_after_ignored
            faults.update(stats.faults)
        return {
            "cameras": cameras,
            "totals": {
                "new": new,
                "repeat": repeat,
                "faults": dict(faults),
                "catalog_requests": self.catalog_requests,
                "in_flight": self.in_flight,
                "shown": sum(shown.values()) if shown is not None else None,
                "retry_after_ignored": ignored,
                "peak_requests_per_s": self.peak_per_s,
            },
            "profile": self.profile,
            "user_agents": dict(self.user_agents),
            "started_at": self.started_at,
            "refresh": self.refresh,
        }
