"""Presets: the polygon geometry, and the counts and borough labels on the real April 2025 list."""

from __future__ import annotations

from pathlib import Path

import pytest

from cctview_agent.cameras import Camera, load_cameras
from cctview_agent.geometry import Polygon, Region, clip_ring, point_in_ring
from cctview_agent.presets import BOROUGH_PRESETS, PRESETS, borough_of, get_preset

# The counts the polygons give on nyc-dot-cameras.source.json (docs/presets.md). A change to a
# polygon that moves any of them must be deliberate: update the docs with it.
EXPECTED_COUNTS = {
    "lower-manhattan": 237,
    "downtown": 117,
    "manhattan": 336,
    "brooklyn": 205,
    "queens": 208,
    "bronx": 73,
    "staten-island": 99,
    "all": 921,
}

API_AREA_TO_PRESET = {
    "Manhattan": "manhattan",
    "Brooklyn": "brooklyn",
    "Queens": "queens",
    "Bronx": "bronx",
    "Staten Island": "staten-island",
}

# Every camera whose API `area` label disagrees with the polygon it lies in, by name, with the
# polygon's borough and why the polygon is right. The first five are the oddities that
# cli/cctview_fleet/data/README.md documents; the others are bridge cameras at or past the middle
# of the river, and four plain labelling mistakes whose street names leave no doubt.
KNOWN_DISAGREEMENTS = {
    # documented in cli/cctview_fleet/data/README.md
    "WBB-20 @ MidSpan Berry St": "brooklyn",  # Berry St is in Williamsburg
    "BB-15 North Rdwy @ Manhattan Anchorage": "manhattan",
    "BB-16 South Rdwy @ Manhattan Anchorage": "manhattan",
    "Rt. 9A @ Morris South - 104.104:80": "manhattan",  # West St at the Battery
    "2nd Camera North Bound BPU -148.52": "manhattan",  # Battery Park Underpass
    # bridge cameras past the middle of the river, labelled with the far end's borough
    "BB-25 North Rdwy @ West of Manhattan Twr": "manhattan",  # west of the Manhattan tower
    "BB-26 South Rdwy @ West of Manhattan Twr": "manhattan",
    "MHB - 31 - North Upper Rdwy - Bklyn Midspan": "brooklyn",  # Brooklyn half of the span
    "QBB UL Entrance @ Thomson Ave": "queens",  # Thomson Ave is in Long Island City
    "C1-CBE-01_N_NB_at_Amsterdam_Ave-Ex-HRD": "manhattan",  # Washington Br. approach at Amsterdam
    # labelling mistakes: the street is plainly in the other borough
    "Atlantic Ave @ 111 St": "queens",  # 111 St is Richmond Hill's grid
    "Richmond Ave @ Arthur Kill Rd - quad - ptz - 141.131": "staten-island",
    "Hutchhinson River Pkwy @ Waterbury Ave": "bronx",
    "Hutchhinson River Pkwy @ Bruckner Expy": "bronx",
}


@pytest.fixture(scope="module")
def real_cameras(real_catalog_path: Path) -> list[Camera]:
    return load_cameras(real_catalog_path)


def by_name(cameras: list[Camera], name: str) -> Camera:
    matches = [camera for camera in cameras if camera.name.strip() == name.strip()]
    assert len(matches) == 1, f"{name!r} matches {len(matches)} cameras"
    return matches[0]


# --- geometry ---------------------------------------------------------------------------------

SQUARE = ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0))
# A "U": the notch between x=3..7 above y=3 is outside.
U_SHAPE = ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (7.0, 10.0), (7.0, 3.0), (3.0, 3.0),
           (3.0, 10.0), (0.0, 10.0))  # fmt: skip


@pytest.mark.parametrize(
    ("point", "inside"),
    [((5, 5), True), ((0.5, 9.5), True), ((-1, 5), False), ((11, 5), False), ((5, 10.5), False)],
)
def test_point_in_square(point: tuple[float, float], inside: bool) -> None:
    assert point_in_ring(point[0], point[1], SQUARE) is inside


def test_point_in_concave_ring() -> None:
    assert point_in_ring(1.5, 8, U_SHAPE)
    assert point_in_ring(8.5, 8, U_SHAPE)
    assert not point_in_ring(5, 8, U_SHAPE)  # in the notch
    assert point_in_ring(5, 1, U_SHAPE)


def test_closed_ring_same_as_open() -> None:
    closed = (*SQUARE, SQUARE[0])
    for point in ((5, 5), (-1, 5), (9.9, 0.1)):
        assert point_in_ring(*point, closed) == point_in_ring(*point, SQUARE)


def test_polygon_hole_and_region() -> None:
    hole = ((4.0, 4.0), (6.0, 4.0), (6.0, 6.0), (4.0, 6.0))
    donut = Polygon(SQUARE, (hole,))
    assert donut.contains(2, 2)
    assert not donut.contains(5, 5)
    far = Polygon(((20.0, 20.0), (30.0, 20.0), (30.0, 30.0)))
    region = Region((donut, far))
    assert region.contains(2, 2) and region.contains(28, 22) and not region.contains(5, 5)


