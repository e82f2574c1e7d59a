"""Pack a camera-period as one uncompressed tar, streamed from the frame files, never held whole.

JPEG does not compress, so the tar is plain: a header per frame, the frame's bytes, padding to
512 bytes, two zero blocks at the end. Every size is known from the manifest, so the whole
archive is laid out before a byte is read (:func:`plan_tar`): its length goes into the PUT's
``Content-Length``, and :class:`TarReader` is a seekable file over that layout that reads each
frame file only when the upload reaches it. A node with 1 GiB of memory ships an hour of frames
(~75 MB) with one frame (~20 KB) in memory at a time.

:func:`digest_tar` is the verification pass made before upload: it reads every frame, checks its
size and BLAKE2b digest against the manifest (a frame changed or lost on disk stops the period
here, before anything is sent), and computes the SHA-256 and MD5 that S3 will be held to, for the
whole object and for each multipart part.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import io
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cctview_agent.errors import ManifestError
from cctview_agent.layout import DataLayout
from cctview_agent.manifests import Manifest, frame_digest

BLOCK = tarfile.BLOCKSIZE  # 512
END_OF_ARCHIVE = b"\0" * (2 * BLOCK)


@dataclass(frozen=True, slots=True)
class TarSegment:
    """A stretch of the archive: literal bytes (a header, padding, the end) or one frame file."""

    offset: int
    length: int
    literal: bytes | None = None
    path: Path | None = None
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


def member_name(camera_id: str, frame_name: str) -> str:
    """Frames sit in a folder named for their camera, so extracting many tars never mixes them."""
    return f"{camera_id}/{frame_name}"


def plan_tar(layout: DataLayout, manifest: Manifest) -> TarPlan:
    """Lay out the tar of ``manifest``'s frames, in time order, from the manifest alone."""
    segments: list[TarSegment] = []
    offset = 0
    for frame in sorted(manifest.frames, key=lambda f: (f.ts_ms, f.name)):
        info = tarfile.TarInfo(member_name(manifest.camera_id, frame.name))
        info.size = frame.size
        info.mtime = frame.ts_ms // 1000
        info.mode = 0o644
        header = info.tobuf(format=tarfile.GNU_FORMAT, encoding="utf-8", errors="strict")
        segments.append(TarSegment(offset, len(header), literal=header))
        offset += len(header)
        path = layout.period_dir(manifest.camera_id, manifest.period) / frame.name
        segments.append(
            TarSegment(offset, frame.size, path=path, size=frame.size, digest=frame.digest)
        )
        offset += frame.size
        padding = -frame.size % BLOCK
        if padding:
            segments.append(TarSegment(offset, padding, literal=b"\0" * padding))
            offset += padding
    segments.append(TarSegment(offset, len(END_OF_ARCHIVE), literal=END_OF_ARCHIVE))
    offset += len(END_OF_ARCHIVE)
    return TarPlan(tuple(segments), offset, len(manifest.frames))


def read_frame(segment: TarSegment) -> bytes:
    """A frame's bytes, checked against the manifest's size and digest."""
    assert segment.path is not None
    try:
        data = segment.path.read_bytes()
    except FileNotFoundError:
        raise ManifestError(
            f"frame {segment.path} is listed in its manifest but missing on disk; "
            "the period is not uploaded (its other frames stay where they are)",
            path=segment.path,
        ) from None
    except OSError as exc:
        raise ManifestError(
            f"cannot read frame {segment.path}: {exc.strerror or exc}", path=segment.path
        ) from exc
    if len(data) != segment.size or frame_digest(data) != segment.digest:
        raise ManifestError(
            f"frame {segment.path} does not match its manifest (size or digest differs); "
            "the period is not uploaded",
            path=segment.path,
        )
    return data


class TarReader(io.RawIOBase):
    """A read-only, seekable file over ``[start, end)`` of a planned tar (a whole object or a
    multipart part). Frames are read from disk as the position reaches them; the bytes are not
    re-verified here, :func:`digest_tar` did that, and S3 checks the upload against its digest."""

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
        return self._pos - self._start

    def _segment_bytes(self, index: int) -> bytes:
        segment = self._plan.segments[index]
        if segment.literal is not None:
            return segment.literal
        if self._cached is None or self._cached[0] != index:
            assert segment.path is not None
            try:
                self._cached = (index, segment.path.read_bytes())
            except OSError as exc:
                raise ManifestError(
                    f"frame {segment.path} vanished during upload: {exc.strerror or exc}",
                    path=segment.path,
                ) from exc
        return self._cached[1]

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
            if not piece:  # a file shorter than its manifest says; digest_tar catches this first
                raise ManifestError(f"frame {segment.path} is shorter than its manifest says")
            pieces.append(piece)
            got += len(piece)
            self._pos += len(piece)
        if self._on_read is not None and got:
            self._on_read(got)
        return b"".join(pieces)

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
    md5: bytes

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def sha256_b64(self) -> str:
        return base64.b64encode(self.sha256).decode()

    @property
    def etag(self) -> str:
        return self.md5.hex()


@dataclass(frozen=True, slots=True)
class TarDigests:
    """What the tar must hash to in S3: whole-object SHA-256 and MD5, and per part if multipart."""

    size: int
    sha256: bytes
    md5: bytes
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
            return self.md5.hex()
        joined = hashlib.md5(b"".join(p.md5 for p in self.parts), usedforsecurity=False)
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


def _chunks(plan: TarPlan) -> Iterator[bytes]:
    for segment in plan.segments:
        yield segment.literal if segment.literal is not None else read_frame(segment)


def digest_tar(plan: TarPlan, part_size: int | None = None) -> TarDigests:
    """Read every frame once, verify it against the manifest, and hash the archive as S3 will."""
    whole_sha, whole_md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    ranges = part_ranges(plan.size, part_size)
    if len(ranges) == 1:  # one PUT: the part is the object, hash once
        for chunk in _chunks(plan):
            whole_sha.update(chunk)
            whole_md5.update(chunk)
        sha, md5 = whole_sha.digest(), whole_md5.digest()
        return TarDigests(plan.size, sha, md5, (PartDigest(1, 0, plan.size, sha, md5),))
    parts: list[PartDigest] = []
    index = 0
    part_sha, part_md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    position = 0
    for chunk in _chunks(plan):
        whole_sha.update(chunk)
        whole_md5.update(chunk)
        view = memoryview(chunk)
        while view:
            take = min(len(view), ranges[index][1] - position)
            part_sha.update(view[:take])
            part_md5.update(view[:take])
            view = view[take:]
            position += take
            if position == ranges[index][1]:
                start, end = ranges[index]
                parts.append(
                    PartDigest(index + 1, start, end, part_sha.digest(), part_md5.digest())
                )
                index += 1
                part_sha, part_md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    if position != plan.size:
        raise ManifestError(f"tar plan is inconsistent: {position} of {plan.size} bytes read")
    return TarDigests(plan.size, whole_sha.digest(), whole_md5.digest(), tuple(parts))
