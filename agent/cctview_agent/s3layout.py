"""Where a camera-period lives in S3: object keys, partitioned for data-set readers.

    <prefix>/frames/date=<YYYY-MM-DD>/hour=<HH>/camera=<camera-id>/
        <period-key>.<node>.<first-frame-ms>.tar              the shard: frames and their metadata
    <prefix>/manifests/date=<YYYY-MM-DD>/hour=<HH>/camera=<camera-id>/
        <period-key>.<node>.<first-frame-ms>.manifest.json    the period's manifest (same format)

The ``date=`` / ``hour=`` / ``camera=`` folders are Hive-style partitions: a reader lists one hour
of every camera, or one camera-hour, with a single ``ListObjectsV2`` prefix, and query engines
(Athena, DuckDB, Spark) recognise the columns without configuration.

Why manifests sit under a parallel prefix: the ``frames/`` folders then hold only shards, so a
loader pointed at any folder of them (``frames/date=2025-04-04/**``) reads tars and nothing else.
A period in which a camera stored no frame has a manifest (it records why) and no tar. Objects
uploaded before this layout have the manifest beside the tar (``LEGACY_MANIFEST``) and a tar of
``.jpg`` members only; readers understand both.

Why the node and the first frame's time are in the name: the same camera-period can be stored
in more than one place. A camera reassigned mid-hour leaves a first half on the old node and a
second half on the new one; a volume rotated mid-hour leaves two halves on one node, one per
volume. Each half is a different object, so nothing a node uploads can ever replace another
half: both are kept, and a reader merges them by frame time. Uploads are also made with
``If-None-Match: *``, so even an equal key is never overwritten (see :mod:`cctview_agent.sync.run`).
The manifest is uploaded after the tar: a manifest in S3, like a manifest on disk, means the
period is complete.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cctview_agent.periods import Period

FRAMES_FOLDER = "frames"
MANIFESTS_FOLDER = "manifests"
TAR_SUFFIX = ".tar"
MANIFEST_SUFFIX = ".manifest.json"
TAR, MANIFEST, LEGACY_MANIFEST = "tar", "manifest", "legacy-manifest"

_NODE_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
# A camera id fit for a key part and a file name: no separator, no leading dot. A local check
# until the shared model validates ids everywhere (issue 11, finding 1).
_CAMERA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def is_safe_camera_id(camera_id: str) -> bool:
    """True for ids that can be joined into a key or a path without leaving their folder."""
    return bool(_CAMERA_ID.match(camera_id)) and ".." not in camera_id


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
    """The listing prefix of shards for a date, a date and hour, or a camera-hour (each needs
    the former)."""
    return partition_prefix(prefix, FRAMES_FOLDER, date=date, hour=hour, camera=camera)


def manifests_prefix(
    prefix: str, *, date: str | None = None, hour: str | None = None, camera: str | None = None
) -> str:
    """The listing prefix of manifests, partitioned like :func:`frames_prefix`."""
    return partition_prefix(prefix, MANIFESTS_FOLDER, date=date, hour=hour, camera=camera)


def partition_prefix(
    prefix: str,
    folder: str,
    *,
    date: str | None = None,
    hour: str | None = None,
    camera: str | None = None,
) -> str:
    parts = [p for p in (clean_prefix(prefix), folder) if p]
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

    def folder(self, prefix: str, root: str = FRAMES_FOLDER) -> str:
        return partition_prefix(
            prefix, root, date=self.period.date, hour=self.period.hour, camera=self.camera_id
        )

    def tar_key(self, prefix: str) -> str:
        return f"{self.folder(prefix)}{self.stem}{TAR_SUFFIX}"

    def manifest_key(self, prefix: str) -> str:
        return f"{self.folder(prefix, MANIFESTS_FOLDER)}{self.stem}{MANIFEST_SUFFIX}"

    def legacy_manifest_key(self, prefix: str) -> str:
        """Where the manifest sat before the parallel prefix: beside the tar."""
        return f"{self.folder(prefix)}{self.stem}{MANIFEST_SUFFIX}"


def parse_key(key: str) -> tuple[PeriodObject, str] | None:
    """``(object, TAR | MANIFEST | LEGACY_MANIFEST)`` for a key this module made, else None
    (foreign objects, and keys whose camera or node part is unsafe to use as a path)."""
    folders = key.split("/")
    if len(folders) < 5 or folders[-5] not in (FRAMES_FOLDER, MANIFESTS_FOLDER):
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
    in_frames = folders[-5] == FRAMES_FOLDER
    if name.endswith(MANIFEST_SUFFIX):
        kind, stem = LEGACY_MANIFEST if in_frames else MANIFEST, name[: -len(MANIFEST_SUFFIX)]
    elif name.endswith(TAR_SUFFIX) and in_frames:
        kind, stem = TAR, name[: -len(TAR_SUFFIX)]
    else:
        return None
    pieces = stem.split(".")
    if len(pieces) != 3 or not pieces[2].isdigit() or len(pieces[2]) > 16:
        return None
    if not is_safe_camera_id(partitions["camera"]) or safe_node(pieces[1]) != pieces[1]:
        return None
    try:
        period = Period.from_key(pieces[0])
    except ValueError:
        return None
    if period.date != partitions["date"] or period.hour != partitions["hour"]:
        return None
    return PeriodObject(partitions["camera"], period, pieces[1], int(pieces[2])), kind
