"""What reading a data set yields: a stored period, a verified frame, what an extraction wrote;
and the camera/date/hour filters every reader validates the same way.

Kept apart from :mod:`cctview_fleet.dataset.frames` (which reads S3 with boto3) so the sample
index, shard selection and the commands can name these records without loading the reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cctview_agent.periods import Period
from cctview_agent.s3layout import PeriodObject, is_safe_camera_id
from cctview_agent.samples import SampleMetadata
from cctview_fleet.errors import ConfigError


@dataclass(frozen=True, slots=True)
class StoredPeriod:
    """One camera-period (or one half of it) in S3: its manifest and its tar (none when the
    period stored no frame). ``metadata`` is False for the old layout, whose tars hold ``.jpg``
    members only (the reader then builds each sample's metadata from the manifest)."""

    camera_id: str
    period: Period
    node: str
    first_ms: int
    tar_key: str
    manifest_key: str
    size: int
    metadata: bool = True
    manifest_size: int = 0

    @property
    def target(self) -> PeriodObject:
        return PeriodObject(self.camera_id, self.period, self.node, self.first_ms)

    @property
    def date(self) -> str:
        return self.period.date

    @property
    def hour(self) -> str:
        return self.period.hour

    def to_dict(self) -> dict[str, Any]:
        return {
            "camera_id": self.camera_id,
            "period": self.period.key,
            "date": self.date,
            "hour": self.hour,
            "node": self.node,
            "first_ms": self.first_ms,
            "tar_key": self.tar_key,
            "manifest_key": self.manifest_key,
            "size": self.size,
            "metadata": self.metadata,
        }


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame read back from S3, verified: its camera, capture time (Unix ms), JPEG, and the
    sample's metadata (camera name and position, node, period, digest)."""

    camera_id: str
    ts_ms: int
    data: bytes
    metadata: SampleMetadata


@dataclass(frozen=True, slots=True)
class Extracted:
    """What :func:`extract` wrote."""

    periods: int
    frames: int
    bytes: int
    folder: Path


def check_filters(
    camera: str | None, date: str | None, hour: int | str | None
) -> tuple[str | None, str | None, str | None]:
    """Validated ``(camera, YYYY-MM-DD, HH)``; an hour needs a date (keys nest hour in date)."""
    if camera is not None and not is_safe_camera_id(camera):
        raise ConfigError(f"--camera {camera!r} is not a camera id", key="camera")
    if date is not None:
        try:
            date = datetime.strptime(date, "%Y-%m-%d").strftime("%Y-%m-%d")
        except ValueError:
            raise ConfigError(
                f"--date {date!r} is not a date; use YYYY-MM-DD, e.g. --date 2025-04-04",
                key="date",
            ) from None
    hour_text = None
    if hour is not None:
        try:
            number = int(hour)
        except ValueError:
            number = -1
        if not 0 <= number <= 23:
            raise ConfigError(f"--hour {hour!r} must be 0 to 23 (UTC), e.g. --hour 13", key="hour")
        if date is None:
            raise ConfigError("--hour needs --date (hours are UTC hours of a day)", key="hour")
        hour_text = f"{number:02d}"
    return camera, date, hour_text
