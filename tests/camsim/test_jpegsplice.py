"""Band splicing gives exactly the JPEG that encoding the whole composed picture gives."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image, ImageDraw

from cctview_camsim import jpegsplice


def _picture(seed: int) -> Image.Image:
    rng = random.Random(seed)
    noise = Image.frombytes("RGB", (352, 240), rng.randbytes(352 * 240 * 3))
    return Image.blend(Image.new("RGB", (352, 240), (90, 120, 160)), noise, 0.2)


def test_spliced_band_equals_whole_encode_byte_for_byte():
    scene = _picture(1)
    composed = scene.copy()
    draw = ImageDraw.Draw(composed)
    draw.rectangle((40, 190, 90, 205), fill=(250, 10, 10))
    draw.text((4, 224), "2026-11-29 23:00:00.000 UTC", fill=(255, 255, 0))
    top = 240 - 4 * 16
    full = jpegsplice.encode_rows(scene, 75)
    band = jpegsplice.encode_rows(composed.crop((0, top, 352, 240)), 75)
    assert jpegsplice.compatible(full, band)
    cut = jpegsplice.split(full)
    assert len(cut.rows) == 15  # one per 16-pixel MCU row
    spliced = jpegsplice.join(cut.header, cut.rows[:11] + jpegsplice.split(band).rows)
    assert spliced == jpegsplice.encode_rows(composed, 75)
    decoded = Image.open(io.BytesIO(spliced))
    decoded.load()
    assert decoded.size == (352, 240)


def test_other_settings_are_not_compatible():
    scene = _picture(2)
    full = jpegsplice.encode_rows(scene, 75)
    assert not jpegsplice.compatible(full, jpegsplice.encode_rows(scene, 60))  # other tables
    buffer = io.BytesIO()
    scene.save(buffer, "JPEG", quality=75, progressive=True)
    assert not jpegsplice.compatible(full, buffer.getvalue())


def test_split_rejects_a_cut_jpeg():
    data = jpegsplice.encode_rows(_picture(3), 75)
    with pytest.raises(ValueError, match="not a complete JPEG"):
        jpegsplice.split(data[:-100])
