"""`dataset build`: training shards of a target size that mix cameras and hours, with a card.

The stored shards are one camera-period each: a loader that reads them in order sees an hour of
one camera, then an hour of the next. A training run wants each shard to hold many cameras and
many hours, so that a shuffle buffer of a few thousand samples already mixes them. ``build``
reads the selected source shards (verified, through :class:`cctview_fleet.dataset.frames.Dataset`),
``streams`` of them at a time, and takes each next sample from a randomly chosen open stream
(seeded: the same selection and seed give the same shards). Memory holds one sample per open
stream, never a whole source shard.

Output, to a local folder or an ``s3://bucket/prefix``:

    shard-000000.tar ...   members <camera>/<ms>.jpg and <camera>/<ms>.json, as in the source
    index.parquet          one row per sample: key, shard, offsets and sizes, camera, time
    README.md              a dataset card with the Hugging Face YAML header (features, size,
                           license note, source), so `datasets.load_dataset(<folder>)` reads it

Each output shard is written whole under a temporary name and renamed (local) or uploaded in one
PUT (S3) when it reaches ``target_bytes``.
"""

from __future__ import annotations

import io
import os
import random
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cctview_agent.samples import BLOCK, END_OF_ARCHIVE, metadata_name, tar_header
from cctview_fleet.dataset.card import card
from cctview_fleet.dataset.frames import Dataset
from cctview_fleet.dataset.records import Frame, StoredPeriod
from cctview_fleet.dataset.sampleindex import pyarrow_modules
from cctview_fleet.dataset.shardselect import SelectedShard
from cctview_fleet.defaults import DEFAULT_STREAMS
from cctview_fleet.errors import ConfigError

DEFAULT_TARGET_BYTES = 256 * 1024 * 1024
MIN_TARGET_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Destination:
    """Where ``build`` writes: a local folder, or a bucket and prefix."""

    folder: Path | None = None
    bucket: str = ""
    prefix: str = ""

    @classmethod
    def parse(cls, out: str) -> Destination:
        if out.startswith("s3://"):
            bucket, _, prefix = out[len("s3://") :].partition("/")
            if not bucket:
                raise ConfigError(f"--out {out!r}: name a bucket, e.g. s3://my-bucket/train/")
            return cls(bucket=bucket, prefix=prefix.strip("/"))
        if "://" in out:
            raise ConfigError(f"--out {out!r}: give a local folder or an s3://bucket/prefix")
        return cls(folder=Path(out))

    def name(self, file: str) -> str:
        if self.folder is not None:
            return str(self.folder / file)
        return (
            f"s3://{self.bucket}/{self.prefix}/{file}"
            if self.prefix
            else f"s3://{self.bucket}/{file}"
        )


