"""A period's shard as training code sees it: one sample per frame, a ``.jpg`` and a ``.json``.

A shard is the period's uncompressed tar. Each frame is one sample of two members that share a
key, ``<camera-id>/<unix-ms>``, which is how WebDataset and Hugging Face ``datasets`` group
members into samples (``sample["jpg"]``, ``sample["json"]``):

    <camera-id>/<unix-ms>.jpg     the frame, as the camera sent it
    <camera-id>/<unix-ms>.json    {"camera_id", "camera_name", "latitude", "longitude", "time",
                                   "ts_ms", "node", "period", "digest"}

The JSON is made from the manifest alone (the camera's name and position at close time, the
node, the frame's digest), so the sync writes it as it streams the tar, with no extra pass. It
is kept under 512 bytes: a tar member costs a 512-byte header plus its data padded to 512, so
each sample's metadata costs exactly 1 KiB (about 5 % of a 20 KB frame).

Every offset is known from the manifest before a byte is read (:func:`lay_out`). The closer
records the data offsets in the manifest (``"shard"``), so an index of samples needs no tar scan,
and the sync refuses to ship a tar whose layout would differ from what its manifest promises.
Tars uploaded before this format (the old key layout, manifests beside the tars) hold only the
``.jpg`` members; ``lay_out(..., with_metadata=False)`` gives their offsets.
"""

from __future__ import annotations

import json
import math
import tarfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from json.encoder import py_encode_basestring
from typing import Any

from cctview_agent.manifests import FrameRecord, Manifest


def _compact(value: object) -> str:
    """JSON without spaces or ASCII escapes, as the index's lines are written."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


try:  # what json.dumps(..., ensure_ascii=False) uses for a string: the C version where built
    from _json import encode_basestring as _encode_string
except ImportError:  # pragma: no cover - CPython always has _json
    _encode_string = py_encode_basestring

BLOCK = tarfile.BLOCKSIZE  # 512
END_OF_ARCHIVE = b"\0" * (2 * BLOCK)
SHARD_LAYOUT = "jpg+json/1"  # the manifest's "shard.layout": members per frame, in time order
METADATA_SUFFIX = ".json"


def iso_time(ts_ms: int) -> str:
    """``2025-04-04T13:00:00.123Z``: UTC, milliseconds, the form every JSON parser reads."""
    seconds, millis = divmod(ts_ms, 1000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{millis:03d}Z"


@dataclass(frozen=True, slots=True)
class SampleMetadata:
    """What a training sample knows about its frame besides the pixels."""

    camera_id: str
    camera_name: str
    latitude: float | None
    longitude: float | None
    ts_ms: int
    node: str
    period: str
    digest: str

    @property
    def time(self) -> str:
        return iso_time(self.ts_ms)

    @classmethod
    def of(cls, manifest: Manifest, frame: FrameRecord) -> SampleMetadata:
        return cls(
            camera_id=manifest.camera_id,
            camera_name=manifest.camera_name,
            latitude=manifest.latitude,
            longitude=manifest.longitude,
            ts_ms=frame.ts_ms,
            node=manifest.node or "",
            period=manifest.period.key,
            digest=frame.digest,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "camera_id": self.camera_id,
            "camera_name": self.camera_name,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "time": self.time,
            "ts_ms": self.ts_ms,
            "node": self.node,
            "period": self.period,
            "digest": self.digest,
        }

    def to_json(self) -> bytes:
        """Compact and deterministic: the closer and the sync must produce the same bytes
        (:class:`MetadataEncoder` makes the same bytes faster, for whole periods)."""
        return _compact(self.to_dict()).encode()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SampleMetadata:
        """Parse a sample's JSON (read back from S3: every field is checked for its type)."""

        def coordinate(value: Any) -> float | None:
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"coordinate {value!r} is not a number")
            if not math.isfinite(value):
                raise ValueError(f"coordinate {value!r} is not finite")
            return float(value)

        fields = ("camera_id", "camera_name", "node", "period", "digest")
        if not all(isinstance(data.get(name), str) for name in fields):
            raise ValueError("a text field is missing or not text")
        ts_ms = data.get("ts_ms")
        if isinstance(ts_ms, bool) or not isinstance(ts_ms, int):
            raise ValueError(f"ts_ms {ts_ms!r} is not an integer")
        return cls(
            camera_id=data["camera_id"],
            camera_name=data["camera_name"],
            latitude=coordinate(data.get("latitude")),
            longitude=coordinate(data.get("longitude")),
            ts_ms=ts_ms,
            node=data["node"],
            period=data["period"],
            digest=data["digest"],
        )


class MetadataEncoder:
    """``SampleMetadata.of(manifest, frame).to_json()`` for every frame of one manifest, with the
    fields they share encoded once: the closer lays out 3,600 samples an hour per camera inside
    the agent's event loop, and a ``json.dumps`` per sample would stall the pollers (~0.1 s a
    camera-hour on a small node)."""

    def __init__(self, manifest: Manifest) -> None:
        camera = {
            "camera_id": manifest.camera_id,
            "camera_name": manifest.camera_name,
            "latitude": manifest.latitude,
            "longitude": manifest.longitude,
        }
        place = {"node": manifest.node or "", "period": manifest.period.key}
        self._head = _compact(camera)[:-1] + ',"time":"'
        self._place = _compact(place)[1:-1]
        self._hour = manifest.period.start - manifest.period.start % 3600
        self._hour_text = iso_time(self._hour * 1000)[:14]  # "2025-04-04T13:"

    def _time(self, ts_ms: int) -> str:
        """:func:`iso_time`, with the period's date and hour formatted once."""
        seconds, millis = divmod(ts_ms, 1000)
        into = seconds - self._hour
        if not 0 <= into < 3600:
            return iso_time(ts_ms)
        return f"{self._hour_text}{into // 60:02d}:{into % 60:02d}.{millis:03d}Z"

    def encode(self, frame: FrameRecord) -> bytes:
        digest = _encode_string(frame.digest)
        return (
            f'{self._head}{self._time(frame.ts_ms)}","ts_ms":{frame.ts_ms},{self._place},'
            f'"digest":{digest}}}'
        ).encode()


