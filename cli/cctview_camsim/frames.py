"""Camera frames: real JPEGs with the camera's name and the frame's time drawn in.

Cost matters more than looks: the agent benchmark polls 250 cameras once a second over HTTPS on a
two-core machine while it measures the agent. So each camera's textured scene (sky, buildings,
road, noise and the name banner) is drawn and JPEG-encoded once; a new version draws only the
bottom band (two vehicles whose positions follow the version number, and the time, from cached
glyphs), encodes that band and splices it under the cached rows (see jpegsplice.py): about
0.25 ms of CPU a frame instead of ~0.9 ms for drawing text and encoding whole frames. A version is
rendered lazily, when a client asks after the period rolled over.

Versions: camera ``c`` shows version ``floor((t + phase(c)) / refresh)`` at wall time ``t``;
the phase, derived from the camera id, spreads the cameras' roll-overs over the period as real
feeds are. A version's bytes depend only on the camera and the version number, so a repeat of a
version is byte-identical and two versions always differ (the drawn time differs).
"""

from __future__ import annotations

import hashlib
import io
import math
import random
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from cctview_agent.cameras import Camera
from cctview_agent.manifests import frame_digest
from cctview_camsim import jpegsplice

WIDTH = 352
HEIGHT = 240
QUALITY = 75
BANNER = 18  # height of the name banner (top) and the time banner (bottom)
NOISE_ALPHA = 0.16  # texture strength: puts frames at ~20 KB, like the real feeds
BAND_ROWS = 4  # MCU rows re-encoded per frame: the bottom 64 px (vehicles and time stamp)
BAND_TOP = HEIGHT - BAND_ROWS * jpegsplice.MCU_ROWS_HEIGHT
DEFAULT_STILL_CACHE = 1000  # ~85 KB each (band pixels + encoded top rows)


@dataclass(frozen=True, slots=True)
class Frame:
    """One rendered version of a camera's picture."""

    version: int
    data: bytes
    digest: str  # frame_digest(data), the same digest the agent's manifests record


@lru_cache(maxsize=8192)
def _camera_hash(camera_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(camera_id.encode(), digest_size=8).digest(), "big")


@dataclass(frozen=True, slots=True)
class FrameClock:
    """Maps wall time to a camera's frame version; each camera rolls over at its own phase."""

    refresh: float

    def phase(self, camera_id: str) -> float:
        """Seconds added to the clock for this camera, in ``[0, refresh)``, fixed by its id."""
        return (_camera_hash(camera_id) / 2**64) * self.refresh

    def version_at(self, camera_id: str, now: float) -> int:
        return math.floor((now + self.phase(camera_id)) / self.refresh)

    def version_start(self, camera_id: str, version: int) -> float:
        """The wall time at which ``version`` became current (drawn into the frame)."""
        return version * self.refresh - self.phase(camera_id)


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError):  # Pillow built without FreeType: the small bitmap font
        return ImageFont.load_default()


