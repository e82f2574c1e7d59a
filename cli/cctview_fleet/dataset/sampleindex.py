"""The index of samples: one Parquet row per stored frame, kept in the bucket, built from manifests.

    <prefix>/index/samples/date=<YYYY-MM-DD>/hour=<HH>.parquet

A row says where a sample is: its camera (id, name, position), time, node and period, the shard
(tar) that holds it, and the byte offset and size of its ``.jpg`` and ``.json`` members' data,
so a loader can fetch one sample with a ranged GET and check it against ``digest``. The index is
made from the manifests alone: manifests written by current agents record the offsets
(``shard.members``), and every offset is checked against the layout the reader derives from the
manifest (:func:`cctview_agent.samples.lay_out`), which also gives the offsets of manifests that
predate the field. No tar is read.

Incremental: one file per UTC hour (an hour of the whole city, ~900 cameras, is ~90 MB; a day
would be too big to rewrite). An hour's file records which manifests it covers
(``manifest_key``); an update lists a day's manifests once, and for each hour reads only the
manifests not yet covered, then rewrites that hour's file. An hour with nothing new costs one
GET of its file. Manifests
are untrusted input, checked as :mod:`cctview_fleet.dataset.shardreader` checks them (key agreement,
bounded size); a manifest that fails is reported and left out, never half-indexed.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from cctview_agent.manifests import Manifest
from cctview_agent.s3layout import clean_prefix
from cctview_agent.samples import SHARD_LAYOUT, Placement, lay_out, shard_placements
from cctview_fleet.errors import ConfigError, ManifestError

if TYPE_CHECKING:
    import pyarrow as pa

    from cctview_fleet.dataset.frames import Dataset
    from cctview_fleet.dataset.records import StoredPeriod

INDEX_FOLDER = "index/samples"
MAX_INDEX_BYTES = 512 * 1024 * 1024  # an hour of 1,000 cameras is ~0.1 GB; refuse the absurd
_PARTITION = re.compile(r"^date=(\d{4}-\d{2}-\d{2})/hour=(\d{2})\.parquet$")

COLUMNS = (
    "camera_id",
    "camera_name",
    "latitude",
    "longitude",
    "ts_ms",
    "time",
    "date",
    "hour",
    "node",
    "period",
    "shard_key",
    "manifest_key",
    "jpg_offset",
    "jpg_size",
    "json_offset",
    "json_size",
    "digest",
)


def pyarrow_modules() -> tuple[Any, Any]:
    """``(pyarrow, pyarrow.parquet)``, or a one-line error saying how to install them."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as exc:  # the operator's install has it; a node's does not
        raise ConfigError(
            "the sample index needs pyarrow; install the operator's CLI (`make setup`) "
            "or `pip install pyarrow`"
        ) from exc
    return pyarrow, pyarrow.parquet


def schema() -> pa.Schema:
    pa, _pq = pyarrow_modules()
    return pa.schema(
        [
            ("camera_id", pa.string()),
            ("camera_name", pa.string()),
            ("latitude", pa.float64()),
            ("longitude", pa.float64()),
            ("ts_ms", pa.int64()),
            ("time", pa.timestamp("ms", tz="UTC")),
            ("date", pa.string()),
            ("hour", pa.int8()),
            ("node", pa.string()),
            ("period", pa.string()),
            ("shard_key", pa.string()),
            ("manifest_key", pa.string()),
            ("jpg_offset", pa.int64()),
            ("jpg_size", pa.int64()),
            ("json_offset", pa.int64()),
            ("json_size", pa.int64()),
            ("digest", pa.binary(16)),
        ]
    )


def index_root(prefix: str) -> str:
    return "/".join(p for p in (clean_prefix(prefix), INDEX_FOLDER) if p) + "/"


def index_key(prefix: str, date: str, hour: str) -> str:
    return f"{index_root(prefix)}date={date}/hour={hour}.parquet"


def placements(stored: StoredPeriod, manifest: Manifest) -> tuple[Placement, ...]:
    """The offsets of each frame's members: recorded in the manifest, checked against the
    layout its shard must have; derived from that layout for manifests without them."""
    layout = lay_out(manifest, with_metadata=stored.metadata)
    derived = shard_placements(layout, manifest)
    if manifest.shard_layout:
        recorded = tuple(Placement(*m) for m in manifest.shard_members)
        if manifest.shard_layout != SHARD_LAYOUT or recorded != derived:
            raise ManifestError(
                f"s3 object {stored.manifest_key}: its recorded shard offsets differ from its "
                "shard's layout; it is left out of the index"
            )
    if stored.size != layout.size:
        raise ManifestError(
            f"s3 object {stored.tar_key} is {stored.size} bytes, its manifest implies "
            f"{layout.size}; it is left out of the index"
        )
    return derived


def rows_of(stored: StoredPeriod, manifest: Manifest) -> dict[str, list[Any]]:
    """The index rows of one period, as columns."""
    columns: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    for frame, place in zip(manifest.frames, placements(stored, manifest), strict=True):
        values = (
            stored.camera_id,
            manifest.camera_name,
            manifest.latitude,
            manifest.longitude,
            frame.ts_ms,
            frame.ts_ms,
            stored.period.date,
            int(stored.period.hour),
            stored.node,
            stored.period.key,
            stored.tar_key,
            stored.manifest_key,
            place.jpg_offset,
            frame.size,
            place.json_offset,
            place.json_size,
            bytes.fromhex(frame.digest),
        )
        for name, value in zip(COLUMNS, values, strict=True):
            columns[name].append(value)
    return columns


