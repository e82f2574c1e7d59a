"""The simulator's camera list: a synthetic NYC-like catalog, or a real API response re-pointed.

The synthetic list is a pure function of ``(count, seed)``: same seed, same cameras, same bytes of
``/api/cameras``. Either way every ``imageUrl`` points back at the simulator, so a client that
follows the catalog (the agent, ``cctview-fleet cameras --catalog URL``) polls the simulator only.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from cctview_agent.cameras import Camera, load_cameras
from cctview_camsim import geography
from cctview_camsim.geography import Polygon

DEFAULT_CAMERA_COUNT = 900


def _sample_in(rng: random.Random, polygon: Polygon) -> tuple[float, float]:
    south, west, north, east = geography.bounding_box(polygon)
    while True:
        latitude = rng.uniform(south, north)
        longitude = rng.uniform(west, east)
        if geography.point_in_polygon(latitude, longitude, polygon):
            return latitude, longitude


def _manhattan_grid(
    rng: random.Random, streets: range, avenues: Sequence[tuple[str, float]], uptown: bool
) -> tuple[str, float, float]:
    while True:
        street = rng.choice(streets)
        avenue, position = rng.choice(avenues)
        if uptown and 0.0 <= position <= 3.0 and street <= 110:
            continue  # Central Park
        if uptown and position <= -4.2 and street > 120:
            continue  # First and York Avenues end before the Harlem River
        side = "W" if position > 0 else "E"
        latitude, longitude = geography.grid_corner(street, position)
        # A camera sits at a corner, give or take the width of the intersection.
        latitude += rng.uniform(-0.00012, 0.00012)
        longitude += rng.uniform(-0.00012, 0.00012)
        return f"{side} {street} St @ {avenue}", latitude, longitude


def _camera(rng: random.Random, name: str, lat: float, lon: float, area: str) -> Camera:
    return Camera(
        id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        name=name,
        latitude=round(lat, 6),
        longitude=round(lon, 6),
        area=area,
        is_online=True,
    )


def _unique(
    rng: random.Random, taken: set[str], make: Callable[[], tuple[str, float, float]]
) -> tuple[str, float, float]:
    """Draw from ``make`` until the name is new; after a few tries number it like the real list."""
    for _ in range(20):
        name, lat, lon = make()
        if name not in taken:
            break
    else:
        base = name
        suffix = 2
        while f"{base} ({suffix})" in taken:
            suffix += 1
        name = f"{base} ({suffix})"
    taken.add(name)
    return name, lat, lon


def synthetic_cameras(count: int = DEFAULT_CAMERA_COUNT, seed: int = 0) -> list[Camera]:
    """About ``count`` cameras over the five boroughs, 35 % in Manhattan, deterministic from seed.

    Of Manhattan's share about three quarters lie south of 59th Street (as in the real list, where
    ``lower-manhattan`` holds ~235 of 922), so that preset selects a couple of hundred of 900.
    """
    rng = random.Random(seed)
    manhattan = round(count * geography.MANHATTAN_SHARE)
    downtown = round(manhattan * geography.MANHATTAN_SPLIT[0])
    midtown = round(manhattan * geography.MANHATTAN_SPLIT[1])
    uptown = manhattan - downtown - midtown
    rest = count - manhattan
    total_share = sum(borough.share for borough in geography.OUTER_BOROUGHS)
    outer = [round(rest * borough.share / total_share) for borough in geography.OUTER_BOROUGHS]
    outer[0] += rest - sum(outer)  # rounding remainder to Brooklyn

    taken: set[str] = set()
    cameras: list[Camera] = []

    def downtown_corner() -> tuple[str, float, float]:
        lat, lon = _sample_in(rng, geography.LOWER_MANHATTAN_SOUTH_OF_14TH)
        street = rng.choice(geography.DOWNTOWN_STREETS)
        avenue = rng.choice(geography.DOWNTOWN_AVENUES)
        return f"{street} @ {avenue}", lat, lon

    for _ in range(downtown):
        name, lat, lon = _unique(rng, taken, downtown_corner)
        cameras.append(_camera(rng, name, lat, lon, "Manhattan"))
    for _ in range(midtown):
        name, lat, lon = _unique(
            rng,
            taken,
            lambda: _manhattan_grid(rng, range(14, 58), geography.MIDTOWN_AVENUES, False),
        )
        cameras.append(_camera(rng, name, lat, lon, "Manhattan"))
    for _ in range(uptown):
        name, lat, lon = _unique(
            rng,
            taken,
            lambda: _manhattan_grid(rng, range(61, 126), geography.UPTOWN_AVENUES, True),
        )
        cameras.append(_camera(rng, name, lat, lon, "Manhattan"))
    for borough, number in zip(geography.OUTER_BOROUGHS, outer, strict=True):

        def corner(borough: geography.Borough = borough) -> tuple[str, float, float]:
            lat, lon = _sample_in(rng, borough.polygon)
            road = rng.choice(borough.main_roads)
            cross = rng.choice(borough.cross_streets)
            return f"{road} @ {cross}", lat, lon

        for _ in range(number):
            name, lat, lon = _unique(rng, taken, corner)
            cameras.append(_camera(rng, name, lat, lon, borough.area))
    rng.shuffle(cameras)  # the real list is in no particular order either
    return cameras


def load_catalog(path: Path) -> list[Camera]:
    """A real API response (or a normalized list): ids, names, coordinates and areas kept."""
    return load_cameras(path)


def image_path(camera_id: str) -> str:
    """The path of a camera's image on the simulator, as the real API lays it out."""
    return f"/api/cameras/{camera_id}/image"


def with_base_url(cameras: Sequence[Camera], base_url: str) -> list[Camera]:
    """The cameras with each ``image_url`` rewritten to ``<base>/api/cameras/<id>/image``."""
    base = base_url.rstrip("/")
    return [replace(camera, image_url=base + image_path(camera.id)) for camera in cameras]


def catalog_json(cameras: Sequence[Camera], base_url: str) -> bytes:
    """The body of ``GET /api/cameras``: compact, in the API's shape, like the real service."""
    records = [camera.to_api_dict() for camera in with_base_url(cameras, base_url)]
    return json.dumps(records, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