class GlyphText:
    """Draws a line of text by pasting cached masks of its pieces.

    FreeType rendering of the ~36-character time line costs ~0.4 ms, as much as encoding a whole
    frame. Here each piece of the line ("2025-04-04 13:05:", "42", ".250 UTC  #", "0012", ...)
    is rendered once from per-character masks and cached, so a frame pastes a handful of masks.
    Characters sit at their rounded advance widths (no kerning; the default font barely kerns).
    """

    MAX_PIECES = 4096

    def __init__(self, font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> None:
        self.font = font
        ascent, descent = font.getmetrics() if hasattr(font, "getmetrics") else (11, 0)
        self.height = ascent + descent
        self._glyphs: dict[str, tuple[int, Image.Image]] = {}
        self._pieces: dict[str, tuple[int, Image.Image]] = {}

    def _glyph(self, char: str) -> tuple[int, Image.Image]:
        glyph = self._glyphs.get(char)
        if glyph is None:
            width = max(1, round(self.font.getlength(char)))
            mask = Image.new("L", (width, self.height))
            ImageDraw.Draw(mask).text((0, 0), char, font=self.font, fill=255)
            glyph = self._glyphs[char] = (width, mask)
        return glyph

    def _piece(self, text: str) -> tuple[int, Image.Image]:
        piece = self._pieces.get(text)
        if piece is None:
            glyphs = [self._glyph(char) for char in text]
            mask = Image.new("L", (max(1, sum(width for width, _ in glyphs)), self.height))
            x = 0
            for width, glyph in glyphs:
                mask.paste(glyph, (x, 0))
                x += width
            if len(self._pieces) >= self.MAX_PIECES:
                self._pieces.clear()
            piece = self._pieces[text] = (x, mask)
        return piece

    def draw(self, image: Image.Image, xy: tuple[int, int], pieces: list[str], fill: tuple) -> None:
        """Draw the concatenation of ``pieces``; split it where the text varies independently."""
        x, y = xy
        for text in pieces:
            width, mask = self._piece(text)
            image.paste(fill, (x, y, x + mask.width, y + self.height), mask)
            x += width


def _scene(camera: Camera) -> Image.Image:
    """The camera's still background: a street view of flat shapes under a noise texture."""
    rng = random.Random(_camera_hash(camera.id))
    image = Image.new("RGB", (WIDTH, HEIGHT))
    draw = ImageDraw.Draw(image)
    horizon = rng.randint(70, 110)
    sky = (rng.randint(90, 160), rng.randint(120, 180), rng.randint(170, 230))
    draw.rectangle((0, 0, WIDTH, horizon), fill=sky)
    x = 0
    while x < WIDTH:  # buildings along the horizon
        width = rng.randint(18, 60)
        top = horizon - rng.randint(20, 65)
        shade = rng.randint(60, 170)
        draw.rectangle((x, top, x + width, horizon), fill=(shade, shade - 10, shade - 25))
        for wy in range(top + 5, horizon - 5, 9):  # windows
            for wx in range(x + 4, x + width - 4, 8):
                if rng.random() < 0.6:
                    draw.rectangle((wx, wy, wx + 3, wy + 4), fill=(220, 210, 140))
        x += width + rng.randint(0, 6)
    draw.rectangle((0, horizon, WIDTH, HEIGHT), fill=(96, 110, 84))  # verges
    middle = WIDTH // 2 + rng.randint(-40, 40)
    road = [(middle - 30, horizon), (middle + 30, horizon), (WIDTH + 60, HEIGHT), (-60, HEIGHT)]
    draw.polygon(road, fill=(72, 72, 76))
    for step in range(8):  # lane markings, closer together towards the horizon
        y = horizon + int((HEIGHT - horizon) * (step / 8) ** 1.4)
        draw.rectangle((middle - 1, y, middle + 1, y + 2 + step), fill=(230, 230, 200))
    noise = Image.frombytes("RGB", (WIDTH, HEIGHT), rng.randbytes(WIDTH * HEIGHT * 3))
    image = Image.blend(image, noise, NOISE_ALPHA)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH, BANNER), fill=(0, 0, 0))
    draw.text((4, 2), camera.name[:52], font=_font(13), fill=(255, 255, 255))
    draw.rectangle((0, HEIGHT - BANNER, WIDTH, HEIGHT), fill=(0, 0, 0))
    return image


@dataclass(frozen=True, slots=True)
class _Still:
    """A camera's scene, prepared for cheap frames: the top rows already encoded (``header`` and
    ``top_rows``, reused by every frame) and the bottom band as pixels to draw on. ``scene`` is
    kept only when splicing is impossible and whole frames must be encoded."""

    band: Image.Image
    header: bytes | None
    top_rows: tuple[bytes, ...]
    scene: Image.Image | None


def _still(camera: Camera) -> _Still:
    scene = _scene(camera)
    band = scene.crop((0, BAND_TOP, WIDTH, HEIGHT))
    full = jpegsplice.encode_rows(scene, QUALITY)
    probe = jpegsplice.encode_rows(band, QUALITY)
    if jpegsplice.compatible(full, probe):
        cut = jpegsplice.split(full)
        if len(cut.rows) == HEIGHT // jpegsplice.MCU_ROWS_HEIGHT:
            top = cut.rows[: len(cut.rows) - BAND_ROWS]
            return _Still(band=band, header=cut.header, top_rows=top, scene=None)
    return _Still(band=band, header=None, top_rows=(), scene=scene)


