"""Plane geometry on longitude/latitude for camera selections, in pure Python.

Point-in-polygon by ray casting (even-odd, holes honoured) and clipping a ring by a line. At the
scale of a city, treating degrees as plane coordinates (straight edges in longitude/latitude) errs
by less than a metre, far below the accuracy of the published camera positions. No shapely: this
ships in the node agent too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cctview_agent.cameras import Camera

LonLat = tuple[float, float]
Ring = tuple[LonLat, ...]


def point_in_ring(lon: float, lat: float, ring: Sequence[LonLat]) -> bool:
    """Ray casting (even-odd): does a ray going east from the point cross the ring an odd
    number of times? The ring may be open or closed (a repeated first vertex is harmless)."""
    inside = False
    count = len(ring)
    j = count - 1
    for i in range(count):
        xi, yi = ring[i]
        xj, yj = ring[j]
        if (yi > lat) != (yj > lat):
            x_cross = xi + (lat - yi) * (xj - xi) / (yj - yi)
            if lon < x_cross:
                inside = not inside
        j = i
    return inside


def clip_ring(ring: Sequence[LonLat], a: LonLat, b: LonLat) -> Ring:
    """The part of ``ring`` on the right of the directed line ``a -> b`` (Sutherland-Hodgman
    against one half-plane). Used to cut Manhattan at a street line; the street grid is
    tilted about 29 degrees, so a cut at a fixed latitude would be wrong by several blocks."""

    def side(p: LonLat) -> float:
        return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])

    def crossing(p: LonLat, q: LonLat) -> LonLat:
        sp, sq = side(p), side(q)
        t = sp / (sp - sq)
        return (p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1]))

    result: list[LonLat] = []
    count = len(ring)
    for i in range(count):
        current, following = ring[i], ring[(i + 1) % count]
        current_in, following_in = side(current) <= 0, side(following) <= 0
        if current_in:
            result.append(current)
        if current_in != following_in:
            result.append(crossing(current, following))
    return tuple(result)


@dataclass(frozen=True, slots=True)
class Polygon:
    """One polygon: an exterior ring and optional holes, GeoJSON style."""

    exterior: Ring
    holes: tuple[Ring, ...] = ()

    def contains(self, lon: float, lat: float) -> bool:
        if not point_in_ring(lon, lat, self.exterior):
            return False
        return not any(point_in_ring(lon, lat, hole) for hole in self.holes)


@dataclass(frozen=True, slots=True)
class Region:
    """A set of polygons (a GeoJSON MultiPolygon); a point is inside if any polygon holds it."""

    polygons: tuple[Polygon, ...]

    def contains(self, lon: float, lat: float) -> bool:
        return any(polygon.contains(lon, lat) for polygon in self.polygons)

    def contains_camera(self, camera: Camera) -> bool:
        return self.contains(camera.longitude, camera.latitude)

    def select(self, cameras: Iterable[Camera]) -> list[Camera]:
        """The cameras inside, in the order given."""
        return [camera for camera in cameras if self.contains_camera(camera)]
