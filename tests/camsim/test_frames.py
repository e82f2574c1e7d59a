"""Frame rendering: valid JPEGs of the right size, one version per period, cheap to make."""

from __future__ import annotations

import io
import time

from PIL import Image

from cctview_camsim.catalog import synthetic_cameras
from cctview_camsim.frames import FrameClock, FrameRenderer
from cctview_camsim.placeholder import PNG_SIGNATURE, offline_placeholder

CAMERAS = synthetic_cameras(60, 3)


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_frames_are_valid_jpegs_of_15_to_25_kb():
    renderer = FrameRenderer(FrameClock(1.0))
    for camera in CAMERAS:
        frame = renderer.render(camera, 1_700_000_000 + len(camera.name))
        assert frame.data[:2] == b"\xff\xd8" and frame.data[-2:] == b"\xff\xd9"
        assert 15_000 <= len(frame.data) <= 25_000, (camera.name, len(frame.data))
        assert _decode(frame.data).size == (352, 240)


def test_versions_differ_and_repeat_exactly():
    renderer = FrameRenderer(FrameClock(2.0))
    camera = CAMERAS[0]
    digests = {renderer.render(camera, version).digest for version in range(100, 120)}
    assert len(digests) == 20
    assert (
        renderer.render(camera, 105).data == FrameRenderer(FrameClock(2.0)).render(camera, 105).data
    )
    # The picture itself changes, not only the bytes: the drawn time differs.
    first = _decode(renderer.render(camera, 100).data)
    second = _decode(renderer.render(camera, 101).data)
    assert first.crop((0, 222, 352, 240)).tobytes() != second.crop((0, 222, 352, 240)).tobytes()


def test_a_version_is_rendered_once_and_cached():
    renderer = FrameRenderer(FrameClock(1.0))
    camera = CAMERAS[1]
    now = time.time()
    first = renderer.current(camera, now)
    again = renderer.current(camera, now + 0.0001)
    assert again is first
    later = renderer.current(camera, now + 1.0)
    assert later.version == first.version + 1
    assert renderer.rendered == 2


def test_clock_phases_are_fixed_by_id_and_spread():
    clock = FrameClock(2.0)
    phases = [clock.phase(camera.id) for camera in CAMERAS]
    assert all(0 <= phase < 2.0 for phase in phases)
    assert max(phases) - min(phases) > 1.0
    assert FrameClock(2.0).phase(CAMERAS[0].id) == phases[0]
    camera_id = CAMERAS[0].id
    version = clock.version_at(camera_id, 1_000_000.0)
    start = clock.version_start(camera_id, version)
    assert start <= 1_000_000.0 < start + 2.0
    assert clock.version_at(camera_id, start + 1.999) == version
    assert clock.version_at(camera_id, start + 2.001) == version + 1


def test_offline_placeholder_is_one_fixed_png_of_about_5_5_kb():
    data = offline_placeholder()
    assert data is offline_placeholder()
    assert data.startswith(PNG_SIGNATURE)  # a PNG, as the real service's "being serviced" card
    assert 5_000 <= len(data) <= 6_000, len(data)
    image = _decode(data)
    assert image.format == "PNG" and image.size == (352, 240)


def test_rendering_is_cheap():
    renderer = FrameRenderer(FrameClock(1.0))
    for camera in CAMERAS:  # backgrounds drawn once
        renderer.render(camera, 0)
    started = time.process_time()
    for version in range(1, 6):
        for camera in CAMERAS:
            renderer.render(camera, version)
    per_frame = (time.process_time() - started) / (5 * len(CAMERAS))
    # ~0.5 ms here; 5 ms leaves room for a slow, shared CI machine yet catches a regression to
    # drawing whole scenes per frame.
    assert per_frame < 0.005, per_frame
