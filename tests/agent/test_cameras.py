"""The camera model: the real API response, the normalized file, and broken input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cctview_agent.cameras import (
    Camera,
    dump_cameras,
    load_cameras,
    parse_camera,
    parse_cameras,
    parse_cameras_json,
)
from cctview_agent.errors import CameraIdError, CatalogError

RECORD = {
    "id": "8d2b3ae9-da68-4d37-8ae2-d3bc014f827b",
    "name": "WBB - 2 NOR @ ABOVE BEDFORD AVE & S 5 St",
    "latitude": 40.710983,
    "longitude": -73.963168,
    "area": "Brooklyn",
    "isOnline": "true",
    "imageUrl": "https://webcams.nyctmc.org/api/cameras/8d2b3ae9-da68-4d37-8ae2-d3bc014f827b/image",
}


def test_real_api_response_parses(real_catalog_path: Path) -> None:
    cameras = load_cameras(real_catalog_path)
    assert len(cameras) == 922
    assert len({camera.id for camera in cameras}) == 922
    assert all(camera.is_online is True for camera in cameras)  # "true" strings became bools
    assert all(camera.image_url for camera in cameras)
    first = cameras[0]
    assert first == Camera(
        id=RECORD["id"],
        name=RECORD["name"],
        latitude=RECORD["latitude"],
        longitude=RECORD["longitude"],
        area="Brooklyn",
        is_online=True,
        image_url=RECORD["imageUrl"],
    )
    derry = [camera for camera in cameras if camera.area == "Derry City"]
    assert len(derry) == 1 and derry[0].latitude > 54  # the oddity is kept, not dropped


def test_normalized_file_is_the_same_cameras(real_catalog_path: Path, tmp_path: Path) -> None:
    # The normalized shape, derived from the raw records by the documented rule (one to one,
    # "true"/"false" strings become booleans), reads back as the same cameras.
    raw = json.loads(real_catalog_path.read_bytes())
    online = {"true": True, "false": False}
    normalized = [
        {
            "id": str(r["id"]), "name": r["name"], "latitude": float(r["latitude"]),
            "longitude": float(r["longitude"]), "area": r["area"] or None,
            "is_online": online.get(r["isOnline"]), "image_url": r.get("imageUrl"),
        }
        for r in raw
    ]  # fmt: skip
    path = tmp_path / "normalized.json"
    path.write_text(json.dumps(normalized, indent=1, ensure_ascii=False))
    assert load_cameras(path) == load_cameras(real_catalog_path)


def test_dump_round_trips_and_has_the_assignment_keys(real_catalog_path: Path) -> None:
    cameras = load_cameras(real_catalog_path)[:20]
    text = dump_cameras(cameras)
    data = json.loads(text)
    assert list(data[0]) == [
        "id", "name", "latitude", "longitude", "area", "is_online", "image_url",
    ]  # fmt: skip
    assert data[0]["is_online"] is True
    assert parse_cameras_json(text) == cameras


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("false", False), (" TRUE ", True), (True, True), (False, False),
     ("maybe", None), (None, None), (1, None)],
)  # fmt: skip
def test_is_online_string_or_bool(value: object, expected: bool | None) -> None:
    assert parse_camera({**RECORD, "isOnline": value}).is_online is expected


def test_coordinates_given_as_strings_and_missing_optional_fields() -> None:
    camera = parse_camera({"id": 17, "latitude": "40.7", "longitude": "-74.0"})
    assert camera == Camera(id="17", name="", latitude=40.7, longitude=-74.0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"not": "a list"}, "catalog is not a JSON array of cameras (got dict)"),
        (["text"], "catalog: camera #0 is not a JSON object but str"),
        ([{**RECORD, "id": ""}], "catalog: camera #0 has no 'id'"),
        (
            [RECORD, {**RECORD, "id": "x", "latitude": None}],
            "camera #1 (x) has no valid 'latitude'",
        ),
        ([{**RECORD, "longitude": "west"}], "has no valid 'longitude': 'west'"),
        ([{**RECORD, "latitude": float("nan")}], "has latitude nan"),
        ([RECORD, dict(RECORD)], f"catalog: camera id {RECORD['id']} appears twice"),
    ],
)
def test_malformed_records(data: object, message: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_cameras(data)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_malformed_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cameras.json"
    path.write_text('[{"id": "a",')
    with pytest.raises(CatalogError, match=rf"^{path} is not valid JSON: "):
        load_cameras(path)
    with pytest.raises(CatalogError, match=r"cannot read camera list .*missing\.json"):
        load_cameras(tmp_path / "missing.json")


@pytest.mark.parametrize(
    "bad",
    ["../../x", "/abs", "cam/1", "..", ".hidden", "a b", "cam\n1", "x" * 129, "caméra", "-x"],
)
def test_unsafe_camera_ids_are_refused_by_the_model(bad: str) -> None:
    with pytest.raises(CameraIdError) as caught:
        parse_camera({**RECORD, "id": bad}, 3)
    assert caught.value.camera_id == bad
    assert f"camera #3: camera id {bad!r} is not allowed (ids are 1-128 letters" in str(
        caught.value
    )
    with pytest.raises(CameraIdError):
        Camera(id=bad, name="", latitude=40.7, longitude=-74.0)  # not even built directly


@pytest.mark.parametrize("good", [RECORD["id"], "cam-1", "NYC_0042.north", "7", "x" * 128])
def test_safe_camera_ids_of_any_shape_are_kept(good: str) -> None:
    assert parse_camera({**RECORD, "id": good}).id == good


def test_a_bad_id_is_skipped_with_a_warning_only_when_asked() -> None:
    records = [RECORD, {**RECORD, "id": "../../etc"}, {**RECORD, "id": "cam-2"}]
    with pytest.raises(CameraIdError, match=r"^list: camera #1: camera id '\.\./\.\./etc'"):
        parse_cameras(records, source="list")
    warnings: list[str] = []
    cameras = parse_cameras(records, source="list", skip_bad_id=warnings.append)
    assert [camera.id for camera in cameras] == [RECORD["id"], "cam-2"]
    assert warnings == [
        "list: skipped camera #1: camera id '../../etc' is not allowed "
        "(ids are 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit)"
    ]
