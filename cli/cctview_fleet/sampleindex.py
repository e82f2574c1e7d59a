"""The index of samples: one Parquet row per stored frame, kept in the bucket, built from manifests.

    <prefix>/index/samples/date=<YYYY-MM-DD>.parquet

A row says where a sample is: its camera (id, name, position), time, node and period, the shard
(tar) that holds it, and the byte offset and size of its ``.jpg`` and ``.json`` members' data,
so a loader can fetch one sample with a ranged GET and check it against ``digest``. The index is
made from the manifests alone: manifests written by current agents record the offsets
(``shard.members``), and every offset is checked against the layout the reader derives from the
manifest (:func:`cctview_agent.samples.lay_out`), which also gives the offsets of manifests that
predate the field. No tar is read.

Incremental: one file per UTC day. A day's file records which manifests it covers
(``manifest_key``); an update lists the day's manifests and reads only those not yet covered,
then rewrites that day's file. A day with nothing new costs one listing and one GET. Manifests
are untrusted input, checked as :mod:`cctview_fleet.shardreader` checks them (key agreement,
bounded size); a manifest that fails is reported and left out, never half-indexed.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cctview_agent.manifests import Manifest
from cctview_agent.s3layout import clean_prefix
from cctview_agent.samples import SHARD_LAYOUT, Placement, lay_out, shard_placements
from cctview_fleet.errors import ConfigError, ManifestError

if TYPE_CHECKING:
    import pyarrow as pa

    from cctview_fleet.dataset import Dataset, StoredPeriod

INDEX_FOLDER = "index/samples"
MAX_INDEX_BYTES = 512 * 1024 * 1024  # a day of 500 cameras is ~0.2 GB; refuse anything absurd

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


def index_key(prefix: str, date: str) -> str:
    return "/".join(p for p in (clean_prefix(prefix), INDEX_FOLDER, f"date={date}.parquet") if p)


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
class DayUpdate:
    """What one day's index file got in this run."""

    date: str
    key: str
    periods_added: int
    samples: int  # rows in the day's file after the update
    bytes: int  # size of the day's file (0 when unchanged and not read)
    skipped: tuple[str, ...] = ()  # manifests left out, with the reason


@dataclass(frozen=True, slots=True)
class IndexReport:
    """The whole run: per day, and the totals the CLI prints."""

    days: tuple[DayUpdate, ...] = ()
    seconds: float = 0.0
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def periods_added(self) -> int:
        return sum(d.periods_added for d in self.days)

    @property
    def samples(self) -> int:
        return sum(d.samples for d in self.days)

    def to_dict(self) -> dict[str, Any]:
        return {
            "days": [
                {
                    "date": d.date,
                    "key": d.key,
                    "periods_added": d.periods_added,
                    "samples": d.samples,
                    "bytes": d.bytes,
                    "skipped": list(d.skipped),
                }
                for d in self.days
            ],
            "periods_added": self.periods_added,
            "samples": self.samples,
            "seconds": round(self.seconds, 3),
        }


class SampleIndex:
    """Reads and updates the per-day Parquet files of one bucket and prefix."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.pa, self.pq = pyarrow_modules()

    def dates(self) -> list[str]:
        """Days that have an index file, oldest first."""
        prefix = index_key(self.dataset.prefix, "")[: -len(".parquet")].rsplit("date=", 1)[0]
        found = []
        for item in self.dataset.list_objects(prefix):
            name = item["Key"][len(prefix) :]
            if name.startswith("date=") and name.endswith(".parquet"):
                found.append(name[len("date=") : -len(".parquet")])
        return sorted(found)

    def read_day(self, date: str) -> pa.Table | None:
        data = self.dataset.get_optional(index_key(self.dataset.prefix, date), MAX_INDEX_BYTES)
        if data is None:
            return None
        return self.pq.read_table(io.BytesIO(data))

    def read(self, dates: Iterable[str] | None = None) -> pa.Table:
        """The index rows of the given days (every indexed day by default), in one table."""
        tables = [t for d in (self.dates() if dates is None else dates) if (t := self.read_day(d))]
        if not tables:
            return schema().empty_table()
        return self.pa.concat_tables(tables)

    def update_day(self, date: str, on_period: Callable[[], None] | None = None) -> DayUpdate:
        """Add the day's manifests not yet in its file; rewrite the file if any were added."""
        key = index_key(self.dataset.prefix, date)
        periods = self.dataset.periods(date=date)
        current = self.read_day(date)
        covered = set(current.column("manifest_key").to_pylist()) if current is not None else set()
        new = [p for p in periods if p.manifest_key not in covered]
        added: list[dict[str, list[Any]]] = []
        skipped: list[str] = []
        for stored in new:
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
            return DayUpdate(date, key, 0, rows, 0, tuple(skipped))
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
        return DayUpdate(date, key, len(added), table.num_rows, len(data), tuple(skipped))


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
    days = sorted(set(dates) if dates is not None else set(dataset.dates()))
    if on_total is not None:
        on_total(len(days))
    updates = []
    for date in days:
        updates.append(index.update_day(date, on_period))
    problems = tuple(p for d in updates for p in d.skipped)
    return IndexReport(tuple(updates), time.monotonic() - started, problems)
