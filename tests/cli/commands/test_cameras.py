"""`cctview-fleet cameras`: exact messages and exit codes, the JSON format, every selection kind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cctview_agent.cameras import Camera, load_cameras
from cctview_agent.presets import PRESETS
from cctview_fleet.app import app
from tests.cli.catalog_server import catalog_server, closed_port_url

PRESET_LIST = "lower-manhattan, downtown, manhattan, brooklyn, queens, bronx, staten-island, all"
JSON_KEYS = ["id", "name", "latitude", "longitude", "area", "is_online", "image_url"]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("CCTVIEW_CATALOG", raising=False)


@pytest.fixture(scope="module")
def real_cameras(real_catalog_path: Path) -> list[Camera]:
    return load_cameras(real_catalog_path)


def run(*args: str) -> Any:
    result = CliRunner().invoke(app, ["cameras", *args])
    assert "Traceback" not in result.output, result.output
    return result


def run_json(*args: str) -> list[dict[str, Any]]:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return json.loads(result.stdout)


def test_lower_manhattan_json_on_the_real_list(real_catalog_path: Path) -> None:
    data = run_json("--cameras", "lower-manhattan", "--catalog", str(real_catalog_path))
    assert 230 <= len(data) <= 240
    assert all(list(item) == JSON_KEYS for item in data)
    assert [item["id"] for item in data] == sorted(item["id"] for item in data)  # id order
    # Exactly the normalized dump: the agent reads this as its assignment file.
    cameras = load_cameras(real_catalog_path)
    expected = PRESETS["lower-manhattan"].select(cameras)
    assert data == [c.to_dict() for c in sorted(expected, key=lambda c: c.id)]


def test_table_shows_count_and_source(real_catalog_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["cameras", "--cameras", "downtown", "--catalog", str(real_catalog_path)],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "117 cameras: --cameras downtown" in result.stdout
    assert "Water St @ John St" in result.stdout
    assert f"of 922 in {real_catalog_path} (file dated" in result.stdout


def test_unknown_preset_is_exit_2_with_the_list() -> None:
    result = run("--cameras", "lower-manhatan")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: unknown camera set 'lower-manhatan' (did you mean lower-manhattan?): "
        f"use a preset ({PRESET_LIST}), a GeoJSON polygon file, or a file of camera ids\n"
    )


def test_unknown_preset_fails_before_any_download() -> None:
    # The catalog URL is unreachable, yet the message is about the preset, not the network.
    result = run("--cameras", "midtown", "--catalog", closed_port_url())
    assert result.exit_code == 2
    assert result.stderr.startswith("error: unknown camera set 'midtown': use a preset (")
    result = run("--cameras", "Staten Island")
    assert result.stderr.startswith(
        "error: unknown camera set 'Staten Island' (did you mean staten-island?): use a preset"
    )


def test_no_selection() -> None:
    result = run()
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: choose cameras with --cameras SET (a preset: {PRESET_LIST}; a GeoJSON file; "
        "a file of ids) or --bbox MINLON,MINLAT,MAXLON,MAXLAT\n"
    )


def test_missing_file_that_looks_like_a_path(tmp_path: Path) -> None:
    result = run("--cameras", str(tmp_path / "area.geojson"))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: --cameras {tmp_path / 'area.geojson'}: no such file; pass a preset "
        f"({PRESET_LIST}), a GeoJSON file or a file of camera ids\n"
    )


def test_empty_selection(real_catalog_path: Path) -> None:
    result = run(
        "--cameras", "staten-island", "--bbox", "-74.02,40.70,-73.97,40.75",
        "--catalog", str(real_catalog_path),
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr == (
        "error: no camera matched --cameras staten-island --bbox -74.02,40.7,-73.97,40.75 "
        f"among the 922 cameras from {real_catalog_path}; try a larger area or another preset, "
        "or check that --bbox is MINLON,MINLAT,MAXLON,MAXLAT (longitude first)\n"
    )


@pytest.mark.parametrize(
    ("bbox", "message"),
    [
        ("1,2,3", "--bbox '1,2,3' has 3 numbers, not 4"),
        ("a,b,c,d", "--bbox 'a,b,c,d' is not four numbers"),
        ("-73.9,40.7,-74.0,40.8", "a minimum is above its maximum"),
        ("-74,95,-73,96", "latitudes must be within -90..90"),
        ("200,40,201,41", "longitudes must be within -180..180"),
    ],
)
def test_bad_bbox(bbox: str, message: str) -> None:
    result = run("--bbox", bbox)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {message}") or f"error: --bbox {bbox!r}: " in (
        result.stderr
    )
    assert message in result.stderr
    assert result.stderr.endswith("e.g. -74.02,40.70,-73.97,40.75\n")


def test_bbox_alone_and_with_a_preset(real_catalog_path: Path, real_cameras: list[Camera]) -> None:
    box = (-74.02, 40.70, -73.99, 40.72)
    inside = {
        c.id
        for c in real_cameras
        if box[0] <= c.longitude <= box[2] and box[1] <= c.latitude <= box[3]
    }
    catalog = ("--catalog", str(real_catalog_path))
    alone = run_json("--bbox", ",".join(map(str, box)), *catalog)
    assert {item["id"] for item in alone} == inside and len(inside) > 20
    both = run_json("--bbox", ",".join(map(str, box)), "--cameras", "brooklyn", *catalog)
    brooklyn = {c.id for c in PRESETS["brooklyn"].select(real_cameras)}
    assert {item["id"] for item in both} == inside & brooklyn and both


def write_catalog(path: Path, cameras: list[Camera], offline: set[str]) -> Path:
    records = [
        {**c.to_api_dict(), "isOnline": "false" if c.id in offline else "true"} for c in cameras
    ]
    path.write_text(json.dumps(records))
    return path


def test_online_only(tmp_path: Path, real_cameras: list[Camera]) -> None:
    downtown = PRESETS["downtown"].select(real_cameras)
    offline = {c.id for c in downtown[:10]}
    catalog = write_catalog(tmp_path / "cams.json", real_cameras, offline)
    every = run_json("--cameras", "downtown", "--catalog", str(catalog))
    online = run_json("--cameras", "downtown", "--catalog", str(catalog), "--online-only")
    assert len(every) == 117 and len(online) == 107
    assert not {item["id"] for item in online} & offline
    assert all(item["is_online"] is True for item in online)
    # Offline everywhere: the empty selection suggests dropping the filter.
    catalog = write_catalog(tmp_path / "dark.json", downtown, {c.id for c in downtown})
    result = run("--cameras", "downtown", "--catalog", str(catalog), "--online-only")
    assert result.exit_code == 2
    assert result.stderr.endswith("try a larger area or another preset, or drop --online-only\n")


# --- GeoJSON ------------------------------------------------------------------------------------


def square(lon0: float, lat0: float, lon1: float, lat1: float) -> list[list[float]]:
    return [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]


def test_geojson_kinds_select_the_same_cameras(
    tmp_path: Path, real_catalog_path: Path, real_cameras: list[Camera]
) -> None:
    ring = [list(p) for p in PRESETS["downtown"].region.polygons[0].exterior]
    ring.append(ring[0])
    polygon = {"type": "Polygon", "coordinates": [ring]}
    documents = {
        "polygon": polygon,
        "multi": {"type": "MultiPolygon", "coordinates": [[ring], [square(10, 10, 11, 11)]]},
        "feature": {"type": "Feature", "properties": {}, "geometry": polygon},
        "collection": {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": None, "geometry": polygon}],
        },
    }
    expected = sorted(c.id for c in PRESETS["downtown"].select(real_cameras))
    for name, document in documents.items():
        path = tmp_path / f"{name}.geojson"
        path.write_text(json.dumps(document))
        data = run_json("--cameras", str(path), "--catalog", str(real_catalog_path))
        assert [item["id"] for item in data] == expected, name


def test_geojson_hole(tmp_path: Path, real_catalog_path: Path, real_cameras: list[Camera]) -> None:
    outer, hole = square(-74.02, 40.70, -73.97, 40.75), square(-74.01, 40.71, -73.98, 40.74)
    path = tmp_path / "ring.geojson"
    path.write_text(json.dumps({"type": "Polygon", "coordinates": [outer, hole]}))
    data = run_json("--cameras", str(path), "--catalog", str(real_catalog_path))

    def within(c: Camera, box: list[list[float]]) -> bool:
        return box[0][0] < c.longitude < box[2][0] and box[0][1] < c.latitude < box[2][1]

    expected = {c.id for c in real_cameras if within(c, outer) and not within(c, hole)}
    assert {item["id"] for item in data} == expected and expected


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "is not valid JSON (line 1, column 2: Expecting property name"),
        ({"type": "Point", "coordinates": [-74, 40.7]}, "has GeoJSON type 'Point'; expected"),
        ({"type": "Feature", "geometry": {"type": "LineString", "coordinates": []}},
         ": the feature's geometry is a LineString, not a Polygon or MultiPolygon"),
        ({"type": "Topology"}, "has GeoJSON type 'Topology'; expected Polygon, MultiPolygon"),
        ({"type": "FeatureCollection", "features": []}, "the FeatureCollection has no features"),
        ({"type": "Feature", "geometry": None}, "the feature's geometry has no geometry object"),
        ({"type": "Polygon", "coordinates": [[[-74, 40.7], [-73.9, 40.7]]]},
         "Polygon, ring 0 is not a ring of at least 4 positions"),
        ({"type": "Polygon", "coordinates": [[*square(40.7, -74.0, 40.8, -73.9)[:4], ["a", 1]]]},
         "Polygon, ring 0, position 4 is not [longitude, latitude]"),
        ({"type": "Polygon", "coordinates": [[[40.7, -74.0], [40.8, -74.0], [40.8, -93.9],
                                               [40.7, -74]]]},
         "Polygon, ring 0, position 2 [40.8, -93.9] is not [longitude, latitude]"),
    ],
)  # fmt: skip
def test_malformed_geojson(tmp_path: Path, document: Any, message: str) -> None:
    path = tmp_path / "area.geojson"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    result = run("--cameras", str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}")
    assert message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1


def test_geojson_in_latitude_longitude_order_hints(tmp_path: Path, real_catalog_path: Path) -> None:
    path = tmp_path / "swapped.geojson"
    path.write_text(
        json.dumps({"type": "Polygon", "coordinates": [square(40.7, -74.02, 40.75, -73.97)]})
    )
    result = run("--cameras", str(path), "--catalog", str(real_catalog_path))
    assert result.exit_code == 2
    assert result.stderr.endswith("check that GeoJSON positions are [longitude, latitude]\n")


# --- id files -----------------------------------------------------------------------------------


def test_id_file(tmp_path: Path, real_catalog_path: Path, real_cameras: list[Camera]) -> None:
    chosen = [real_cameras[5], real_cameras[1], real_cameras[700]]
    path = tmp_path / "ids.txt"
    path.write_text(
        "# three cameras\n"
        f"{chosen[0].id}\n\n  {chosen[1].id}   # Williamsburg\n{chosen[2].id}\n{chosen[0].id}\n"
    )
    data = run_json("--cameras", str(path), "--catalog", str(real_catalog_path))
    assert [item["id"] for item in data] == sorted(c.id for c in chosen)


def test_id_file_with_unknown_ids(tmp_path: Path, real_catalog_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_text("8d2b3ae9-da68-4d37-8ae2-d3bc014f827b\nno-such-camera\nalso-missing\n")
    result = run("--cameras", str(path), "--catalog", str(real_catalog_path))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {path}: 2 camera id(s) not in the camera list: no-such-camera, also-missing; "
        "check the ids or refresh the list with --catalog\n"
    )


def test_empty_id_file(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_text("# nothing yet\n\n")
    result = run("--cameras", str(path))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {path} lists no camera ids (one a line, '#' starts a comment)\n"
    )


def test_json_output_feeds_back_as_a_selection(tmp_path: Path, real_catalog_path: Path) -> None:
    catalog = ("--catalog", str(real_catalog_path))
    first = run_json("--cameras", "downtown", *catalog)
    saved = tmp_path / "downtown.json"
    saved.write_text(json.dumps(first[:12]))
    again = run_json("--cameras", str(saved), *catalog)
    assert again == first[:12]


# --- the catalog over HTTP ------------------------------------------------------------------


def test_unreachable_catalog_without_cache() -> None:
    url = closed_port_url()
    result = run("--cameras", "downtown", "--catalog", url)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: cannot fetch the camera list from {url} (Connection refused); "
        "check the network or pass --catalog FILE\n"
    )


def test_unreachable_catalog_with_cache(
    real_catalog_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with catalog_server(real_catalog_path.read_bytes()) as server:
        monkeypatch.setenv("CCTVIEW_CATALOG", server.url)  # the default source, no --catalog
        live = run_json("--cameras", "lower-manhattan")
    result = run("--cameras", "lower-manhattan", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == live
    assert result.stderr.startswith(
        f"warning: cannot fetch the camera list from {server.url} (Connection refused); "
        "using the cached copy from "
    )
    table = run("--cameras", "lower-manhattan")
    assert table.exit_code == 0 and "(cached copy fetched" in table.stdout


def test_never_reached_api_uses_the_packaged_list(monkeypatch: pytest.MonkeyPatch) -> None:
    # A first run without a network: the API (here a closed loopback port) was never cached.
    api = closed_port_url()
    monkeypatch.setattr("cctview_fleet.cameras.catalog.DEFAULT_CATALOG_URL", api)
    table = run("--cameras", "lower-manhattan")
    assert table.exit_code == 0, table.output
    assert table.stderr == (
        f"warning: cannot fetch the camera list from {api} (Connection refused) and it was "
        "never cached; using the list packaged with cctview-fleet, dated 2025-04-04 (922 "
        "cameras; cameras added since are missing)\n"
    )
    caption = "of 922 in the list packaged with cctview-fleet, dated 2025-04-04"
    assert caption in " ".join(table.stdout.split())
    assert len(json.loads(run("--cameras", "lower-manhattan", "--json").stdout)) == 237


def test_real_list_from_the_camera_simulator_over_https(
    camsim: Any, real_catalog_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = camsim(cameras=None, catalog=real_catalog_path, https=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(sim.cert_path))  # trust its self-signed certificate
    data = run_json("--cameras", "lower-manhattan", "--catalog", sim.catalog_url)
    assert 230 <= len(data) <= 240
    # The simulator serves the API's shape ("isOnline": "true") with its own image URLs.
    from_file = run_json("--cameras", "lower-manhattan", "--catalog", str(real_catalog_path))
    assert [item["id"] for item in data] == [item["id"] for item in from_file]
    assert all(item["image_url"].startswith(sim.url) for item in data)
    online = run_json("--cameras", "downtown", "--online-only", "--catalog", sim.catalog_url)
    assert len(online) == 117


# --- the installed command ----------------------------------------------------------------------


def installed_command() -> str:
    beside = Path(sys.executable).with_name("cctview-fleet")
    found = str(beside) if beside.exists() else shutil.which("cctview-fleet")
    assert found, "cctview-fleet is not installed (run `make setup`)"
    return found


def test_installed_cameras_command_end_to_end(real_catalog_path: Path, tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("CCTVIEW_CATALOG", None)
    argv = [installed_command(), "cameras", "--cameras", "lower-manhattan"]
    done = subprocess.run(
        [*argv, "--catalog", str(real_catalog_path), "--json"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert 230 <= len(json.loads(done.stdout)) <= 240
    bad = subprocess.run(
        [installed_command(), "cameras", "--cameras", "nowhere"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("error: unknown camera set 'nowhere'")
    assert "Traceback" not in bad.stderr


def test_help_lists_every_preset_with_its_boundary() -> None:
    result = CliRunner().invoke(app, ["cameras", "--help"], env={"COLUMNS": "2000"})
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())  # undo rich's wrapping and box padding
    for name, preset in PRESETS.items():
        assert f"{name}: {' '.join(preset.boundary.split()[:6])}" in text, name
    assert "--catalog PATH|URL" in text and "--bbox MINLON,MINLAT,MAXLON,MAXLAT" in text


def test_camera_names_are_shown_literally_not_as_markup(tmp_path: Path) -> None:
    """A name is the catalog's text: "[/]" in it crashed the table, "[red]" restyled it."""
    names = ["Broadway [/] 42 St", "[bold red]FDR[/bold red] @ 96 St", "Canal St [link=x]"]
    listing = [
        {"id": f"cam-{i}", "name": name, "latitude": 40.7, "longitude": -74.0, "area": "[/]"}
        for i, name in enumerate(names)
    ]
    catalog = tmp_path / "cameras.json"
    catalog.write_text(json.dumps(listing))
    ids = tmp_path / "ids.txt"
    ids.write_text("cam-0\ncam-1\ncam-2\n")
    result = CliRunner().invoke(
        app, ["cameras", "--cameras", str(ids), "--catalog", str(catalog)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    for name in names:
        assert name in result.stdout