@dataclass(frozen=True, slots=True)
class HourUpdate:
    """What one UTC hour's index file got in this run."""

    date: str
    hour: str
    key: str
    periods_added: int
    samples: int  # rows in the hour's file after the update
    bytes: int  # size of the file written (0 when unchanged)
    skipped: tuple[str, ...] = ()  # manifests left out, with the reason

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "skipped": list(self.skipped)}


@dataclass(frozen=True, slots=True)
class IndexReport:
    """The whole run: per hour, and the totals the CLI prints."""

    hours: tuple[HourUpdate, ...] = ()
    seconds: float = 0.0

    @property
    def periods_added(self) -> int:
        return sum(h.periods_added for h in self.hours)

    @property
    def samples(self) -> int:
        return sum(h.samples for h in self.hours)

    @property
    def problems(self) -> tuple[str, ...]:
        return tuple(p for h in self.hours for p in h.skipped)

    def to_dict(self) -> dict[str, Any]:
        return {
            "hours": [h.to_dict() for h in self.hours],
            "periods_added": self.periods_added,
            "samples": self.samples,
            "seconds": round(self.seconds, 3),
        }


class SampleIndex:
    """Reads and updates the per-hour Parquet files of one bucket and prefix."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.pa, self.pq = pyarrow_modules()

    def partitions(self) -> list[tuple[str, str]]:
        """``(date, hour)`` of every index file, oldest first."""
        root = index_root(self.dataset.prefix)
        found = []
        for item in self.dataset.list_objects(root):
            match = _PARTITION.match(item["Key"][len(root) :])
            if match:
                found.append((match.group(1), match.group(2)))
        return sorted(found)

    def dates(self) -> list[str]:
        """Days that have an index file, oldest first."""
        return sorted({date for date, _hour in self.partitions()})

    def read_hour(self, date: str, hour: str) -> pa.Table | None:
        key = index_key(self.dataset.prefix, date, hour)
        data = self.dataset.get_optional(key, MAX_INDEX_BYTES)
        if data is None:
            return None
        return self.pq.read_table(io.BytesIO(data))

    def read(self, dates: Iterable[str] | None = None) -> pa.Table:
        """The index rows of the given days (every indexed day by default), in one table."""
        wanted = None if dates is None else set(dates)
        tables = [
            table
            for date, hour in self.partitions()
            if wanted is None or date in wanted
            if (table := self.read_hour(date, hour)) is not None
        ]
        if not tables:
            return schema().empty_table()
        return self.pa.concat_tables(tables)

    def update_day(
        self, date: str, on_period: Callable[[], None] | None = None
    ) -> list[HourUpdate]:
        """Bring each hour of ``date`` that holds periods up to date (one listing for the day)."""
        by_hour: dict[str, list[StoredPeriod]] = {}
        for stored in self.dataset.periods(date=date):
            by_hour.setdefault(stored.hour, []).append(stored)
        return [
            self.update_hour(date, hour, periods, on_period)
            for hour, periods in sorted(by_hour.items())
        ]

    def update_hour(
        self,
        date: str,
        hour: str,
        periods: list[StoredPeriod],
        on_period: Callable[[], None] | None = None,
    ) -> HourUpdate:
        """Add the hour's manifests not yet in its file; rewrite the file if any were added."""
        key = index_key(self.dataset.prefix, date, hour)
        current = self.read_hour(date, hour)
        covered = set(current.column("manifest_key").to_pylist()) if current is not None else set()
        added: list[dict[str, list[Any]]] = []
        skipped: list[str] = []
        for stored in periods:
            if stored.manifest_key in covered:
                continue
            try:
                manifest = self.dataset.manifest(stored)
                if manifest.frames:  # a period without frames has no rows (and is read again)
                    added.append(rows_of(stored, manifest))
            except ManifestError as exc:
                skipped.append(str(exc))
            if on_period is not None:
                on_period()
        rows = 0 if current is None else current.num_rows
        if not added:
            return HourUpdate(date, hour, key, 0, rows, 0, tuple(skipped))
        columns = {name: [v for part in added for v in part[name]] for name in COLUMNS}
        table = self.pa.table(columns, schema=schema())
        if current is not None:
            table = self.pa.concat_tables([current.cast(schema()), table])
        table = table.sort_by([("camera_id", "ascending"), ("ts_ms", "ascending")])
        sink = io.BytesIO()
        self.pq.write_table(table, sink, compression="zstd")
        data = sink.getvalue()
        self.dataset.call(
            f"writing s3://{self.dataset.bucket}/{key}",
            self.dataset.client.put_object,
            Key=key,
            Body=data,
            ContentType="application/vnd.apache.parquet",
        )
        return HourUpdate(date, hour, key, len(added), table.num_rows, len(data), tuple(skipped))


def check_dates(dates: Iterable[str]) -> list[str]:
    """``--date`` values, validated and sorted (a bad one fails before any request)."""
    from cctview_fleet.dataset.records import check_filters

    return sorted({check_filters(None, date, None)[1] or "" for date in dates})


def update_index(
    dataset: Dataset,
    dates: Iterable[str] | None = None,
    *,
    on_total: Callable[[int], None] | None = None,
    on_period: Callable[[], None] | None = None,
) -> IndexReport:
    """Bring the index of every stored day (or of ``dates``) up to date."""
    started = time.monotonic()
    index = SampleIndex(dataset)
    days = dataset.dates() if dates is None else check_dates(dates)
    if on_total is not None:
        on_total(len(days))
    updates = [update for date in days for update in index.update_day(date, on_period)]
    return IndexReport(tuple(updates), time.monotonic() - started)
