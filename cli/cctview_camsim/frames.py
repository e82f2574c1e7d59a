"""Camera frames: real JPEGs with the camera's name and the frame's time drawn in.

Cost matters more than looks: the agent benchmark polls 250 cameras once a second over HTTPS on a
two-core machine while it measures the agent. So each camera's textured scene (sky, buildings,
road, noise and the name banner) is drawn and JPEG-encoded once; a new version draws only the
bottom band (two vehicles whose positions follow the version number, and the time, from cached
glyphs), encodes that band and splices it under the cached rows (see jpegsplice.py): about
0.25 ms of CPU a frame instead of ~0.9 ms for drawing text and encoding whole frames. A version is
rendered lazily, when a client asks after the period rolled over.

Versions: which picture a camera shows when is the clock's business (clocks.py). A version's
bytes depend only on the camera, the version and its profile, so a repeat of a version is
byte-identical and two versions always differ (the drawn time differs). A frozen camera is a
picture that stopped while its burned-in clock goes on: :meth:`FrameRenderer.frozen` draws the
vehicles of the frozen version under the time of the current one, so the bytes change every
interval and the picture does not, as on the real service.
"""

from __future__ import annotations

import hashlib
import io
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from cctview_agent.cameras import Camera
from cctview_agent.manifests import frame_digest
from cctview_camsim import jpegsplice
from cctview_camsim.clocks import Clock, FrameClock, camera_hash
from cctview_camsim.profiles import CITY_SIZE, EASY_NOISE, CameraProfile

__all__ = ["Frame", "FrameClock", "FrameRenderer", "encode_jpeg"]

WIDTH, HEIGHT = CITY_SIZE
QUALITY = 75
BANNER = 18  # height of the name banner (top) and the time banner (bottom)
BAND_ROWS = 4  # MCU rows re-encoded per frame: the bottom 64 px (vehicles and time stamp)
BAND_HEIGHT = BAND_ROWS * jpegsplice.MCU_ROWS_HEIGHT


def _band_rows(profile: CameraProfile) -> int:
    """MCU rows that change per frame: the bottom quarter-ish of the picture, whatever its size
    (a 720x480 frame's traffic spans as much of its height as a 352x240 one's)."""
    return BAND_ROWS * max(1, profile.height // HEIGHT)


EASY_PROFILE = CameraProfile(1.0, 0.0, 0.0, WIDTH, HEIGHT, EASY_NOISE, (0.0, 0.0))
DEFAULT_STILL_CACHE = 1000  # ~85 KB each (band pixels + encoded top rows)


@dataclass(frozen=True, slots=True)
class Frame:
    """One rendered version of a camera's picture."""

    version: int
    data: bytes
    digest: str  # frame_digest(data), the same digest the agent's manifests record


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


def _scene(camera: Camera, profile: CameraProfile) -> Image.Image:
    """The camera's still background: a street view of flat shapes under a noise texture."""
    width, height = profile.width, profile.height
    scale = height / HEIGHT  # buildings, road and markings keep their proportions at 720x480
    rng = random.Random(camera_hash(camera.id))
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    horizon = int(rng.randint(70, 110) * scale)
    sky = (rng.randint(90, 160), rng.randint(120, 180), rng.randint(170, 230))
    draw.rectangle((0, 0, width, horizon), fill=sky)
    x = 0
    while x < width:  # buildings along the horizon
        wide = int(rng.randint(18, 60) * scale)
        top = horizon - int(rng.randint(20, 65) * scale)
        shade = rng.randint(60, 170)
        draw.rectangle((x, top, x + wide, horizon), fill=(shade, shade - 10, shade - 25))
        for wy in range(top + 5, horizon - 5, int(9 * scale)):  # windows
            for wx in range(x + 4, x + wide - 4, int(8 * scale)):
                if rng.random() < 0.6:
                    draw.rectangle((wx, wy, wx + 3, wy + 4), fill=(220, 210, 140))
        x += wide + rng.randint(0, 6)
    draw.rectangle((0, horizon, width, height), fill=(96, 110, 84))  # verges
    middle = width // 2 + rng.randint(-40, 40)
    road = [(middle - 30, horizon), (middle + 30, horizon), (width + 60, height), (-60, height)]
    draw.polygon(road, fill=(72, 72, 76))
    for step in range(8):  # lane markings, closer together towards the horizon
        y = horizon + int((height - horizon) * (step / 8) ** 1.4)
        draw.rectangle((middle - 1, y, middle + 1, y + 2 + step), fill=(230, 230, 200))
    noise = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    image = Image.blend(image, noise, profile.noise)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, BANNER), fill=(0, 0, 0))
    draw.text((4, 2), camera.name[:52], font=_font(13), fill=(255, 255, 255))
    draw.rectangle((0, height - BANNER, width, height), fill=(0, 0, 0))
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


