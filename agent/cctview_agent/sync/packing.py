"""Pack a camera-period as one uncompressed tar, streamed from the frame files, never held whole.

JPEG does not compress, so the tar is plain: a header per member, its bytes, padding to 512
bytes, two zero blocks at the end; each frame is followed by its sample metadata
(:mod:`cctview_agent.samples` lays the members out). Every size is known from the manifest, so
the whole archive is laid out before a byte is read (:func:`plan_tar`): its length goes into
the PUT's ``Content-Length``, and :class:`TarReader` is a seekable file over that layout that
reads each frame file only when the upload reaches it. A node with 1 GiB of memory ships an
hour of frames (~75 MB) with one frame (~20 KB) in memory at a time.

Every frame is checked against the manifest (size and BLAKE2b) before its bytes count as sent:
a frame changed or lost on disk stops the period, and nothing is stored for it.
:func:`digest_tar` computes, before the upload, the SHA-256 that S3 will be held to (for the
whole object and for each multipart part), and the MD5s (S3's ETags) where they are needed.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cctview_agent.errors import ManifestError
from cctview_agent.layout import DataLayout
from cctview_agent.manifests import Manifest, frame_digest
from cctview_agent.samples import (
    END_OF_ARCHIVE,
    SHARD_LAYOUT,
    Placement,
    lay_out,
    member_name,
    shard_placements,
    tar_header,
)


@dataclass(frozen=True, slots=True)
class TarSegment:
    """A stretch of the archive: literal bytes (a header, padding, the end) or one frame file."""

    offset: int
    length: int
    literal: bytes | None = None
    path: str | None = None  # a str, not a Path: 3,600 Path joins an hour cost more than the tar
    size: int = 0  # the frame's size per the manifest (path segments)
    digest: str = ""  # the frame's BLAKE2b per the manifest (path segments)


@dataclass(frozen=True, slots=True)
class TarPlan:
    """The byte layout of one camera-period's tar."""

    segments: tuple[TarSegment, ...]
    size: int
    frame_count: int

    def open(
        self,
        *,
        start: int = 0,
        end: int | None = None,
        on_read: Callable[[int], None] | None = None,
    ) -> TarReader:
        return TarReader(self, start=start, end=self.size if end is None else end, on_read=on_read)


def plan_tar(layout: DataLayout, manifest: Manifest, *, with_metadata: bool = True) -> TarPlan:
    """Lay out the tar of ``manifest``'s frames, in time order, from the manifest alone: each
    frame followed by its sample metadata (:mod:`cctview_agent.samples`). A manifest that records
    its shard's offsets must agree with this layout, or the period is not shipped (an index built
    from those offsets would point at the wrong bytes)."""
    shard = lay_out(manifest, with_metadata=with_metadata)
    if manifest.shard_layout:
        recorded = tuple(Placement(*member) for member in manifest.shard_members)
        if manifest.shard_layout != SHARD_LAYOUT or recorded != shard_placements(shard, manifest):
            raise ManifestError(
                f"the manifest of {manifest.camera_id} {manifest.period.key} records a shard "
                f"layout ({manifest.shard_layout}) this agent does not produce; "
                "upgrade the agent that syncs it"
            )
    folder = str(layout.period_dir(manifest.camera_id, manifest.period))
    segments: list[TarSegment] = []
    for member in shard.members:
        start = member.offset - len(member.header)
        segments.append(TarSegment(start, len(member.header), literal=member.header))
        if member.frame is not None:
            frame = member.frame
            path = os.path.join(folder, frame.name)
            segments.append(
                TarSegment(
                    member.offset, frame.size, path=path, size=frame.size, digest=frame.digest
                )
            )
        elif member.literal is not None and member.literal:
            segments.append(TarSegment(member.offset, member.size, literal=member.literal))
        padding = member.end - member.offset - member.size
        if padding:
            segments.append(
                TarSegment(member.offset + member.size, padding, literal=b"\0" * padding)
            )
    end = shard.size - len(END_OF_ARCHIVE)
    segments.append(TarSegment(end, len(END_OF_ARCHIVE), literal=END_OF_ARCHIVE))
    return TarPlan(tuple(segments), shard.size, len(manifest.frames))


def tar_size(manifest: Manifest, *, with_metadata: bool = True) -> int:
    """The length of :func:`plan_tar`'s archive, without reading a frame (for progress totals)."""
    return lay_out(manifest, with_metadata=with_metadata).size


