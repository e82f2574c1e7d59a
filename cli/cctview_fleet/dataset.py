"""Getting frames out of S3, for data-set code: list periods, iterate verified frames, extract.

    from cctview_fleet.dataset import Dataset

    ds = Dataset("my-bucket", "cctview")                 # or Dataset.for_stack(load_stack("dev"))
    for period in ds.periods(date="2025-04-04", hour=13):
        print(period.camera_id, period.period.key, period.node, period.size)
    for frame in ds.frames(camera="0bcfbc92-...", date="2025-04-04"):
        frame.camera_id, frame.ts_ms, frame.data           # JPEG bytes, checked with the manifest
    ds.extract("out/", date="2025-04-04", hour=13)   # out/frames/<camera>/<date>/<HH>/<ms>.jpg

The module-level :func:`list_periods`, :func:`iter_frames` and :func:`extract` do the same
without keeping a :class:`Dataset`. Credentials, region and ``AWS_ENDPOINT_URL`` come from
boto3's standard configuration unless a stack or a client is given.

What counts: a period is listed only when its manifest object exists (the uploader writes it
after the tar, so a manifest means the tar is whole). Every frame is checked against the
manifest's size and BLAKE2b digest before it is yielded, and a tar that lacks a listed frame or
holds an unlisted one is an error, never a silent gap. A camera that moved between nodes
mid-period has one object per half; they are yielded in the order of their first frame.
"""

from __future__ import annotations

import os
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cctview_agent.atomicfile import write_atomic
from cctview_agent.layout import DataLayout
from cctview_agent.manifests import Manifest, frame_digest
from cctview_agent.periods import Period
from cctview_agent.s3layout import PeriodObject, frames_prefix, parse_key
from cctview_fleet import aws
from cctview_fleet.errors import ConfigError, ManifestError, StorageServiceError
from cctview_fleet.stacks import Stack

_CAMERA = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True, slots=True)
class StoredPeriod:
    """One camera-period (or one half of it) in S3: a tar and its manifest."""

    camera_id: str
    period: Period
    node: str
    first_ms: int
    tar_key: str
    manifest_key: str
    size: int

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
        }


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame read back from S3, verified: its camera, capture time (Unix ms) and JPEG."""

    camera_id: str
    ts_ms: int
    data: bytes


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
    if camera is not None and not _CAMERA.match(camera):
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

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
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

    def _objects(self, prefix: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        paginator = self.client.get_paginator("list_objects_v2")
        with aws.translate_errors(self.stack, "s3", f"listing s3://{self.bucket}/{prefix}"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                found += page.get("Contents", [])
        return found

    def _search_prefixes(self, camera: str | None, date: str | None, hour: str | None) -> list[str]:
        """Listing prefixes that cover the filters without listing the whole bucket: a camera
        without a date walks the date and hour folders and lists only that camera's folder."""
        if date is not None and (hour is not None or camera is None):
            return [frames_prefix(self.prefix, date=date, hour=hour, camera=camera)]
        if camera is None:
            return [frames_prefix(self.prefix)]
        dates = (
            [frames_prefix(self.prefix, date=date)]
            if date is not None
            else self._folders(frames_prefix(self.prefix))
        )
        return [
            f"{hour_folder}camera={camera}/"
            for date_folder in dates
            for hour_folder in self._folders(date_folder)
        ]

    def periods(
        self, *, camera: str | None = None, date: str | None = None, hour: int | str | None = None
    ) -> list[StoredPeriod]:
        """Complete periods (those with a manifest object), by camera, then time, then half."""
        camera, date, hour_text = check_filters(camera, date, hour)
        tars: dict[str, tuple[PeriodObject, int, str]] = {}
        manifests: dict[str, str] = {}
        for prefix in self._search_prefixes(camera, date, hour_text):
            for item in self._objects(prefix):
                parsed = parse_key(item["Key"])
                if parsed is None:
                    continue
                target, kind = parsed
                if camera is not None and target.camera_id != camera:
                    continue
                stem = item["Key"].rsplit(".", 2 if kind == "manifest" else 1)[0]
                if kind == "tar":
                    tars[stem] = (target, int(item["Size"]), item["Key"])
                else:
                    manifests[stem] = item["Key"]
        found = [
            StoredPeriod(t.camera_id, t.period, t.node, t.first_ms, key, manifests[stem], size)
            for stem, (t, size, key) in tars.items()
            if stem in manifests
        ]
        return sorted(found, key=lambda p: (p.camera_id, p.period.start, p.first_ms, p.node))

    def manifest(self, stored: StoredPeriod) -> Manifest:
        body = self._call(
            f"reading s3://{self.bucket}/{stored.manifest_key}",
            self.client.get_object,
            Key=stored.manifest_key,
        )["Body"].read()
        return Manifest.from_json(body, source=f"s3://{self.bucket}/{stored.manifest_key}")

    def period_frames(self, stored: StoredPeriod) -> Iterator[Frame]:
        """The frames of one stored period, streamed from its tar, each verified."""
        manifest = self.manifest(stored)
        where = f"s3://{self.bucket}/{stored.tar_key}"
        expected = {f.name: f for f in manifest.frames}
        seen: set[str] = set()
        body = self._call(f"reading {where}", self.client.get_object, Key=stored.tar_key)["Body"]
        try:
            with tarfile.open(fileobj=body, mode="r|") as archive:
                for member in archive:
                    name = member.name.rsplit("/", 1)[-1]
                    record = expected.get(name)
                    handle = archive.extractfile(member)
                    if record is None or handle is None:
                        raise ManifestError(
                            f"{where} holds {member.name}, which its manifest lacks"
                        )
                    data = handle.read()
                    if len(data) != record.size or frame_digest(data) != record.digest:
                        raise ManifestError(
                            f"{where}: frame {name} does not match its manifest digest; "
                            "the object is damaged, the node's copy may still exist"
                        )
                    seen.add(name)
                    yield Frame(manifest.camera_id, record.ts_ms, data)
        except tarfile.TarError as exc:
            raise StorageServiceError(f"{where} is not a readable tar: {exc}") from exc
        finally:
            body.close()
        missing = len(expected) - len(seen)
        if missing:
            raise ManifestError(f"{where} lacks {missing} frames its manifest lists")

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
        on_period: Any = None,
    ) -> Extracted:
        """Write matching frames as ``<folder>/frames/<camera>/<date>/<HH>/<ms>.jpg`` (the
        node's layout, so cctview's own tools read the result); files appear whole or not."""
        out = DataLayout(Path(folder))
        periods = frames = size = 0
        for stored in self.periods(camera=camera, date=date, hour=hour):
            for frame in self.period_frames(stored):
                write_atomic(out.frame_path(frame.camera_id, frame.ts_ms), frame.data)
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
) -> Extracted:
    """Download and verify matching frames into ``folder`` (see :meth:`Dataset.extract`)."""
    dataset = Dataset(bucket, prefix, client=client)
    return dataset.extract(folder, camera=camera, date=date, hour=hour)


__all__ = [
    "Dataset",
    "Extracted",
    "Frame",
    "StoredPeriod",
    "extract",
    "iter_frames",
    "list_periods",
]
