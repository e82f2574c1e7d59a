"""Where a camera-period lives in S3: object keys, partitioned for data-set readers.

    <prefix>/frames/date=<YYYY-MM-DD>/hour=<HH>/camera=<camera-id>/
        <period-key>.<node>.<first-frame-ms>.tar              the frames, uncompressed, time order
        <period-key>.<node>.<first-frame-ms>.manifest.json    the period's manifest (same format)

The ``date=`` / ``hour=`` / ``camera=`` folders are Hive-style partitions: a reader lists one hour
of every camera, or one camera-hour, with a single ``ListObjectsV2`` prefix, and query engines
(Athena, DuckDB, Spark) recognise the columns without configuration.

Why the node and the first frame's time are in the name: the same camera-period can be stored
in more than one place. A camera reassigned mid-hour leaves a first half on the old node and a
second half on the new one; a volume rotated mid-hour leaves two halves on one node, one per
volume. Each half is a different object, so nothing a node uploads can ever replace another
half: both are kept, and a reader merges them by frame time. Uploads are also made with
``If-None-Match: *``, so even an equal key is never overwritten (see :mod:`cctview_agent.sync`).
The manifest is uploaded after the tar: a manifest in S3, like a manifest on disk, means the
period is complete.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cctview_agent.periods import Period

FRAMES_FOLDER = "frames"
TAR_SUFFIX = ".tar"
MANIFEST_SUFFIX = ".manifest.json"

_NODE_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_PARTITION = re.compile(r"^(date|hour|camera)=(.+)$")


def clean_prefix(prefix: str) -> str:
    """The prefix without leading or trailing slashes ('' for the bucket's root)."""
    return prefix.strip("/")


def safe_node(node: str) -> str:
    """A node name fit for a key part: dots and odd characters become '-' (dots separate parts)."""
    cleaned = _NODE_UNSAFE.sub("-", node.strip())
    return cleaned or "unnamed"


def frames_prefix(
    prefix: str, *, date: str | None = None, hour: str | None = None, camera: str | None = None
) -> str:
    """The listing prefix for a date, a date and hour, or a camera-hour (each needs the former)."""
    parts = [p for p in (clean_prefix(prefix), FRAMES_FOLDER) if p]
    if date is not None:
        parts.append(f"date={date}")
        if hour is not None:
            parts.append(f"hour={hour}")
            if camera is not None:
                parts.append(f"camera={camera}")
    return "/".join(parts) + "/"


@dataclass(frozen=True, slots=True)
class PeriodObject:
    """The identity of one uploaded camera-period half: who stored it and where its frames begin."""

    camera_id: str
    period: Period
    node: str
    first_ms: int

    @property
    def stem(self) -> str:
        return f"{self.period.key}.{safe_node(self.node)}.{self.first_ms}"

    def folder(self, prefix: str) -> str:
        return frames_prefix(
            prefix, date=self.period.date, hour=self.period.hour, camera=self.camera_id
        )

    def tar_key(self, prefix: str) -> str:
        return f"{self.folder(prefix)}{self.stem}{TAR_SUFFIX}"

    def manifest_key(self, prefix: str) -> str:
        return f"{self.folder(prefix)}{self.stem}{MANIFEST_SUFFIX}"


def parse_key(key: str) -> tuple[PeriodObject, str] | None:
    """``(object, "tar" | "manifest")`` for a key this module made, else None (foreign objects)."""
    folders = key.split("/")
    if len(folders) < 4:
        return None
    name = folders[-1]
    partitions: dict[str, str] = {}
    for folder in folders[-4:-1]:
        match = _PARTITION.match(folder)
        if not match:
            return None
        partitions[match.group(1)] = match.group(2)
    if set(partitions) != {"date", "hour", "camera"}:
        return None
    if name.endswith(MANIFEST_SUFFIX):
        kind, stem = "manifest", name[: -len(MANIFEST_SUFFIX)]
    elif name.endswith(TAR_SUFFIX):
        kind, stem = "tar", name[: -len(TAR_SUFFIX)]
    else:
        return None
    pieces = stem.split(".")
    if len(pieces) != 3 or not pieces[2].isdigit():
        return None
    try:
        period = Period.from_key(pieces[0])
    except ValueError:
        return None
    if period.date != partitions["date"] or period.hour != partitions["hour"]:
        return None
    return PeriodObject(partitions["camera"], period, pieces[1], int(pieces[2])), kind
