"""Each camera's gap across an agent restart (upgrade, crash, reload of the unit), measured by
the agent itself, so ``cctview-fleet upgrade`` can count the frames a switch cost.

At start, for each assigned camera, the agent reads what its previous run left on the data
volume: the newest stored frame's time and the usual interval between frames (see
:func:`previous_frames`; a few directory listings per camera, nothing when there is no earlier
frame). When it stores the first frame of this run, :class:`RestartGap` records that time too.
The status file then carries, per camera (``cameras[].restart``, None without an earlier frame):

    {previous_frame_ms, first_frame_ms (None until stored), gap_s (None until then),
     interval_s (None when unknown)}

``interval_s`` is the camera's usual interval between pictures: the cadence this run learnt once it
tracks (:mod:`cctview_agent.polling.cadence`), before that the previous run's (its status file),
else the median gap between the newest stored frames. The count itself (``gap / interval - 1``) is
the reader's: the CLI's ``switchloss`` module.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cctview_agent.layout import DataLayout, frame_timestamp
from cctview_agent.polling.cadence import Cadence, Mode

RECENT_FRAMES = 30  # the newest frames whose median gap stands for the camera's interval
MIN_GAP_MS = 1  # two frames in the same millisecond date nothing


@dataclass(frozen=True, slots=True)
class PreviousFrames:
    """What the data volume says about one camera before this run."""

    last_ms: int
    interval_s: float | None


def _newest_dirs(folder: Path, count: int) -> list[Path]:
    try:
        names = sorted(n for n in os.listdir(folder) if not n.startswith("."))
    except OSError:
        return []
    return [folder / name for name in names[-count:]]


def _newest_frame_times(layout: DataLayout, camera_id: str) -> list[int]:
    """The camera's newest frame times, sorted: its newest hour folder's, and the one before
    when that holds too few (an hour that just began), so a restart lists one folder a camera."""
    times: list[int] = []
    hours = [h for day in _newest_dirs(layout.camera_dir(camera_id), 2)
             for h in _newest_dirs(day, 2)]  # fmt: skip
    for hour in sorted(hours, key=lambda p: (p.parent.name, p.name))[::-1][:2]:
        try:
            names = os.listdir(hour)
        except OSError:
            continue
        times += [ts for ts in map(frame_timestamp, names) if ts is not None]
        if len(times) > RECENT_FRAMES:
            break
    return sorted(times)


def median_gap_s(times: list[int]) -> float | None:
    """The median gap between consecutive frame times (ms), in seconds; None under two."""
    gaps = [b - a for a, b in itertools.pairwise(times) if b - a >= MIN_GAP_MS]
    return statistics.median(gaps) / 1000 if gaps else None


def previous_frames(
    layout: DataLayout, camera_id: str, learnt_interval_s: float | None = None
) -> PreviousFrames | None:
    """The newest stored frame of ``camera_id`` and its usual interval (``learnt_interval_s``,
    the previous run's cadence, when given), or None when the camera has no frame here."""
    times = _newest_frame_times(layout, camera_id)
    if not times:
        return None
    recent = times[-RECENT_FRAMES:]
    return PreviousFrames(times[-1], learnt_interval_s or median_gap_s(recent))


def previous_frame_body(
    layout: DataLayout, camera_id: str, previous: PreviousFrames, max_bytes: int
) -> bytes | None:
    """The bytes of the previous run's newest stored frame (a frame is visible only whole), or
    None when it cannot be read or is over ``max_bytes`` (the fetcher's cap: never a frame it
    stored)."""
    path = layout.frame_path(camera_id, previous.last_ms)
    try:
        with path.open("rb") as file:
            body = file.read(max_bytes + 1)
    except OSError:
        return None
    return body if len(body) <= max_bytes else None


def learnt_intervals(status_file: Path) -> dict[str, float]:
    """Each camera's learnt picture period from the previous run's status file (tracking
    cameras only); empty when there is no readable file."""
    try:
        status = json.loads(status_file.read_bytes())
        cameras = status.get("cameras") or []
    except (OSError, ValueError, AttributeError):
        return {}
    found: dict[str, float] = {}
    for camera in cameras:
        if not isinstance(camera, dict):
            continue
        cadence = camera.get("cadence")
        if not isinstance(cadence, dict):
            continue
        period = cadence.get("period_s")
        if cadence.get("mode") == Mode.TRACKING.value and isinstance(period, int | float):
            found[str(camera.get("id"))] = float(period)
    return found


class RestartGap:
    """One camera's restart gap: the previous run's last frame, this run's first."""

    __slots__ = ("first_ms", "previous")

    def __init__(self, previous: PreviousFrames) -> None:
        self.previous = previous
        self.first_ms: int | None = None

    def stored(self, ts_ms: int) -> None:
        """A frame was stored at ``ts_ms``; the first one closes the gap."""
        if self.first_ms is None:
            self.first_ms = ts_ms

    def to_dict(self, cadence: Cadence) -> dict[str, Any]:
        interval = self.previous.interval_s
        if cadence.mode is Mode.TRACKING and cadence.period:
            interval = cadence.period
        gap = None if self.first_ms is None else (self.first_ms - self.previous.last_ms) / 1000
        return {
            "previous_frame_ms": self.previous.last_ms,
            "first_frame_ms": self.first_ms,
            "gap_s": None if gap is None else round(gap, 3),
            "interval_s": None if interval is None else round(interval, 3),
        }
