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

    def thumbnail(self, body: bytes) -> Thumbnail | None:
        width, height, subsampling, colorspace = (ctypes.c_int() for _ in range(4))
        size = len(body)
        if self._lib.tjDecompressHeader3(
            self._handle,
            body,
            size,
            ctypes.byref(width),
            ctypes.byref(height),
            ctypes.byref(subsampling),
            ctypes.byref(colorspace),
        ):
            return None
        small_w = -(-width.value // SCALE)
        small_h = -(-height.value // SCALE)
        out = ctypes.create_string_buffer(small_w * small_h)
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
    width = a.width
    top = bottom = left = right = -1
    pa, pb = a.pixels, b.pixels
    for row in range(a.height):
        start = row * width
        if pa[start : start + width] == pb[start : start + width]:
            continue  # most rows of a frozen or busy picture alike: compared in C, not per pixel
        for column in range(width):
            if abs(pa[start + column] - pb[start + column]) > CHANGED_LEVEL:
                if top < 0:
                    top = row
                bottom = row
                if left < 0 or column < left:
                    left = column
                if column > right:
                    right = column
    if top < 0:
        return True
    box_height = bottom - top + 1
    box_width = right - left + 1
    line = max(2.0, LINE_HEIGHT_SHARE * a.height)
    return box_height <= line and box_width * box_height <= SAME_REGION_SHARE * width * a.height