def read_frame(segment: TarSegment) -> bytes:
    """A frame's bytes, checked against the manifest's size and digest."""
    assert segment.path is not None
    try:
        with open(segment.path, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        raise ManifestError(
            f"frame {segment.path} is listed in its manifest but missing on disk; "
            "the period is not uploaded (its other frames stay where they are)",
            path=Path(segment.path),
        ) from None
    except OSError as exc:
        raise ManifestError(
            f"cannot read frame {segment.path}: {exc.strerror or exc}", path=Path(segment.path)
        ) from exc
    if len(data) != segment.size or frame_digest(data) != segment.digest:
        raise ManifestError(
            f"frame {segment.path} does not match its manifest (size or digest differs); "
            "the period is not uploaded",
            path=Path(segment.path),
        )
    return data


class TarReader(io.RawIOBase):
    """A read-only, seekable file over ``[start, end)`` of a planned tar (a whole object or a
    multipart part). Frames are read from disk as the position reaches them and each is checked
    against the manifest as it is loaded (a mismatch raises ManifestError, which aborts the
    request, so no object is created); the MD5 of the stream is kept for the ETag check."""

    def __init__(
        self,
        plan: TarPlan,
        *,
        start: int,
        end: int,
        on_read: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__()
        self._plan = plan
        self._offsets = [segment.offset for segment in plan.segments]
        self._start = start
        self._end = end
        self._pos = start
        self._on_read = on_read
        self._cached: tuple[int, bytes] | None = None
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._md5_pos = start  # the stream's MD5 covers [start, _md5_pos)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos - self._start

    def __len__(self) -> int:
        return self._end - self._start

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: self._start, io.SEEK_CUR: self._pos, io.SEEK_END: self._end}[whence]
        self._pos = min(max(base + offset, self._start), self._end)
        if self._pos == self._start:
            self._md5, self._md5_pos = hashlib.md5(usedforsecurity=False), self._start
        return self._pos - self._start

    def _segment_bytes(self, index: int) -> bytes:
        segment = self._plan.segments[index]
        if segment.literal is not None:
            return segment.literal
        if self._cached is None or self._cached[0] != index:
            self._cached = (index, read_frame(segment))
        return self._cached[1]

    @property
    def md5(self) -> bytes | None:
        """MD5 of the bytes read, if they were read once through from the start to the end
        (botocore rewinds to the start on a retry, which starts the hash over)."""
        return self._md5.digest() if self._md5_pos == self._end else None

    def read(self, size: int = -1) -> bytes:
        remaining = self._end - self._pos
        want = remaining if size is None or size < 0 else min(size, remaining)
        pieces: list[bytes] = []
        got = 0
        while got < want:
            index = bisect.bisect_right(self._offsets, self._pos) - 1
            segment = self._plan.segments[index]
            data = self._segment_bytes(index)
            inner = self._pos - segment.offset
            piece = data[inner : inner + (want - got)]
            pieces.append(piece)
            got += len(piece)
            self._pos += len(piece)
        data = b"".join(pieces)
        if self._md5_pos == self._pos - got:
            self._md5.update(data)
            self._md5_pos = self._pos
        if self._on_read is not None and got:
            self._on_read(got)
        return data

    # RawIOBase takes any writable buffer; tarfile and botocore pass a bytearray or memoryview,
    # and a narrower parameter keeps the slice assignment below checked.
    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


@dataclass(frozen=True, slots=True)
class PartDigest:
    """One multipart part: its byte range and the digests S3 reports for it."""

    number: int
    start: int
    end: int
    sha256: bytes
    md5: bytes | None

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def sha256_b64(self) -> str:
        return base64.b64encode(self.sha256).decode()

    @property
    def etag_bytes(self) -> bytes:
        assert self.md5 is not None, "part digests always include the MD5"
        return self.md5

    @property
    def etag(self) -> str:
        assert self.md5 is not None, "part digests always include the MD5"
        return self.md5.hex()


@dataclass(frozen=True, slots=True)
class TarDigests:
    """What the tar must hash to in S3: whole-object SHA-256 and MD5, and per part if multipart."""

    size: int
    sha256: bytes
    md5: bytes | None  # None when not computed: a single PUT takes it from the upload stream
    parts: tuple[PartDigest, ...]

    @property
    def sha256_b64(self) -> str:
        return base64.b64encode(self.sha256).decode()

    @property
    def multipart(self) -> bool:
        return len(self.parts) > 1

    @property
    def expected_etag(self) -> str:
        """S3's ETag: the MD5 for one PUT, MD5-of-part-MD5s plus ``-N`` for a multipart upload."""
        if not self.multipart:
            assert self.md5 is not None, "digest_tar(with_md5=True) gives the ETag"
            return self.md5.hex()
        joined = hashlib.md5(b"".join(p.etag_bytes for p in self.parts), usedforsecurity=False)
        return f"{joined.hexdigest()}-{len(self.parts)}"

    @property
    def expected_checksum(self) -> str:
        """S3's ChecksumSHA256: of the object for one PUT, of the part digests if multipart."""
        if not self.multipart:
            return self.sha256_b64
        joined = hashlib.sha256(b"".join(p.sha256 for p in self.parts)).digest()
        return base64.b64encode(joined).decode()


def part_ranges(size: int, part_size: int | None) -> list[tuple[int, int]]:
    """``[(start, end)]`` of each part; one range when ``part_size`` is None (a single PUT)."""
    if part_size is None or size <= part_size:
        return [(0, size)]
    return [(start, min(start + part_size, size)) for start in range(0, size, part_size)]


def _raw(segment: TarSegment) -> bytes:
    assert segment.path is not None
    try:
        with open(segment.path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise ManifestError(
            f"cannot read frame {segment.path}: {exc.strerror or exc}; the period is not uploaded",
            path=Path(segment.path),
        ) from exc


class _Hasher:
    """SHA-256 (and MD5) of the whole archive and of each part, fed in order."""

    def __init__(self, ranges: list[tuple[int, int]], with_md5: bool) -> None:
        self.ranges = ranges
        self.with_md5 = with_md5
        self.whole = self._new()
        self.part = self._new()
        self.parts: list[PartDigest] = []
        self.position = 0

    def _new(self) -> list[Any]:
        return [hashlib.sha256(), *([hashlib.md5(usedforsecurity=False)] if self.with_md5 else [])]

    def feed(self, chunk: bytes) -> None:
        for digest in self.whole:
            digest.update(chunk)
        if len(self.ranges) == 1:  # one PUT: the part is the object
            self.position += len(chunk)
            return
        view = memoryview(chunk)
        while view:
            start, end = self.ranges[len(self.parts)]
            take = min(len(view), end - self.position)
            for digest in self.part:
                digest.update(view[:take])
            view = view[take:]
            self.position += take
            if self.position == end:
                sha, md5 = self._finish(self.part)
                self.parts.append(PartDigest(len(self.parts) + 1, start, end, sha, md5))
                self.part = self._new()

    def _finish(self, digests: list[Any]) -> tuple[bytes, bytes | None]:
        return digests[0].digest(), digests[1].digest() if self.with_md5 else None

    def result(self, size: int) -> TarDigests:
        if self.position != size:
            raise ManifestError(f"tar plan is inconsistent: {self.position} of {size} bytes read")
        sha, md5 = self._finish(self.whole)
        parts = tuple(self.parts) or (PartDigest(1, 0, size, sha, md5),)
        return TarDigests(size, sha, md5, parts)


def digest_tar(plan: TarPlan, part_size: int | None = None, *, full: bool = True) -> TarDigests:
    """Hash the archive as S3 will, reading every frame once.

    ``full`` also checks each frame against the manifest (size, BLAKE2b) and computes the MD5s
    (S3's ETag); multipart uploads need both here. A single PUT passes ``full=False``: its
    upload stream checks the frames and computes the MD5 as it goes (:class:`TarReader`), and
    this pass only computes the SHA-256 that must be sent ahead of the body. That halves the
    work before the first byte leaves, which is most of a camera-hour's sync time."""
    ranges = part_ranges(plan.size, part_size)
    hasher = _Hasher(ranges, with_md5=full or len(ranges) > 1)
    load = read_frame if full or len(ranges) > 1 else _raw
    pending: list[bytes] = []
    held = 0
    for segment in plan.segments:
        chunk = segment.literal if segment.literal is not None else load(segment)
        pending.append(chunk)
        held += len(chunk)
        if held >= 1 << 20:  # hash in ~1 MiB pieces: fewer calls, little memory
            hasher.feed(b"".join(pending))
            pending, held = [], 0
    if pending:
        hasher.feed(b"".join(pending))
    return hasher.result(plan.size)


__all__ = ["member_name", "plan_tar", "tar_header", "tar_size"]
