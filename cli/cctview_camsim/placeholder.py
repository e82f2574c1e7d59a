"""The picture webcams.nyctmc.org serves for a camera that is offline.

The real service answers HTTP 200 with one shared PNG (a grey card, "This camera is being
serviced", about 5.5 KB) for every offline camera, labelled ``Content-Type: image/jpeg``. A client
that trusts the label sees a broken JPEG; one that reads the bytes sees a PNG signature. This is a
look-alike drawn with Pillow: the same for every camera and every run, a PNG, about the same size.
"""

from __future__ import annotations

import io
import random
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 352, 240
MESSAGE = "This camera is being serviced"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@lru_cache(maxsize=1)
def offline_placeholder() -> bytes:
    """The PNG bytes, identical on every call and every run (a fixed seed for the grain)."""
    image = Image.new("L", (WIDTH, HEIGHT), 72)
    draw = ImageDraw.Draw(image)
    try:
        font: ImageFont.ImageFont | ImageFont.FreeTypeFont = ImageFont.load_default(size=18)
    except (ImportError, OSError):  # Pillow without FreeType
        font = ImageFont.load_default()
    draw.rounded_rectangle((24, 84, WIDTH - 24, 156), radius=8, fill=52, outline=190, width=2)
    draw.text((WIDTH // 2, HEIGHT // 2), MESSAGE, font=font, fill=235, anchor="mm")
    # A light grain where the real card has its gradient: it sets the size near ~5.5 KB.
    rng = random.Random(20250404)
    pixels = image.load()
    assert pixels is not None
    for _ in range(2100):
        x, y = rng.randrange(WIDTH), rng.randrange(HEIGHT)
        if not 84 <= y <= 156:
            pixels[x, y] = 72 + rng.choice((-6, 6))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()
