"""Choosing shards for training: by preset, camera, date and hour range, daylight; and their URLs.

The selection runs on the sample index (:mod:`cctview_fleet.dataset.sampleindex`), never on a
listing of the bucket: one GET per indexed hour answers "these cameras, these days, daylight
only". A shard is one camera-period tar; "daylight" means the sun is up at the camera (its
latitude and longitude, recorded in the manifest) at the middle of the period
(:mod:`cctview_fleet.dataset.solar`).
A shard whose camera has no recorded position (manifests closed before positions were recorded)
is left out of a daylight selection: whether it is day there is unknown.

URLs come in the forms the loaders take: ``s3`` (``s3://bucket/key``, for s3fs / ``datasets``
with ``storage_options``), ``https`` (presigned GET URLs, for WebDataset and anything that reads
HTTP; they expire), and ``pipe`` (``pipe:aws s3 cp s3://bucket/key -``, WebDataset's way of
reading through a command, with ``--endpoint-url`` for the local fleet).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import asdict, dataclass
from datetime import date as Date
from typing import TYPE_CHECKING, Any, Literal

from cctview_agent.cameras import Camera
from cctview_agent.periods import Period
from cctview_agent.presets import get_preset
from cctview_agent.s3layout import is_safe_camera_id
from cctview_fleet.dataset.solar import is_daylight
from cctview_fleet.defaults import URL_FORMS
from cctview_fleet.errors import ConfigError

if TYPE_CHECKING:
    import pyarrow as pa

    from cctview_fleet.dataset.frames import Dataset

UrlForm = Literal["s3", "https", "pipe"]


@dataclass(frozen=True, slots=True)
class ShardQuery:
    """What to train on. Empty fields select everything; hours are UTC, inclusive."""

    cameras: tuple[str, ...] = ()
    preset: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    hour_from: int = 0
    hour_to: int = 23
    daylight: bool = False

    def __post_init__(self) -> None:
        for camera in self.cameras:
            if not is_safe_camera_id(camera):
                raise ConfigError(f"--camera {camera!r} is not a camera id", key="camera")
        if self.preset is not None and get_preset(self.preset) is None:
            raise ConfigError(
                f"--preset {self.preset!r} is unknown; `cctview-fleet cameras --help` lists them",
                key="preset",
            )
        for name in ("date_from", "date_to"):
            value = getattr(self, name)
            if value is not None:
                try:
                    Date.fromisoformat(value)
                except ValueError:
                    flag = "--from" if name == "date_from" else "--to"
                    raise ConfigError(
                        f"{flag} {value!r} is not a date; use YYYY-MM-DD", key=name
                    ) from None
        if not (0 <= self.hour_from <= 23 and 0 <= self.hour_to <= 23):
            raise ConfigError("--hours must be two UTC hours 0-23, e.g. --hours 7-19", key="hours")

    def dates(self, indexed: list[str]) -> list[str]:
        """The indexed days inside the date range."""
        return [
            d
            for d in indexed
            if (self.date_from is None or d >= self.date_from)
            and (self.date_to is None or d <= self.date_to)
        ]


def parse_hours(text: str | None) -> tuple[int, int]:
    """``--hours 7-19`` (or ``13``) as ``(7, 19)``; a range may wrap midnight (``22-4``)."""
    if text is None:
        return 0, 23
    match = re.fullmatch(r"\s*(\d{1,2})\s*(?:-\s*(\d{1,2})\s*)?", text)
    if match is None:
        raise ConfigError(f"--hours {text!r}: use H or H-H (UTC), e.g. --hours 7-19", key="hours")
    first = int(match.group(1))
    return first, int(match.group(2) or first)


@dataclass(frozen=True, slots=True)
class SelectedShard:
    """One shard (camera-period tar) of the selection, with what the index says it holds."""

    shard_key: str
    manifest_key: str
    camera_id: str
    camera_name: str
    latitude: float | None
    longitude: float | None
    period: str
    node: str
    date: str
    hour: int
    samples: int
    jpg_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _hour_selected(hour: int, query: ShardQuery) -> bool:
    if query.hour_from <= query.hour_to:
        return query.hour_from <= hour <= query.hour_to
    return hour >= query.hour_from or hour <= query.hour_to  # wraps midnight


def select_shards(table: pa.Table, query: ShardQuery) -> list[SelectedShard]:
    """The shards of ``table`` (index rows) that match ``query``, by camera then time."""
    keys = [
        "shard_key",
        "manifest_key",
        "camera_id",
        "camera_name",
        "latitude",
        "longitude",
        "period",
        "node",
        "date",
        "hour",
    ]
    if table.num_rows == 0:
        return []
    grouped = table.group_by(keys).aggregate([("ts_ms", "count"), ("jpg_size", "sum")])
    preset = get_preset(query.preset) if query.preset else None
    chosen: list[SelectedShard] = []
    for row in grouped.to_pylist():
        shard = SelectedShard(
            **{k: row[k] for k in keys}, samples=row["ts_ms_count"], jpg_bytes=row["jpg_size_sum"]
        )
        if query.cameras and shard.camera_id not in query.cameras:
            continue
        if not _hour_selected(shard.hour, query):
            continue
        if not query.dates([shard.date]):
            continue
        located = shard.latitude is not None and shard.longitude is not None
        if preset is not None:
            camera = Camera(shard.camera_id, shard.camera_name, *_position(shard))
            if not located or not preset.region.contains_camera(camera):
                continue
        if query.daylight:
            period = Period.from_key(shard.period)
            middle = period.start_ms + period.length * 500
            if not located or not is_daylight(*_position(shard), middle):
                continue
        chosen.append(shard)
    return sorted(chosen, key=lambda s: (s.camera_id, s.period, s.shard_key))


def _position(shard: SelectedShard) -> tuple[float, float]:
    return (shard.latitude or 0.0, shard.longitude or 0.0)


def shard_url(dataset: Dataset, key: str, form: UrlForm, *, expires: int = 3600) -> str:
    """The shard's URL in one of :data:`URL_FORMS`."""
    if form == "s3":
        return f"s3://{dataset.bucket}/{key}"
    if form == "https":
        return str(
            dataset.call(
                f"presigning s3://{dataset.bucket}/{key}",
                lambda **kw: dataset.client.generate_presigned_url(
                    "get_object", Params=kw, ExpiresIn=expires
                ),
                Key=key,
            )
        )
    if form == "pipe":
        endpoint = dataset.stack.endpoint_url
        flags = f" --endpoint-url {shlex.quote(endpoint)}" if endpoint else ""
        return f"pipe:aws{flags} s3 cp {shlex.quote(f's3://{dataset.bucket}/{key}')} -"
    raise ConfigError(f"--form {form!r}: use one of {', '.join(URL_FORMS)}", key="form")
