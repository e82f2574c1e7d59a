"""Reading a period's manifest and shard back from S3, as untrusted input.

Nodes write the objects; an analyst's machine reads them. A node that is broken or hostile must
not make the reader write outside its output folder, yield a frame twice, or read without bound.
So, before any of it is used:

- the object's key is parsed and validated (:func:`cctview_agent.s3layout.parse_key`: a safe
  camera id, a node name, a period); every output path derives from the key and from integer
  frame times, never from a string in the manifest;
- the manifest must agree with its key (camera, period, node, first frame), list each frame once
  under its canonical name (``<unix-ms>.jpg``) with a time inside the period and a bounded size;
- every read is bounded before it is made: a manifest larger than :data:`MAX_MANIFEST_BYTES` is
  refused unread, and the tar is read member by member against the layout the manifest implies
  (:func:`cctview_agent.samples.lay_out`): each header must be byte for byte the one expected, so
  an unlisted, duplicated or reordered member, a size other than the manifest's, or a tar longer
  than the layout is refused, and no read is longer than the member the manifest announced.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cctview_agent.layout import frame_name
from cctview_agent.manifests import FrameRecord, Manifest, frame_digest
from cctview_agent.s3layout import PeriodObject, safe_node
from cctview_agent.samples import END_OF_ARCHIVE, ShardLayout
from cctview_fleet.errors import ManifestError

MAX_MANIFEST_BYTES = 32 * 1024 * 1024  # an hour at 1 frame/s is ~0.5 MB; room for long periods
MAX_FRAME_BYTES = 32 * 1024 * 1024  # a camera frame is ~20 KB; a 4K JPEG is a few MB
_DIGEST = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True, slots=True)
class ShardSample:
    """One verified frame of a shard: its manifest record and its JPEG bytes."""

    record: FrameRecord
    data: bytes


def read_bounded(body: Any, limit: int, where: str) -> bytes:
    """The whole body, refusing one longer than ``limit`` bytes (read at most ``limit + 1``)."""
    try:
        data: bytes = body.read(limit + 1)
    finally:
        body.close()
    if len(data) > limit:
        raise ManifestError(f"{where} is larger than {limit} bytes; it is not read")
    return data


def parse_manifest(data: bytes, target: PeriodObject, where: str) -> Manifest:
    """The manifest at ``where``, checked against the key it was read from."""
    manifest = Manifest.from_json(data, source=where)
    problem = disagreement(manifest, target)
    if problem:
        raise ManifestError(f"{where}: {problem}; the period is refused (nothing was written)")
    return manifest


def disagreement(manifest: Manifest, target: PeriodObject) -> str:
    """Why ``manifest`` cannot be the manifest of ``target`` (its key), or '' when it can."""
    if manifest.camera_id != target.camera_id:
        return f"manifest names camera {manifest.camera_id!r}, its key {target.camera_id!r}"
    if manifest.period != target.period:
        return f"manifest names period {manifest.period.key}, its key {target.period.key}"
    if manifest.node is not None and safe_node(str(manifest.node)) != target.node:
        return f"manifest names node {manifest.node!r}, its key {target.node!r}"
    names: set[str] = set()
    for frame in manifest.frames:
        if frame.name != frame_name(frame.ts_ms):
            return f"frame {frame.name!r} is not named for its time {frame.ts_ms}"
        if frame.name in names:
            return f"frame {frame.name} is listed twice"
        names.add(frame.name)
        if not manifest.period.contains(frame.ts_ms):
            return f"frame {frame.name} lies outside period {manifest.period.key}"
        if not 0 < frame.size <= MAX_FRAME_BYTES:
            return f"frame {frame.name} has size {frame.size} (1 to {MAX_FRAME_BYTES} bytes)"
        if not _DIGEST.match(frame.digest):
            return f"frame {frame.name} has no BLAKE2b-128 digest"
    first = min((f.ts_ms for f in manifest.frames), default=manifest.period.start_ms)
    if first != target.first_ms:
        return f"first frame at {first}, its key says {target.first_ms}"
    return ""


def _read_exactly(body: Any, size: int, where: str) -> bytes:
    pieces: list[bytes] = []
    got = 0
    while got < size:
        piece = body.read(min(size - got, 1 << 20))
        if not piece:
            raise ManifestError(f"{where} ends early: the tar is truncated")
        pieces.append(piece)
        got += len(piece)
    return b"".join(pieces)


def iter_shard(
    body: Any, manifest: Manifest, layout: ShardLayout, where: str
) -> Iterator[ShardSample]:
    """Each frame of the tar ``body``, checked member by member against ``layout``."""
    for member in layout.members:
        header = _read_exactly(body, len(member.header), where)
        if header != member.header:
            raise ManifestError(
                f"{where}: expected member {member.name} ({member.size} bytes) here but found "
                "another (unlisted, duplicated or resized); the tar does not match its manifest"
            )
        data = _read_exactly(body, member.size, where)
        _read_exactly(body, member.end - member.offset - member.size, where)  # padding
        if member.frame is not None:
            if frame_digest(data) != member.frame.digest:
                raise ManifestError(
                    f"{where}: frame {member.frame.name} does not match its manifest digest; "
                    "the object is damaged, the node's copy may still exist"
                )
            yield ShardSample(member.frame, data)
        elif data != member.literal:
            raise ManifestError(f"{where}: the metadata of {member.name} differs from its manifest")
    if _read_exactly(body, len(END_OF_ARCHIVE), where) != END_OF_ARCHIVE:
        raise ManifestError(f"{where}: the tar does not end where its manifest says")
    if body.read(1):
        raise ManifestError(f"{where} holds more than its manifest lists")
