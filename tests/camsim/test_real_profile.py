"""The real-service profile: cadence, sizes, latency, 429/403, catalog changes, headers."""

from __future__ import annotations

import io
import itertools
import json
import statistics
import time

from PIL import Image

from cctview_agent.cameras import Camera
from cctview_camsim.catalog import synthetic_cameras
from cctview_camsim.clocks import PictureClock
from cctview_camsim.frames import FrameRenderer
from cctview_camsim.profiles import ProfileName, service_profile

REAL = service_profile(ProfileName.REAL)
CAMERAS = synthetic_cameras(600, 4)


def test_most_cameras_change_every_1_to_4_s_some_every_15_s():
    periods = [REAL.camera(camera, 0).period for camera in CAMERAS]
    slow = [p for p in periods if p > 10]
    fast = [p for p in periods if p <= 10]
    assert 0.07 <= len(slow) / len(periods) <= 0.18, len(slow)
    assert all(13 <= p <= 17 for p in slow)
    assert all(1.0 <= p <= 4.0 for p in fast)
    assert REAL.camera(CAMERAS[0], 0) == REAL.camera(CAMERAS[0], 0)  # fixed by id and seed


def test_intervals_vary_picture_to_picture_with_irregular_repeats():
    camera = CAMERAS[0]
    profile = REAL.camera(camera, 0)
    clock = PictureClock(lambda _id: profile, seed=0, epoch=1_000_000.0)
    clock.version_at(camera.id, 1_000_000.0 + 200 * profile.period)
    starts = [clock.version_start(camera.id, v) for v in range(1, 200)]
    intervals = [b - a for a, b in itertools.pairwise(starts)]
    assert len({round(i, 3) for i in intervals}) > 150  # every interval drawn anew
    held = [i for i in intervals if i > 1.5 * profile.period]
    assert 1 <= len(held) <= 30  # a held picture now and then (~5 %)
    normal = [i for i in intervals if i <= 1.5 * profile.period]
    assert abs(statistics.median(normal) - profile.period) < 0.1 * profile.period


def test_state_highway_cameras_are_720x480_and_city_ones_352x240():
    highway = Camera(
        id="hwy-1", name="C1-MDE-14-NB_at_Mosholu_Pkwy-Ex12", latitude=40.88, longitude=-73.88
    )
    cameras = [highway, *CAMERAS[:40]]
    profiles = {camera.id: REAL.camera(camera, 0) for camera in cameras}
    clock = PictureClock(profiles.__getitem__, seed=0, epoch=time.time())
    renderer = FrameRenderer(clock, profile_of=profiles.__getitem__)
    hd = renderer.current(highway)
    assert Image.open(io.BytesIO(hd.data)).size == (720, 480)
    assert 17_000 <= len(hd.data) <= 40_000, len(hd.data)
    sizes = [len(renderer.current(camera).data) for camera in CAMERAS[:40]]
    assert all(12_500 <= size <= 24_500 for size in sizes), sizes
    assert max(sizes) - min(sizes) > 5_000  # spread over the range, not one size


def test_real_profile_serves_with_latency_no_store_and_a_trailing_slash(camsim):
    sim = camsim(cameras=4, profile="real")
    status, headers, body = sim.request("/api/cameras/")
    assert status == 200 and len(json.loads(body)) == 4
    camera_id = sim.camera_ids[0]
    took = []
    for _ in range(4):
        started = time.monotonic()
        status, headers, body = sim.request(f"/api/cameras/{camera_id}/image?t=1")
        took.append(time.monotonic() - started)
        assert status == 200 and headers["Cache-Control"] == "no-store"
        assert "ETag" not in headers and "Last-Modified" not in headers
    assert min(took) >= 0.14, took  # 150-470 ms, as from a cloud machine
    assert sim.stats()["profile"] == "real"


def test_429_carries_retry_after_and_counts_requests_that_ignore_it(camsim):
    sim = camsim(cameras=2, extra_args=["--rate-limit", "3"])
    limited = sim.camera_ids[0]
    sim.set_faults(f"429={limited}")
    assert sim.request(f"/api/cameras/{limited}/image")[0] == 200  # one frame per window
    status, headers, _ = sim.request(f"/api/cameras/{limited}/image")
    assert status == 429 and 1 <= int(headers["Retry-After"]) <= 3
    assert sim.stats()["cameras"][limited].get("retry_after_ignored", 0) == 0
    status, _, _ = sim.request(f"/api/cameras/{limited}/image")  # too soon: impolite
    assert status == 429
    assert sim.stats()["cameras"][limited]["retry_after_ignored"] == 1
    time.sleep(int(headers["Retry-After"]) + 0.2)
    assert sim.request(f"/api/cameras/{limited}/image")[0] == 200


def test_403_as_a_blocked_client_sees_it(camsim):
    sim = camsim(cameras=2)
    blocked = sim.camera_ids[1]
    sim.set_faults(f"403={blocked}")
    status, headers, _ = sim.request(f"/api/cameras/{blocked}/image")
    assert status == 403 and headers["Content-Type"].startswith("text/html")
    assert sim.stats()["cameras"][blocked]["faults"] == {"403": 1}


def test_catalog_grows_and_shrinks_while_running(camsim):
    sim = camsim(cameras=5)
    gone = sim.camera_ids[0]
    assert sim.change_catalog(add=3, remove=[gone]) == 7
    ids = [camera["id"] for camera in sim.cameras()]
    assert gone not in ids and len(ids) == 7
    assert sim.request(f"/api/cameras/{gone}/image")[0] == 404
    added = [camera_id for camera_id in ids if camera_id not in sim.camera_ids]
    assert len(added) == 3
    assert sim.request(f"/api/cameras/{added[0]}/image")[0] == 200
    assert sim.stats()["cameras"][added[0]]["new"] == 1
    status, _, body = sim.request("/_sim/catalog", data=b'{"remove": ["nope"]}')
    assert status == 400 and "no camera with id 'nope'" in json.loads(body)["error"]


def test_refresh_without_the_easy_profile_is_refused(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "cctview_camsim.main", "--refresh", "1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--refresh sets the easy profile's fixed grid; add --profile easy" in result.stderr
    assert "Traceback" not in result.stderr