def _still(camera: Camera, profile: CameraProfile) -> _Still:
    scene = _scene(camera, profile)
    rows = _band_rows(profile)
    band_height = rows * jpegsplice.MCU_ROWS_HEIGHT
    band = scene.crop((0, profile.height - band_height, profile.width, profile.height))
    full = jpegsplice.encode_rows(scene, QUALITY)
    probe = jpegsplice.encode_rows(band, QUALITY)
    if jpegsplice.compatible(full, probe):
        cut = jpegsplice.split(full)
        if len(cut.rows) == profile.height // jpegsplice.MCU_ROWS_HEIGHT:
            top = cut.rows[: len(cut.rows) - rows]
            return _Still(band=band, header=cut.header, top_rows=top, scene=None)
    return _Still(band=band, header=None, top_rows=(), scene=scene)


class FrameRenderer:
    """Renders versions of each camera's frame and keeps the latest one per camera.

    ``profile_of`` gives a camera's size and texture (the easy 352x240 ~20 KB frame by default).
    Not thread-safe: the server calls it from its one event loop.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        still_cache: int = DEFAULT_STILL_CACHE,
        profile_of: Callable[[str], CameraProfile] | None = None,
    ) -> None:
        self.clock = clock
        self._profile_of = profile_of or (lambda _camera_id: EASY_PROFILE)
        self._stills: OrderedDict[str, _Still] = OrderedDict()
        self._still_cache = still_cache
        self._latest: dict[str, Frame] = {}
        self._frozen: dict[str, Frame] = {}
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

    def frozen(self, camera: Camera, picture: int, now: float | None = None) -> Frame:
        """A frozen camera's frame now: the picture of version ``picture`` under the current
        version's burned-in time. ``Frame.version`` is the clock's (the stamp's) version."""
        when = time.time() if now is None else now
        version = self.clock.version_at(camera.id, when)
        cached = self._frozen.get(camera.id)
        if cached is None or cached.version != version:
            cached = self._frozen[camera.id] = self.render(camera, picture, stamp_version=version)
        return cached

    def render(self, camera: Camera, version: int, *, stamp_version: int | None = None) -> Frame:
        """Draw and encode one version (deterministic in camera and version); the time drawn is
        that of ``stamp_version`` when given (a frozen picture under a ticking clock)."""
        profile = self._profile_of(camera.id)
        width, height = profile.width, profile.height
        still = self._still(camera, profile)
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
        scale = _band_rows(profile) // BAND_ROWS
        for lane in range(2):
            y = (26 - lane * 20) * scale
            x = bits % (width - 40 * scale)
            # Bright enough to stand out from the grey road even in a 1/8-scale grey decode, as
            # real traffic does: a collector comparing pictures must see every vehicle move.
            colour = (
                120 + (bits >> 16) % 136,
                120 + (bits >> 24) % 136,
                120 + (bits >> 32) % 136,
            )
            car = (x, y, x + (28 - lane * 6) * scale, y + (16 - lane * 2) * scale)
            draw.rectangle(car, fill=colour)
            bits >>= 48
        stamped = version if stamp_version is None else stamp_version
        start = self.clock.version_start(camera.id, stamped)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(start))
        millis = int((start % 1) * 1000)
        number = f"{stamped % 1_000_000:06d}"
        # "2025-04-04 13:05:" + "42" + ".250 UTC  #" + "12" + "34" + "56"; pieces recur, so
        # their masks are cached (see GlyphText).
        pieces = [stamp[:-2], stamp[-2:], f".{millis:03d} UTC  #", number[:2], number[2:4]]
        pieces.append(number[4:])
        self._stamp.draw(band, (4, band.height - BANNER + 2), pieces, (255, 255, 0))
        if still.header is not None:
            rows = jpegsplice.split(jpegsplice.encode_rows(band, QUALITY)).rows
            data = jpegsplice.join(still.header, still.top_rows + rows)
        else:
            assert still.scene is not None
            image = still.scene.copy()
            image.paste(band, (0, height - band.height))
            data = encode_jpeg(image)
        self.rendered += 1
        return Frame(version=stamped, data=data, digest=frame_digest(data))

    def _still(self, camera: Camera, profile: CameraProfile) -> _Still:
        still = self._stills.get(camera.id)
        if still is None:
            still = self._stills[camera.id] = _still(camera, profile)
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
