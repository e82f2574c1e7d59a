"""GeoJSON areas for ``--cameras FILE``: Polygon, MultiPolygon, Feature, FeatureCollection (and a
GeometryCollection of those), holes honoured.

Every defect is a :class:`SelectionError` naming the file and the place in it ("feature 2's
geometry Polygon, ring 0, position 4 is not [longitude, latitude]"), because a hand-drawn file
from geojson.io is the usual input and the operator needs to know which vertex to fix.
Positions outside -180..180 / -90..90 are refused: they are almost always latitude first.
"""

from __future__ import annotations

from typing import Any

from cctview_agent.geometry import Polygon, Region
from cctview_fleet.errors import SelectionError


def _ring(value: Any, where: str) -> tuple[tuple[float, float], ...]:
    if not isinstance(value, list) or len(value) < 4:
        raise SelectionError(f"{where} is not a ring of at least 4 positions")
    ring = []
    for index, position in enumerate(value):
        if (
            not isinstance(position, list)
            or len(position) < 2
            or not all(isinstance(n, int | float) and not isinstance(n, bool) for n in position[:2])
        ):
            raise SelectionError(f"{where}, position {index} is not [longitude, latitude]")
        lon, lat = float(position[0]), float(position[1])
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise SelectionError(
                f"{where}, position {index} [{lon:g}, {lat:g}] is not [longitude, latitude]"
            )
        ring.append((lon, lat))
    return tuple(ring)


def _polygon(coordinates: Any, where: str) -> Polygon:
    if not isinstance(coordinates, list) or not coordinates:
        raise SelectionError(f"{where} has no rings in 'coordinates'")
    rings = [_ring(ring, f"{where}, ring {index}") for index, ring in enumerate(coordinates)]
    return Polygon(rings[0], tuple(rings[1:]))


def _geometry(geometry: Any, where: str) -> list[Polygon]:
    if not isinstance(geometry, dict):
        raise SelectionError(f"{where} has no geometry object")
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    if kind == "Polygon":
        return [_polygon(coordinates, f"{where} Polygon")]
    if kind == "MultiPolygon":
        if not isinstance(coordinates, list) or not coordinates:
            raise SelectionError(f"{where} MultiPolygon has no polygons in 'coordinates'")
        return [
            _polygon(polygon, f"{where} MultiPolygon, polygon {index}")
            for index, polygon in enumerate(coordinates)
        ]
    if kind == "GeometryCollection":
        members = geometry.get("geometries")
        if not isinstance(members, list):
            raise SelectionError(f"{where} GeometryCollection has no 'geometries' list")
        return [
            polygon
            for index, member in enumerate(members)
            for polygon in _geometry(member, f"{where} geometry {index}:")
        ]
    raise SelectionError(
        f"{where} is a {kind or 'geometry without a type'}, not a Polygon or MultiPolygon"
    )


def region_from_geojson(data: Any, source: str) -> Region:
    """A Region from a GeoJSON Polygon, MultiPolygon, Feature or FeatureCollection."""
    if not isinstance(data, dict):
        raise SelectionError(f"{source} is not a GeoJSON object")
    kind = data.get("type")
    if kind == "FeatureCollection":
        features = data.get("features")
        if not isinstance(features, list) or not features:
            raise SelectionError(f"{source}: the FeatureCollection has no features")
        polygons = [
            polygon
            for index, feature in enumerate(features)
            for polygon in _feature(feature, f"{source}: feature {index}")
        ]
    elif kind == "Feature":
        polygons = _feature(data, f"{source}: the feature")
    elif kind in ("Polygon", "MultiPolygon", "GeometryCollection"):
        polygons = _geometry(data, f"{source}:")
    else:
        raise SelectionError(
            f"{source} has GeoJSON type {kind!r}; expected Polygon, MultiPolygon, Feature "
            "or FeatureCollection"
        )
    return Region(tuple(polygons))


def _feature(feature: Any, where: str) -> list[Polygon]:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise SelectionError(f"{where} is not a GeoJSON Feature")
    return _geometry(feature.get("geometry"), f"{where}'s geometry")