def test_clip_keeps_the_right_of_the_line() -> None:
    # Line going east along y=5: the right-hand side is y < 5.
    lower = clip_ring(SQUARE, (-100.0, 5.0), (100.0, 5.0))
    assert point_in_ring(5, 2, lower)
    assert not point_in_ring(5, 8, lower)
    # A concave ring cut through its notch keeps both arms.
    arms = clip_ring(U_SHAPE, (100.0, 6.0), (-100.0, 6.0))  # going west: keep y > 6
    assert point_in_ring(1.5, 8, arms) and point_in_ring(8.5, 8, arms)
    assert not point_in_ring(5, 8, arms) and not point_in_ring(5, 1, arms)


# --- presets on the real list -------------------------------------------------------------------


def test_every_preset_has_a_boundary_description() -> None:
    assert list(PRESETS) == [
        "lower-manhattan", "downtown", "manhattan", "brooklyn", "queens", "bronx",
        "staten-island", "all",
    ]  # fmt: skip
    for name, preset in PRESETS.items():
        assert preset.name == name
        assert len(preset.boundary) > 30, name
    assert get_preset(" Lower-Manhattan ") is PRESETS["lower-manhattan"]
    assert get_preset("harlem") is None


def test_lower_manhattan_is_230_to_240_cameras(real_cameras: list[Camera]) -> None:
    count = len(PRESETS["lower-manhattan"].select(real_cameras))
    assert 230 <= count <= 240, count


@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED_COUNTS.items()))
def test_preset_counts(real_cameras: list[Camera], name: str, expected: int) -> None:
    assert len(PRESETS[name].select(real_cameras)) == expected


def test_boroughs_never_overlap_and_cover_the_city(real_cameras: list[Camera]) -> None:
    for camera in real_cameras:
        holders = [b for b in BOROUGH_PRESETS if PRESETS[b].region.contains_camera(camera)]
        assert len(holders) <= 1, (camera.name, holders)
        if camera.area in API_AREA_TO_PRESET:
            assert holders, f"{camera.name} ({camera.area}) is in no borough polygon"
    # The shared edges tile: no point of a fine grid over the city is in two boroughs.
    for i in range(120):
        for j in range(120):
            lon, lat = -74.26 + i * 0.0045, 40.49 + j * 0.0036
            inside = [b for b in BOROUGH_PRESETS if PRESETS[b].region.contains(lon, lat)]
            assert len(inside) <= 1, (lon, lat, inside)


def test_all_is_the_five_boroughs_without_derry(real_cameras: list[Camera]) -> None:
    selected = {camera.id for camera in PRESETS["all"].select(real_cameras)}
    boroughs = {c.id for b in BOROUGH_PRESETS for c in PRESETS[b].select(real_cameras)}
    assert selected == boroughs
    derry = by_name(real_cameras, "Great Jmaes Street @ A2 Rd")
    assert derry.id not in selected and borough_of(derry) is None


def test_nested_presets(real_cameras: list[Camera]) -> None:
    manhattan = {c.id for c in PRESETS["manhattan"].select(real_cameras)}
    lower = {c.id for c in PRESETS["lower-manhattan"].select(real_cameras)}
    downtown = {c.id for c in PRESETS["downtown"].select(real_cameras)}
    assert downtown < lower < manhattan


def test_label_disagreements_are_all_explained(real_cameras: list[Camera]) -> None:
    found = {}
    for camera in real_cameras:
        expected = API_AREA_TO_PRESET.get(camera.area or "")
        actual = borough_of(camera)
        if expected is not None and actual != expected:
            found[camera.name.strip()] = actual
    assert found == {name.strip(): b for name, b in KNOWN_DISAGREEMENTS.items()}


@pytest.mark.parametrize(
    ("name", "preset", "inside"),
    [
        # waterfront highways stay in their own borough, the shore across the water does not
        ("FDR @ 120 St", "manhattan", True),
        ("FDR Dr @ 23 St", "downtown", False),
        ("FDR Dr @ 10 St", "downtown", True),
        ("Harlem River Dr @ 150 St", "manhattan", True),
        ("C1-MDE-05-SB_at_E.153rd_St-Ex4", "bronx", True),
        ("Belt Pkwy @ Verrazano Bridge", "brooklyn", True),
        ("Jackson Ave @ 11 ST", "queens", True),
        ("McGuinness Blvd @ Green St", "brooklyn", True),
        # the boundary streets belong to their preset, the next street does not
        ("1 Ave @ 59 St", "lower-manhattan", True),
        ("Central Park S @ Columbus Cr", "lower-manhattan", True),
        ("1 Avenue @ East 60 Street", "lower-manhattan", False),
        ("Amsterdam Ave @ 60 St", "lower-manhattan", False),
        ("11 Ave/Rt 9A @ 14 St", "downtown", True),
        ("Union Sq @ 14 St", "downtown", True),
        ("AVE C @ 18 St", "downtown", False),
        # the documented label oddities follow geography
        ("BB-15 North Rdwy @ Manhattan Anchorage", "lower-manhattan", True),
        ("2nd Camera North Bound BPU -148.52", "downtown", True),
        ("WBB-20 @ MidSpan Berry St", "manhattan", False),
    ],
)
def test_cameras_near_the_edges(
    real_cameras: list[Camera], name: str, preset: str, inside: bool
) -> None:
    camera = by_name(real_cameras, name)
    assert PRESETS[preset].region.contains_camera(camera) is inside
