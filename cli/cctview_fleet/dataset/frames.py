"""Getting frames out of S3, for data-set code: list periods, iterate verified frames, extract.

    from cctview_fleet.dataset.frames import Dataset

    ds = Dataset("my-bucket", "cctview")                 # or Dataset.for_stack(load_stack("dev"))
    for period in ds.periods(date="2025-04-04", hour=13):
        print(period.camera_id, period.period.key, period.node, period.size)
    for frame in ds.frames(camera="0bcfbc92-...", date="2025-04-04"):
        frame.camera_id, frame.ts_ms, frame.data           # JPEG bytes, checked with the manifest
        frame.metadata.camera_name, frame.metadata.latitude, frame.metadata.time
    ds.extract("out/", date="2025-04-04", hour=13)   # out/frames/<camera>/<date>/<HH>/<ms>.jpg

The module-level :func:`list_periods`, :func:`iter_frames` and :func:`extract` do the same
without keeping a :class:`Dataset`. Credentials, region and ``AWS_ENDPOINT_URL`` come from
boto3's standard configuration unless a stack or a client is given.

What counts: a period is listed only when its manifest object exists (the uploader writes it
after the tar, so a manifest means the tar is whole; a manifest without frames has no tar).
Both key layouts are read: manifests under ``manifests/`` with shards of ``.jpg`` + ``.json``
members, and the older one with the manifest beside a tar of ``.jpg`` members only. Objects are
untrusted (:mod:`cctview_fleet.dataset.shardreader`): a manifest must agree with its key, every
read is bounded, every frame is checked against the manifest's size and BLAKE2b digest before it is
yielded, and a tar that lacks a listed frame or holds an unlisted or duplicated one is an error,
never a silent gap. Output paths derive from the validated key and the frames' integer times.
A camera that moved between nodes mid-period has one object per half; they are yielded in the
order of their first frame.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cctview_agent.atomicfile import write_atomic
from cctview_agent.layout import DataLayout
from cctview_agent.manifests import Manifest
from cctview_agent.s3layout import (
    FRAMES_FOLDER,
    LEGACY_MANIFEST,
    MANIFEST,
    MANIFESTS_FOLDER,
    TAR,
    PeriodObject,
    parse_key,
    partition_prefix,
)
from cctview_agent.samples import SampleMetadata, lay_out
from cctview_fleet.cloud import aws
from cctview_fleet.cloud.stacks import Stack
from cctview_fleet.dataset.records import Extracted, Frame, StoredPeriod, check_filters
from cctview_fleet.dataset.shardreader import (
    MAX_MANIFEST_BYTES,
    iter_shard,
    parse_manifest,
    read_bounded,
)
from cctview_fleet.errors import ConfigError, ManifestError


class Dataset:
    """The frames of one bucket and prefix, as a data-set builder reads them."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "cctview",
        *,
        client: Any = None,
        stack: Stack | None = None,
    ) -> None:
        if not bucket:
            raise ConfigError("no bucket given; pass the bucket name (or a stack that has one)")
        self.bucket = bucket
        self.prefix = prefix
        self.stack = stack or Stack(
            name="(environment)",
            bucket=bucket,
            prefix=prefix,
            region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "",
            endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
        )
        self.client = client if client is not None else aws.s3(self.stack)

    @classmethod
    def for_stack(cls, stack: Stack, *, prefix: str | None = None) -> Dataset:
        return cls(stack.bucket, prefix or stack.prefix, stack=stack)

    def call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        """``fn(Bucket=<bucket>, **kwargs)``, botocore errors translated; ``what`` names the act."""
        with aws.translate_errors(self.stack, "s3", what):
            return fn(Bucket=self.bucket, **kwargs)

    def _folders(self, prefix: str) -> list[str]:
        """The sub-folders (common prefixes) right below ``prefix``."""
        found: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        with aws.translate_errors(self.stack, "s3", f"listing s3://{self.bucket}/{prefix}"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
                found += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        return found

    def get_optional(self, key: str, limit: int) -> bytes | None:
        """The object's bytes (refused over ``limit``), or None when there is no such key."""
        import botocore.exceptions

        what = f"reading s3://{self.bucket}/{key}"
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except botocore.exceptions.ClientError as exc:
            if aws.error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise aws.translate(exc, self.stack, "s3", what) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise aws.translate(exc, self.stack, "s3", what) from exc
        return read_bounded(body, limit, f"s3://{self.bucket}/{key}")

    def dates(self) -> list[str]:
        """The UTC days that hold any period (from the date folders, in either layout)."""
        found: set[str] = set()
        for folder in (MANIFESTS_FOLDER, FRAMES_FOLDER):
            base = partition_prefix(self.prefix, folder)
            for sub in self._folders(base):
                name = sub[len(base) :].rstrip("/")
                if name.startswith("date="):
                    with contextlib.suppress(ConfigError):  # a foreign folder: not ours
                        found.add(check_filters(None, name[len("date=") :], None)[1] or "")
        return sorted(found - {""})

    def list_objects(self, prefix: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        paginator = self.client.get_paginator("list_objects_v2")
        with aws.translate_errors(self.stack, "s3", f"listing s3://{self.bucket}/{prefix}"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                found += page.get("Contents", [])
        return found

    def _search_prefixes(
        self, folder: str, camera: str | None, date: str | None, hour: str | None
    ) -> list[str]:
        """Listing prefixes under ``folder`` (frames or manifests) that cover the filters without
        listing the whole bucket: a camera without a date walks the date and hour folders and
        lists only that camera's folder."""
        if date is not None and (hour is not None or camera is None):
            return [partition_prefix(self.prefix, folder, date=date, hour=hour, camera=camera)]
        if camera is None:
            return [partition_prefix(self.prefix, folder)]
        dates = (
            [partition_prefix(self.prefix, folder, date=date)]
            if date is not None
            else self._folders(partition_prefix(self.prefix, folder))
        )
        return [
            f"{hour_folder}camera={camera}/"
            for date_folder in dates
            for hour_folder in self._folders(date_folder)
        ]

    def periods(
        self, *, camera: str | None = None, date: str | None = None, hour: int | str | None = None
    ) -> list[StoredPeriod]:
        """Complete periods (those with a manifest object), by camera, then time, then half.
        Keys that are not this layout's, or whose camera or node part is unsafe, are skipped."""
        camera, date, hour_text = check_filters(camera, date, hour)
        found: dict[PeriodObject, dict[str, tuple[str, int]]] = {}
        for folder in (MANIFESTS_FOLDER, FRAMES_FOLDER):
            for prefix in self._search_prefixes(folder, camera, date, hour_text):
                for item in self.list_objects(prefix):
                    parsed = parse_key(item["Key"])
                    if parsed is None:
                        continue
                    target, kind = parsed
                    if camera is not None and target.camera_id != camera:
                        continue
                    found.setdefault(target, {})[kind] = (item["Key"], int(item["Size"]))
        periods: list[StoredPeriod] = []
        for target, kinds in found.items():
            manifest = kinds.get(MANIFEST) or kinds.get(LEGACY_MANIFEST)
            if manifest is None:
                continue  # a tar whose manifest is not there yet: incomplete
            tar_key, size = kinds.get(TAR, ("", 0))
            periods.append(
                StoredPeriod(
                    target.camera_id,
                    target.period,
                    target.node,
                    target.first_ms,
                    tar_key,
                    manifest[0],
                    size,
                    metadata=MANIFEST in kinds,
                    manifest_size=manifest[1],
                )
            )
        return sorted(periods, key=lambda p: (p.camera_id, p.period.start, p.first_ms, p.node))

    def manifest(self, stored: StoredPeriod) -> Manifest:
        """The period's manifest, bounded in size and checked against its key."""
        where = f"s3://{self.bucket}/{stored.manifest_key}"
        if stored.manifest_size > MAX_MANIFEST_BYTES:
            raise ManifestError(f"{where} is larger than {MAX_MANIFEST_BYTES} bytes; not read")
        body = self.call(f"reading {where}", self.client.get_object, Key=stored.manifest_key)
        data = read_bounded(body["Body"], MAX_MANIFEST_BYTES, where)
        return parse_manifest(data, stored.target, where)

    def period_frames(self, stored: StoredPeriod) -> Iterator[Frame]:
        """The frames of one stored period, streamed from its tar, each verified."""
        manifest = self.manifest(stored)
        if not manifest.frames:
            return
        where = f"s3://{self.bucket}/{stored.tar_key or stored.target.tar_key(self.prefix)}"
        if not stored.tar_key:
            raise ManifestError(f"{where} is missing; its manifest lists {len(manifest.frames)}")
        layout = lay_out(manifest, with_metadata=stored.metadata)
        if stored.size != layout.size:
            raise ManifestError(
                f"{where} is {stored.size} bytes, its manifest implies {layout.size}; not read"
            )
        body = self.call(f"reading {where}", self.client.get_object, Key=stored.tar_key)["Body"]
        try:
            for sample in iter_shard(body, manifest, layout, where):
                metadata = SampleMetadata.of(manifest, sample.record)
                yield Frame(stored.camera_id, sample.record.ts_ms, sample.data, metadata)
        finally:
            body.close()

    def frames(
        self, *, camera: str | None = None, date: str | None = None, hour: int | str | None = None
    ) -> Iterator[Frame]:
        """Verified frames of every matching period, camera by camera, in time order."""
        for stored in self.periods(camera=camera, date=date, hour=hour):
            yield from self.period_frames(stored)

    def extract(
        self,
        folder: str | Path,
        *,
        camera: str | None = None,
        date: str | None = None,
        hour: int | str | None = None,
        on_period: Callable[[StoredPeriod], None] | None = None,
        with_metadata: bool = False,
    ) -> Extracted:
        """Write matching frames as ``<folder>/frames/<camera>/<date>/<HH>/<ms>.jpg`` (the
        node's layout, so cctview's own tools read the result), and with ``with_metadata`` the
        sample's metadata beside each as ``<ms>.json``; files appear whole or not. Paths come
        from the validated key's camera and the frame's integer time only."""
        out = DataLayout(Path(folder))
        periods = frames = size = 0
        for stored in self.periods(camera=camera, date=date, hour=hour):
            # The whole period is verified before its first file is written: a tar that fails
            # half-way leaves nothing of that period behind (a camera-hour is ~75 MB).
            for frame in list(self.period_frames(stored)):
                path = out.frame_path(stored.camera_id, frame.ts_ms)
                write_atomic(path, frame.data)
                if with_metadata:
                    write_atomic(path.with_suffix(".json"), frame.metadata.to_json())
                frames += 1
                size += len(frame.data)
            periods += 1
            if on_period is not None:
                on_period(stored)
        return Extracted(periods, frames, size, out.frames_root)


def list_periods(
    bucket: str,
    prefix: str = "cctview",
    *,
    camera: str | None = None,
    date: str | None = None,
    hour: int | str | None = None,
    client: Any = None,
) -> list[StoredPeriod]:
    """Complete periods in ``s3://bucket/prefix`` matching the filters."""
    return Dataset(bucket, prefix, client=client).periods(camera=camera, date=date, hour=hour)


def iter_frames(
    bucket: str,
    prefix: str = "cctview",
    *,
    camera: str | None = None,
    date: str | None = None,
    hour: int | str | None = None,
    client: Any = None,
) -> Iterator[tuple[str, int, bytes]]:
    """``(camera_id, ts_ms, jpeg bytes)`` for every matching frame, verified against manifests."""
    dataset = Dataset(bucket, prefix, client=client)
    for frame in dataset.frames(camera=camera, date=date, hour=hour):
        yield frame.camera_id, frame.ts_ms, frame.data


def extract(
    bucket: str,
    folder: str | Path,
    prefix: str = "cctview",
    *,
    camera: str | None = None,
    date: str | None = None,
    hour: int | str | None = None,
    client: Any = None,
    with_metadata: bool = False,
) -> Extracted:
    """Download and verify matching frames into ``folder`` (see :meth:`Dataset.extract`)."""
    dataset = Dataset(bucket, prefix, client=client)
    return dataset.extract(folder, camera=camera, date=date, hour=hour, with_metadata=with_metadata)


__all__ = [
    "Dataset",
    "Extracted",
    "Frame",
    "SampleMetadata",
    "StoredPeriod",
    "extract",
    "iter_frames",
    "list_periods",
]
