"""Re-encode only the bottom band of a JPEG: splice freshly encoded MCU rows into a cached one.

A baseline JPEG written with a restart marker after every MCU row is a header followed by
independent entropy-coded rows (the DC predictors reset at each RSTn). Two images encoded with
the same settings share quantization and Huffman tables, so rows of one can replace rows of the
other: encode the camera's still scene once, and per frame encode only the band that changes
(time stamp and vehicles), then join header + cached top rows + new band rows, renumbering the
RST markers. The result is byte-for-byte what libjpeg would write for the composed picture, at a
quarter of the encoding cost. :func:`compatible` checks the premise once per scene; when it
fails (another libjpeg, other defaults) the caller encodes whole frames instead.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from PIL import Image

MCU_ROWS_HEIGHT = 16  # 4:2:0 chroma subsampling, Pillow's default below quality 95
_RST = re.compile(rb"\xff[\xd0-\xd7]")
_SOI, _EOI, _SOS = b"\xff\xd8", b"\xff\xd9", b"\xff\xda"
_TABLE_MARKERS = (b"\xff\xdb", b"\xff\xc4", b"\xff\xdd")  # DQT, DHT, DRI
_SOF0 = b"\xff\xc0"


@dataclass(frozen=True, slots=True)
class ScanRows:
    """A JPEG cut at its restart markers: everything up to the scan data, then one part per row."""

    header: bytes
    rows: tuple[bytes, ...]


def encode_rows(image: Image.Image, quality: int) -> bytes:
    """A baseline JPEG with a restart marker after every MCU row."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, restart_marker_rows=1)
    return buffer.getvalue()


def split(data: bytes) -> ScanRows:
    """Cut an :func:`encode_rows` JPEG into header and per-row entropy-coded parts."""
    if not data.startswith(_SOI) or not data.endswith(_EOI):
        raise ValueError("not a complete JPEG")
    start = data.index(_SOS)
    length = int.from_bytes(data[start + 2 : start + 4], "big")
    scan = start + 2 + length
    # Inside entropy-coded data every 0xFF byte is followed by 0x00, so FF D0..D7 are markers.
    return ScanRows(header=data[:scan], rows=tuple(_RST.split(data[scan:-2])))


def join(header: bytes, rows: list[bytes] | tuple[bytes, ...]) -> bytes:
    """Header, rows separated by RST0..RST7 in turn, EOI."""
    parts = [header]
    last = len(rows) - 1
    for index, row in enumerate(rows):
        parts.append(row)
        if index < last:
            parts.append(bytes((0xFF, 0xD0 + index % 8)))
    parts.append(_EOI)
    return b"".join(parts)


def _segments(data: bytes) -> list[bytes]:
    """The marker segments between SOI and SOS (tables, frame header, APPn)."""
    segments = []
    offset = 2
    while data[offset : offset + 2] != _SOS:
        length = int.from_bytes(data[offset + 2 : offset + 4], "big")
        segments.append(data[offset : offset + 2 + length])
        offset += 2 + length
    return segments


def compatible(full: bytes, band: bytes) -> bool:
    """True when rows of ``band`` can replace rows of ``full``: same tables, same components."""

    def tables(data: bytes) -> list[bytes]:
        return [segment for segment in _segments(data) if segment[:2] in _TABLE_MARKERS]

    def frame(data: bytes) -> bytes | None:
        for segment in _segments(data):
            if segment[:2] == _SOF0:
                return segment[:5] + segment[7:]  # without the height
        return None  # progressive or other: not spliceable

    full_frame = frame(full)
    return full_frame is not None and full_frame == frame(band) and tables(full) == tables(band)