@dataclass
class _Writer:
    """Builds one output shard in a temporary file, recording each sample's offsets."""

    path: Path
    name: str
    size: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._file = self.path.open("wb")

    def _member(self, name: str, data: bytes, mtime: int) -> int:
        header = tar_header(name, len(data), mtime)
        self._file.write(header)
        self._file.write(data)
        self._file.write(b"\0" * (-len(data) % BLOCK))
        offset = self.size + len(header)
        self.size = offset + len(data) + (-len(data) % BLOCK)
        return offset

    def add(self, frame: Frame) -> None:
        name = f"{frame.camera_id}/{frame.ts_ms}.jpg"
        metadata = frame.metadata.to_json()
        jpg_offset = self._member(name, frame.data, frame.ts_ms // 1000)
        json_offset = self._member(
            metadata_name(frame.camera_id, f"{frame.ts_ms}.jpg"), metadata, frame.ts_ms // 1000
        )
        self.rows.append(
            {
                "key": f"{frame.camera_id}/{frame.ts_ms}",
                "shard": self.name,
                "camera_id": frame.camera_id,
                "camera_name": frame.metadata.camera_name,
                "latitude": frame.metadata.latitude,
                "longitude": frame.metadata.longitude,
                "ts_ms": frame.ts_ms,
                "jpg_offset": jpg_offset,
                "jpg_size": len(frame.data),
                "json_offset": json_offset,
                "json_size": len(metadata),
                "digest": frame.metadata.digest,
            }
        )

    def close(self) -> int:
        self._file.write(END_OF_ARCHIVE)
        self._file.close()
        self.size += len(END_OF_ARCHIVE)
        return self.size


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What ``build`` wrote."""

    out: str
    shards: tuple[str, ...]
    samples: int
    bytes: int
    cameras: int
    hours: int
    sources: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": self.out,
            "shards": list(self.shards),
            "samples": self.samples,
            "bytes": self.bytes,
            "cameras": self.cameras,
            "hours": self.hours,
            "sources": self.sources,
        }


def check_build(out: str, target_bytes: int) -> Destination:
    """Where to write, once ``--out`` and ``--target-size`` are known to be usable."""
    if target_bytes < MIN_TARGET_BYTES:
        raise ConfigError("--target-size must be at least 64K (e.g. 256M)", key="target_size")
    return Destination.parse(out)


def _mixed(
    dataset: Dataset, sources: list[StoredPeriod], streams: int, rng: random.Random
) -> Iterator[Frame]:
    """Samples of every source, drawn at random from ``streams`` open sources at a time."""
    pending = list(sources)
    rng.shuffle(pending)
    open_streams: list[Iterator[Frame]] = []
    while pending or open_streams:
        while pending and len(open_streams) < streams:
            open_streams.append(dataset.period_frames(pending.pop()))
        index = rng.randrange(len(open_streams))
        frame = next(open_streams[index], None)
        if frame is None:
            open_streams.pop(index)
            continue
        yield frame


def build(
    dataset: Dataset,
    shards: list[SelectedShard],
    out: str,
    *,
    target_bytes: int = DEFAULT_TARGET_BYTES,
    streams: int = DEFAULT_STREAMS,
    seed: int = 0,
    on_sample: Callable[[int], None] | None = None,
) -> BuildReport:
    """Write the selected shards' samples, mixed, as shards of about ``target_bytes``."""
    destination = check_build(out, target_bytes)
    wanted = {s.shard_key for s in shards}
    sources = [
        p
        for date in sorted({s.date for s in shards})
        for p in dataset.periods(date=date)
        if p.tar_key in wanted
    ]
    rng = random.Random(seed)
    names: list[str] = []
    rows: list[dict[str, Any]] = []
    total = 0
    with tempfile.TemporaryDirectory(prefix="cctview-build-") as scratch:
        writer: _Writer | None = None

        def finish(current: _Writer) -> None:
            nonlocal total
            total += current.close()
            _store(dataset, destination, current.path, current.name)
            names.append(current.name)
            rows.extend(current.rows)

        for frame in _mixed(dataset, sources, max(1, streams), rng):
            if writer is None:
                name = f"shard-{len(names):06d}.tar"
                writer = _Writer(Path(scratch) / name, name)
            writer.add(frame)
            if on_sample is not None:
                on_sample(len(frame.data))
            if writer.size >= target_bytes:
                finish(writer)
                writer = None
        if writer is not None:
            finish(writer)
        _store_bytes(dataset, destination, "index.parquet", _index_parquet(rows))
        readme = card(
            shards=names,
            samples=len(rows),
            size=total,
            cameras=len({r["camera_id"] for r in rows}),
            first_ms=min((r["ts_ms"] for r in rows), default=0),
            last_ms=max((r["ts_ms"] for r in rows), default=0),
            source=f"s3://{dataset.bucket}/{dataset.prefix}",
        )
        _store_bytes(dataset, destination, "README.md", readme.encode())
    return BuildReport(
        out=out,
        shards=tuple(destination.name(n) for n in names),
        samples=len(rows),
        bytes=total,
        cameras=len({r["camera_id"] for r in rows}),
        hours=len({(r["camera_id"], r["ts_ms"] // 3_600_000) for r in rows}),
        sources=len(sources),
    )


def _store(dataset: Dataset, destination: Destination, path: Path, name: str) -> None:
    if destination.folder is not None:
        destination.folder.mkdir(parents=True, exist_ok=True)
        final = destination.folder / name
        temporary = final.with_name(f".{name}.tmp")
        with path.open("rb") as source, temporary.open("wb") as target:
            while chunk := source.read(1 << 20):
                target.write(chunk)
        os.replace(temporary, final)
        return
    key = f"{destination.prefix}/{name}" if destination.prefix else name
    with path.open("rb") as body:
        dataset.call(
            f"writing s3://{destination.bucket}/{key}",
            lambda **kw: dataset.client.put_object(**{**kw, "Bucket": destination.bucket}),
            Key=key,
            Body=body,
        )


def _store_bytes(dataset: Dataset, destination: Destination, name: str, data: bytes) -> None:
    with tempfile.NamedTemporaryFile() as scratch:
        scratch.write(data)
        scratch.flush()
        _store(dataset, destination, Path(scratch.name), name)


def _index_parquet(rows: list[dict[str, Any]]) -> bytes:
    pa, pq = pyarrow_modules()
    columns = [
        ("key", pa.string()),
        ("shard", pa.string()),
        ("camera_id", pa.string()),
        ("camera_name", pa.string()),
        ("latitude", pa.float64()),
        ("longitude", pa.float64()),
        ("ts_ms", pa.int64()),
        ("jpg_offset", pa.int64()),
        ("jpg_size", pa.int64()),
        ("json_offset", pa.int64()),
        ("json_size", pa.int64()),
        ("digest", pa.string()),
    ]
    schema = pa.schema(columns)
    table = pa.table({name: [r[name] for r in rows] for name, _t in columns}, schema=schema)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()
