"""What a camera's answer shows: the offline card, or a picture compared by content, not bytes.

Two facts of webcams.nyctmc.org decide how a body is read (docs/agent.md):

- An offline camera answers 200 with one shared PNG ("This camera is being serviced") labelled
  ``image/jpeg``. A real frame is always a JPEG, so a PNG signature alone says "offline".
- A frozen feed keeps its burned-in clock ticking: its bytes change every interval while its
  picture does not. So "the same frame again" is a property of the picture: two frames show the
  same picture when nothing but one line-sized region (the clock, wherever it sits) differs.

The comparison decodes each frame at 1/8 scale in libjpeg-turbo's DCT domain (only the DC
coefficient of each 8x8 block is used, no inverse DCT), grey only: ~0.1 ms for a 352x240 frame
(bench/picture_bench.py). It calls libturbojpeg (Debian ``libturbojpeg0``, 0.8 MB installed)
through ctypes, because Pillow would add ~22 MB to a node whose install must stay under 60 MiB.
Without the library the agent falls back to comparing bytes, and says so once in its log.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass
from functools import lru_cache

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SCALE = 8  # libjpeg's smallest DCT scaling: one pixel per 8x8 block
CHANGED_LEVEL = 12  # a block whose mean grey moved more than this (of 255) changed
# Two frames show the same picture when what differs fits in one line of text: a box at most this
# share of the picture's height (and at least two blocks: a clock line is ~16 px of 240), and at
# most SAME_REGION_SHARE of its area (the changing digits of "2025-04-04 13:05:42.250" are ~3 %
# of a 352x240 frame). Traffic changes spread over the height of the road, so they do not fit.
LINE_HEIGHT_SHARE = 0.07
SAME_REGION_SHARE = 0.05
_TJPF_GRAY = 6
_TJFLAG_FASTDCT = 2048
_LIBRARY = "turbojpeg"


def is_png(body: bytes) -> bool:
    return body.startswith(PNG_SIGNATURE)


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """A frame's picture at 1/8 scale, grey, row by row: what :func:`same_picture` compares."""

    width: int
    height: int
    pixels: bytes


class _TurboJPEG:
    """The three libturbojpeg calls the agent needs, on one decompressor handle (one thread)."""

    def __init__(self, library: ctypes.CDLL) -> None:
        self._lib = library
        library.tjInitDecompress.restype = ctypes.c_void_p
        library.tjDecompressHeader3.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_ulong,
            *(ctypes.POINTER(ctypes.c_int),) * 4,
        ]
        library.tjDecompress2.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_ulong,
            ctypes.c_char_p,
            *(ctypes.c_int,) * 5,
        ]
        self._handle = library.tjInitDecompress()
        if not self._handle:
            raise OSError("tjInitDecompress failed")
        # Reused by every call: building ctypes objects per frame costs as much as the decode.
        self._header = tuple(ctypes.c_int() for _ in range(4))
        self._header_refs = tuple(ctypes.byref(value) for value in self._header)
        self._buffers: dict[tuple[int, int], ctypes.Array[ctypes.c_char]] = {}

    def thumbnail(self, body: bytes) -> Thumbnail | None:
        size = len(body)
        width, height = self._header[0], self._header[1]
        if self._lib.tjDecompressHeader3(self._handle, body, size, *self._header_refs):
            return None
        small_w = -(-width.value // SCALE)
        small_h = -(-height.value // SCALE)
        out = self._buffers.get((small_w, small_h))
        if out is None:  # one buffer per picture size, reused (a few sizes at most)
            out = self._buffers[(small_w, small_h)] = ctypes.create_string_buffer(small_w * small_h)
        if self._lib.tjDecompress2(
            self._handle, body, size, out, small_w, small_w, small_h, _TJPF_GRAY, _TJFLAG_FASTDCT
        ):
            return None
        return Thumbnail(small_w, small_h, out.raw)


@lru_cache(maxsize=1)
def _decoder() -> _TurboJPEG | None:
    name = ctypes.util.find_library(_LIBRARY) or "libturbojpeg.so.0"
    try:
        return _TurboJPEG(ctypes.CDLL(name))
    except (OSError, AttributeError):
        return None


def can_compare_pictures() -> bool:
    """False when libturbojpeg is missing: then frames are compared by their bytes only."""
    return _decoder() is not None


def thumbnail(body: bytes) -> Thumbnail | None:
    """The 1/8-scale grey picture of a JPEG, or None (not decodable, or no libturbojpeg)."""
    decoder = _decoder()
    return decoder.thumbnail(body) if decoder is not None else None


def same_picture(a: Thumbnail, b: Thumbnail) -> bool:
    """True when ``a`` and ``b`` differ at most in one line-sized region (a ticking clock)."""
    if (a.width, a.height) != (b.width, b.height):
        return False
    if a.pixels == b.pixels:
        return True
    mask = changed_blocks(a.pixels, b.pixels)
    first = mask.find(CHANGED)
    if first < 0:
        return True
    width = a.width
    top, bottom = first // width, mask.rfind(CHANGED) // width
    left, right = width, -1
    for row in range(top, bottom + 1):  # a few rows; the searches run in C
        start = row * width
        found = mask.find(CHANGED, start, start + width)
        if found >= 0:
            left = min(left, found - start)
            right = max(right, mask.rfind(CHANGED, start, start + width) - start)
    box_height = bottom - top + 1
    box_width = right - left + 1
    line = max(2.0, LINE_HEIGHT_SHARE * a.height)
    return box_height <= line and box_width * box_height <= SAME_REGION_SHARE * width * a.height


CHANGED = b"\x80"


@lru_cache(maxsize=8)
def _lanes(count: int) -> tuple[int, int, int, int]:
    """Constants for :func:`changed_blocks` on ``count`` 16-bit lanes."""

    def repeat(lane: int) -> int:
        return int.from_bytes(lane.to_bytes(2, "big") * count, "big")

    return (
        repeat(0x0100),  # 256 in every lane: a - b + 256 never borrows from the next lane
        repeat(0x8000 - (256 + CHANGED_LEVEL + 1)),  # carries into bit 15 when a - b > level
        repeat(0x8000 - (256 - CHANGED_LEVEL)),  # stays below bit 15 when b - a > level
        repeat(0x8000),
    )


def changed_blocks(a: bytes, b: bytes) -> bytes:
    """Per pixel, ``0x80`` where ``|a - b| > CHANGED_LEVEL`` and ``0x00`` elsewhere.

    Pure Python, but not a loop per pixel (that cost ~0.4 ms a frame): each picture becomes one
    big integer with a 16-bit lane per pixel, and the subtraction and both comparisons are a few
    big-integer operations done in C (SIMD within a register)."""
    count = len(a)
    lanes = bytearray(2 * count)
    lanes[1::2] = a
    left = int.from_bytes(lanes, "big")
    lanes[1::2] = b
    right = int.from_bytes(lanes, "big")
    offset, above, below, top_bits = _lanes(count)
    difference = (left | offset) - right  # lane = 256 + a - b, in 1..511
    changed = ((difference + above) | ~(difference + below)) & top_bits
    return changed.to_bytes(2 * count, "big")[0::2]
