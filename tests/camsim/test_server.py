"""The simulator's endpoints, against the real process over HTTP and HTTPS."""

from __future__ import annotations

import io
import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from PIL import Image

from cctview_agent.cameras import parse_cameras_json
from cctview_agent.manifests import frame_digest
from cctview_camsim.frames import FrameClock
from tests.fixtures.camsim import CamsimHandle, running_camsim

REFRESH = 0.4


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CamsimHandle]:
    """One plain-HTTP simulator for the tests below; each uses cameras the others do not."""
    with running_camsim(tmp_path_factory.mktemp("camsim-web"), cameras=12, refresh=REFRESH) as sim:
        yield sim


def _fetch(url: str, context: ssl.SSLContext | None = None) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10, context=context) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_catalog_is_in_the_api_shape_and_points_at_the_simulator(web):
    sim = web
    status, headers, body = _fetch(sim.catalog_url)
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    records = json.loads(body)
    assert len(records) == 12
    for record in records:
        assert set(record) == {
            "id",
            "name",
            "latitude",
            "longitude",
            "area",
            "isOnline",
            "imageUrl",
        }
        assert record["isOnline"] == "true"  # a string, as webcams.nyctmc.org sends it
        assert record["imageUrl"] == f"{sim.url}/api/cameras/{record['id']}/image"
    cameras = parse_cameras_json(body)  # the project's own parser reads it
    assert [camera.id for camera in cameras] == sim.camera_ids


def test_image_is_a_decodable_jpeg_of_the_expected_size(web):
    sim = web
    for camera_id in sim.camera_ids[:5]:
        status, headers, body = _fetch(sim.image_url(camera_id) + "?t=1712345678901")
        assert status == 200
        assert headers["Content-Type"] == "image/jpeg"
        assert headers["Cache-Control"] == "no-store"  # and nothing to revalidate with
        assert "ETag" not in headers and "Last-Modified" not in headers
        assert body[:2] == b"\xff\xd8" and body[-2:] == b"\xff\xd9"
        assert 15_000 <= len(body) <= 25_000, len(body)
        image = Image.open(io.BytesIO(body))
        image.load()
        assert image.format == "JPEG"
        assert image.size == (352, 240)


def test_unknown_camera_is_404(web):
    sim = web
    status, _, _ = _fetch(f"{sim.url}/api/cameras/00000000-0000-4000-8000-000000000000/image")
    assert status == 404
    status, _, _ = _fetch(f"{sim.url}/_sim/served/nope")
    assert status == 404


def _sample(sim: CamsimHandle, camera_id: str) -> tuple[float, float, int, str]:
    """(wall time before, wall time after, X-Camsim-Version, digest) of one fetch."""
    before = time.time()
    _, headers, body = _fetch(f"{sim.image_url(camera_id)}?t={time.time_ns()}")
    return before, time.time(), int(headers["X-Camsim-Version"]), frame_digest(body)


def _expected_version(camera_id: str, when: float) -> int:
    clock = FrameClock(REFRESH)  # the phase is a pure function of the id
    return clock.version_at(camera_id, when)


def test_frames_change_once_per_refresh_period_and_are_counted(web):
    sim = web
    camera_id = sim.camera_ids[-1]
    new_before = sim.stats()["totals"]["new"]
    samples = []
    end = time.monotonic() + 6 * REFRESH
    while time.monotonic() < end:
        samples.append(_sample(sim, camera_id))
        time.sleep(0.02)
    # The version served is the one of the wall clock, at this camera's phase: it changes
    # exactly at the refresh rate (bounds from the times around each request, so load on the
    # machine cannot make this flaky).
    for before, after, version, _ in samples:
        assert _expected_version(camera_id, before) <= version
        assert version <= _expected_version(camera_id, after)
    # Same version, same bytes; another version, other bytes.
    digest_of = {}
    for _, _, version, digest in samples:
        assert digest_of.setdefault(version, digest) == digest
    assert len(set(digest_of.values())) == len(digest_of)
    assert 5 <= len(digest_of) <= 8, len(digest_of)  # six periods watched
    distinct = list(digest_of.values())
    stats = sim.stats()
    counts = stats["cameras"][camera_id]
    assert counts["new"] == len(distinct)
    assert counts["repeat"] == len(samples) - len(distinct)
    assert stats["totals"]["new"] - new_before == len(distinct)
    assert stats["refresh"] == REFRESH
    served = sim.served(camera_id)
    assert [entry["digest"] for entry in served] == distinct
    assert [entry["version"] for entry in served] == list(digest_of)


def test_cameras_roll_over_at_their_own_phase(web):
    sim = web
    cameras = sim.camera_ids[5:11]
    phases = [FrameClock(REFRESH).phase(camera_id) for camera_id in cameras]
    assert max(phases) - min(phases) > REFRESH / 4  # these cameras' phases really differ
    for _ in range(10):
        for camera_id in cameras:
            before, after, version, _ = _sample(sim, camera_id)
            assert _expected_version(camera_id, before) <= version
            assert version <= _expected_version(camera_id, after)
        time.sleep(REFRESH / 7)


def test_https_with_the_printed_certificate(camsim):
    sim = camsim(cameras=3, https=True)
    assert sim.url.startswith("https://127.0.0.1:")
    assert sim.cert_path is not None and sim.cert_path.exists()
    context = ssl.create_default_context(cafile=str(sim.cert_path))
    status, _, body = _fetch(sim.image_url(sim.camera_ids[0]), context)
    assert status == 200 and body[:2] == b"\xff\xd8"
    # "localhost" is in the certificate too.
    status, _, _ = _fetch(sim.catalog_url.replace("127.0.0.1", "localhost"), context)
    assert status == 200
    # Without the certificate, verification fails: it is really checked.
    with pytest.raises(urllib.error.URLError) as info:
        _fetch(sim.catalog_url, ssl.create_default_context())
    assert isinstance(info.value.reason, ssl.SSLCertVerificationError)
