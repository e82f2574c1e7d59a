"""Camera frames: real JPEGs with the camera's name and the frame's time drawn in.

Cost matters more than looks: the agent benchmark polls 250 cameras once a second over HTTPS on a
two-core machine while it measures the agent. So each camera's textured scene (sky, buildings,
road, noise and the name banner) is drawn once and kept; a new version only copies it, draws the
time and three vehicles whose positions follow the version number, and encodes (libjpeg-turbo,
about 0.2 ms). A version is rendered lazily, when a client asks after the period rolled over.

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

WIDTH = 352
HEIGHT = 240
QUALITY = 75
BANNER = 18  # height of the name banner (top) and the time banner (bottom)
NOISE_ALPHA = 0.16  # texture strength: puts frames at ~20 KB, like the real feeds
DEFAULT_BACKGROUND_CACHE = 320  # ~250 KB each; enough for the 250-camera benchmark


@dataclass(frozen=True, slots=True)
class Frame:
    """One rendered version of a camera's picture."""

    version: int
    data: bytes
    digest: str  # frame_digest(data), the same digest the agent's manifests record


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


class FrameRenderer:
    """Renders versions of each camera's frame and keeps the latest one per camera.

    Not thread-safe: the server calls it from its one event loop.
    """

    def __init__(
        self, clock: FrameClock, *, background_cache: int = DEFAULT_BACKGROUND_CACHE
    ) -> None:
        self.clock = clock
        self._backgrounds: OrderedDict[str, Image.Image] = OrderedDict()
        self._background_cache = background_cache
        self._latest: dict[str, Frame] = {}
        self.rendered = 0  # versions encoded since start (the CPU benchmark reads it)

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
        image = self._background(camera).copy()
        draw = ImageDraw.Draw(image)
        rng = random.Random(_camera_hash(camera.id) ^ version)
        for lane in range(3):  # vehicles that move from version to version
            y = HEIGHT - BANNER - 20 - lane * 26
            x = rng.randint(0, WIDTH - 40)
            colour = (rng.randint(40, 255), rng.randint(40, 255), rng.randint(40, 255))
            draw.rectangle((x, y, x + 28 - lane * 6, y + 12 - lane * 3), fill=colour)
        start = self.clock.version_start(camera.id, version)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(start))
        millis = int((start % 1) * 1000)
        text = f"{stamp}.{millis:03d} UTC  #{version % 1_000_000:06d}"
        draw.text((4, HEIGHT - BANNER + 2), text, font=_font(13), fill=(255, 255, 0))
        data = encode_jpeg(image)
        self.rendered += 1
        return Frame(version=version, data=data, digest=frame_digest(data))

    def _background(self, camera: Camera) -> Image.Image:
        background = self._backgrounds.get(camera.id)
        if background is None:
            background = _scene(camera)
            self._backgrounds[camera.id] = background
            if len(self._backgrounds) > self._background_cache:
                self._backgrounds.popitem(last=False)
        else:
            self._backgrounds.move_to_end(camera.id)
        return background


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