class FrameRenderer:
    """Renders versions of each camera's frame and keeps the latest one per camera.

    Not thread-safe: the server calls it from its one event loop.
    """

    def __init__(self, clock: FrameClock, *, still_cache: int = DEFAULT_STILL_CACHE) -> None:
        self.clock = clock
        self._stills: OrderedDict[str, _Still] = OrderedDict()
        self._still_cache = still_cache
        self._latest: dict[str, Frame] = {}
        self.rendered = 0  # versions encoded since start
        self._stamp = GlyphText(_font(13))

    def frame(self, camera: Camera, version: int) -> Frame:
        """The frame of ``version``: the cached one if it is the latest rendered, else a new one."""
        cached = self._latest.get(camera.id)
        if cached is not None and cached.version == version:
            return cached
        frame = self.render(camera, version)
        if cached is None or version >= cached.version:
            self._latest[camera.id] = frame
        return frame

    def current(self, camera: Camera, now: float | None = None) -> Frame:
        """The frame the camera shows now."""
        when = time.time() if now is None else now
        return self.frame(camera, self.clock.version_at(camera.id, when))

    def render(self, camera: Camera, version: int) -> Frame:
        """Draw and encode one version (deterministic in camera and version)."""
        still = self._still(camera)
        band = still.band.copy()
        draw = ImageDraw.Draw(band)
        # Vehicles that move from version to version; their places and colours come from the
        # bits of one hash (seeding a Random per frame costs more than drawing them).
        bits = int.from_bytes(
            hashlib.blake2b(
                version.to_bytes(8, "big", signed=True), digest_size=16, key=camera.id.encode()[:64]
            ).digest(),
            "big",
        )
        for lane in range(2):
            y = 28 - lane * 18
            x = bits % (WIDTH - 40)
            colour = (40 + (bits >> 16) % 216, 40 + (bits >> 24) % 216, 40 + (bits >> 32) % 216)
            draw.rectangle((x, y, x + 28 - lane * 6, y + 12 - lane * 2), fill=colour)
            bits >>= 48
        start = self.clock.version_start(camera.id, version)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(start))
        millis = int((start % 1) * 1000)
        number = f"{version % 1_000_000:06d}"
        # "2025-04-04 13:05:" + "42" + ".250 UTC  #" + "12" + "34" + "56"; pieces recur, so
        # their masks are cached (see GlyphText).
        pieces = [stamp[:-2], stamp[-2:], f".{millis:03d} UTC  #", number[:2], number[2:4]]
        pieces.append(number[4:])
        self._stamp.draw(band, (4, HEIGHT - BANNER + 2 - BAND_TOP), pieces, (255, 255, 0))
        if still.header is not None:
            rows = jpegsplice.split(jpegsplice.encode_rows(band, QUALITY)).rows
            data = jpegsplice.join(still.header, still.top_rows + rows)
        else:
            assert still.scene is not None
            image = still.scene.copy()
            image.paste(band, (0, BAND_TOP))
            data = encode_jpeg(image)
        self.rendered += 1
        return Frame(version=version, data=data, digest=frame_digest(data))

    def _still(self, camera: Camera) -> _Still:
        still = self._stills.get(camera.id)
        if still is None:
            still = self._stills[camera.id] = _still(camera)
            if len(self._stills) > self._still_cache:
                self._stills.popitem(last=False)
        else:
            self._stills.move_to_end(camera.id)
        return still


def encode_jpeg(image: Image.Image) -> bytes:
    """Baseline JPEG with the standard tables, as a cheap IP camera sends."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=QUALITY)
    return buffer.getvalue()


@lru_cache(maxsize=1)
def offline_placeholder() -> bytes:
    """The "camera offline" picture: the same bytes for every camera, as the real service does."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (40, 40, 40))
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 90, WIDTH - 40, 150), outline=(200, 200, 200), width=2)
    draw.text(
        (WIDTH // 2, HEIGHT // 2),
        "camera offline",
        font=_font(20),
        fill=(230, 230, 230),
        anchor="mm",
    )
    return encode_jpeg(image)