def member_name(camera_id: str, frame_name: str) -> str:
    """Frames sit in a folder named for their camera, so extracting many tars never mixes them."""
    return f"{camera_id}/{frame_name}"


def metadata_name(camera_id: str, frame_name: str) -> str:
    """The JSON member beside a frame: same key (``<camera>/<ms>``), suffix ``.json``."""
    stem = frame_name.rsplit(".", 1)[0]
    return f"{camera_id}/{stem}{METADATA_SUFFIX}"


def _static_header() -> tuple[bytes, int]:
    """The fields every member's header shares, and their byte sum (for the checksum)."""
    block = bytearray(BLOCK)
    block[100:108] = b"0000644\0"  # mode
    block[108:116] = b"0000000\0"  # uid
    block[116:124] = b"0000000\0"  # gid
    block[148:156] = b" " * 8  # the checksum field counts as spaces while summing
    block[156:157] = tarfile.REGTYPE
    block[257:265] = tarfile.POSIX_MAGIC  # "ustar\0" + version "00"
    return bytes(block), sum(block)


_STATIC_HEADER, _STATIC_SUM = _static_header()


def tar_header(name: str, size: int, mtime: int) -> bytes:
    """The header of a regular file: a plain ustar block built directly (tarfile's ``tobuf`` is
    ten times slower, which shows at 3,600 frames an hour); tarfile's GNU form for long names."""
    encoded = name.encode()
    if len(encoded) >= 100:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, mtime, 0o644
        return info.tobuf(format=tarfile.GNU_FORMAT, encoding="utf-8", errors="strict")
    size_field, mtime_field = b"%011o\0" % size, b"%011o\0" % mtime
    block = bytearray(_STATIC_HEADER)
    block[0 : len(encoded)] = encoded
    block[124:136] = size_field
    block[136:148] = mtime_field
    checksum = _STATIC_SUM + sum(encoded) + sum(size_field) + sum(mtime_field)
    block[148:156] = b"%06o\0 " % checksum
    return bytes(block)


@dataclass(frozen=True, slots=True)
class Member:
    """One tar member: its header, where its data starts, and its data (literal or a frame)."""

    name: str
    header: bytes
    offset: int  # of the data, after the header
    size: int
    literal: bytes | None = None  # the metadata JSON; None for a frame (read from disk or S3)
    frame: FrameRecord | None = None

    @property
    def end(self) -> int:
        """Where the next member's header starts (data padded to 512 bytes)."""
        return self.offset + self.size + (-self.size % BLOCK)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one sample's members' data sit in the shard (the manifest's ``shard.members``)."""

    jpg_offset: int
    json_offset: int  # 0 without metadata
    json_size: int  # 0 without metadata


@dataclass(frozen=True, slots=True)
class ShardLayout:
    """Every member of a period's shard in order, and the archive's length."""

    members: tuple[Member, ...]
    size: int
    with_metadata: bool

    def placements(self) -> dict[str, Placement]:
        """By frame name: the offsets the manifest records and the index stores."""
        found: dict[str, Placement] = {}
        current: Member | None = None
        for member in self.members:
            if member.frame is not None:
                current = member
                found[member.frame.name] = Placement(member.offset, 0, 0)
            elif current is not None and current.frame is not None:
                found[current.frame.name] = Placement(current.offset, member.offset, member.size)
        return found


def lay_out(manifest: Manifest, *, with_metadata: bool = True) -> ShardLayout:
    """The shard of ``manifest``'s frames, in time order, from the manifest alone."""
    members: list[Member] = []
    offset = 0
    encoder = MetadataEncoder(manifest)
    for frame in sorted(manifest.frames, key=lambda f: (f.ts_ms, f.name)):
        mtime = frame.ts_ms // 1000
        name = member_name(manifest.camera_id, frame.name)
        header = tar_header(name, frame.size, mtime)
        member = Member(name, header, offset + len(header), frame.size, frame=frame)
        members.append(member)
        offset = member.end
        if with_metadata:
            data = encoder.encode(frame)
            name = metadata_name(manifest.camera_id, frame.name)
            header = tar_header(name, len(data), mtime)
            member = Member(name, header, offset + len(header), len(data), literal=data)
            members.append(member)
            offset = member.end
    return ShardLayout(tuple(members), offset + len(END_OF_ARCHIVE), with_metadata)


def shard_placements(layout: ShardLayout, manifest: Manifest) -> tuple[Placement, ...]:
    """Placements in the manifest's frame order (what ``Manifest.shard`` holds)."""
    by_name = layout.placements()
    return tuple(by_name[frame.name] for frame in manifest.frames)


def with_shard(manifest: Manifest) -> Manifest:
    """``manifest`` recording its shard's layout and offsets (the closer writes this)."""
    placements = shard_placements(lay_out(manifest), manifest)
    return replace(
        manifest,
        shard_layout=SHARD_LAYOUT,
        shard_members=tuple((p.jpg_offset, p.json_offset, p.json_size) for p in placements),
    )
