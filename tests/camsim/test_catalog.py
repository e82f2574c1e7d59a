"""The simulator's catalogs: the synthetic NYC-like list, and a real API response re-pointed."""

from __future__ import annotations

import collections
import json
import uuid

from cctview_agent.cameras import load_cameras
from cctview_agent.presets import borough_of, get_preset
from cctview_camsim.catalog import catalog_json, synthetic_cameras

AREA_OF_PRESET = {
    "manhattan": "Manhattan",
    "brooklyn": "Brooklyn",
    "queens": "Queens",
    "bronx": "Bronx",
    "staten-island": "Staten Island",
}


def test_synthetic_catalog_is_deterministic_from_the_seed():
    assert catalog_json(synthetic_cameras(900, 7), "http://x") == catalog_json(
        synthetic_cameras(900, 7), "http://x"
    )
    assert synthetic_cameras(900, 7) != synthetic_cameras(900, 8)


def test_synthetic_catalog_looks_like_new_york():
    cameras = synthetic_cameras()
    assert len(cameras) == 900
    assert len({camera.id for camera in cameras}) == 900
    assert all(uuid.UUID(camera.id).version == 4 for camera in cameras)
    assert len({camera.name for camera in cameras}) == 900
    assert all(" @ " in camera.name for camera in cameras)
    areas = collections.Counter(camera.area for camera in cameras)
    assert 0.33 <= areas["Manhattan"] / 900 <= 0.37
    assert set(areas) == set(AREA_OF_PRESET.values())
    # Every camera lies in the borough its label names, by the project's own borough polygons.
    for camera in cameras:
        assert AREA_OF_PRESET.get(borough_of(camera) or "") == camera.area, camera
    assert any(camera.name.startswith("W 42 St @ ") for camera in synthetic_cameras(2000, 0))


def test_lower_manhattan_preset_selects_a_couple_of_hundred():
    lower = get_preset("lower-manhattan")
    downtown = get_preset("downtown")
    assert lower is not None and downtown is not None
    for seed in (0, 1, 2):
        cameras = synthetic_cameras(900, seed)
        selected = [camera for camera in cameras if lower.region.contains_camera(camera)]
        assert 200 <= len(selected) <= 260, (seed, len(selected))
        south_of_14th = [camera for camera in cameras if downtown.region.contains_camera(camera)]
        assert 50 <= len(south_of_14th) < len(selected)


def test_cameras_flag_scales_the_catalog():
    assert len(synthetic_cameras(37, 0)) == 37
    assert len(synthetic_cameras(1, 0)) == 1


def test_served_catalog_is_the_same_for_the_same_seed(camsim):
    first = camsim(cameras=50, seed=5)
    second = camsim(cameras=50, seed=5)
    other = camsim(cameras=50, seed=6)
    _, _, body_first = first.request("/api/cameras")
    _, _, body_second = second.request("/api/cameras")
    _, _, body_other = other.request("/api/cameras")
    # Byte for byte, once each server's own address is taken out of the imageUrls.
    assert body_first.replace(first.url.encode(), b"BASE") == body_second.replace(
        second.url.encode(), b"BASE"
    )
    assert body_first.replace(first.url.encode(), b"BASE") != body_other.replace(
        other.url.encode(), b"BASE"
    )


def test_real_catalog_file_is_served_in_the_api_shape(camsim, real_catalog_path):
    source = json.loads(real_catalog_path.read_bytes())
    sim = camsim(catalog=real_catalog_path, cameras=None)
    served = sim.cameras()
    assert len(served) == len(source) == 922
    for original, record in zip(source, served, strict=True):
        for key in ("id", "name", "latitude", "longitude", "area", "isOnline"):
            assert record[key] == original[key], (key, original["id"])
        assert record["imageUrl"] == f"{sim.url}/api/cameras/{original['id']}/image"
    derry = next(record for record in served if record["area"] == "Derry City")
    status, headers, body = sim.request(f"/api/cameras/{derry['id']}/image")
    assert status == 200 and headers["Content-Type"] == "image/jpeg" and body[:2] == b"\xff\xd8"


def test_real_catalog_can_be_cut_to_its_first_cameras(camsim, real_catalog_path):
    sim = camsim(catalog=real_catalog_path, cameras=25)
    expected = [camera.id for camera in load_cameras(real_catalog_path)[:25]]
    assert sim.camera_ids == expected


def test_camera_the_catalog_calls_offline_serves_the_placeholder(camsim, tmp_path):
    records = [
        {
            "id": f"cam-{index}",
            "name": f"Test Ave @ {index} St",
            "latitude": 40.75,
            "longitude": -73.99,
            "area": "Manhattan",
            "isOnline": "false" if index == 1 else "true",
            "imageUrl": f"https://webcams.nyctmc.org/api/cameras/cam-{index}/image",
        }
        for index in range(3)
    ]
    path = tmp_path / "cameras.json"
    path.write_text(json.dumps(records))
    sim = camsim(catalog=path, cameras=None, https=True)
    assert [record["isOnline"] for record in sim.cameras()] == ["true", "false", "true"]
    _, _, online = sim.request("/api/cameras/cam-0/image")
    _, _, offline = sim.request("/api/cameras/cam-1/image")
    assert offline != online and offline[:8] == b"\x89PNG\r\n\x1a\n"
    stats = sim.stats()["cameras"]
    assert stats["cam-1"] == {"new": 0, "repeat": 0, "faults": {"offline": 1}, "shown": 0}
    assert stats["cam-0"]["new"] == 1
