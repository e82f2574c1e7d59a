"""Named camera selections ("presets") as documented polygons.

Why polygons and not the API's ``area`` label: the label is wrong for a few cameras (bridge cameras
labelled with the borough at the far end, two Battery cameras labelled Brooklyn and Bronx, a Staten
Island camera labelled Queens; docs/presets.md lists all 14), and the list grows over time, so a
selection must follow where a camera *is*. The borough polygons are drawn from geography: their
shared edges run down the middle of the rivers and bays that separate the boroughs (the Hudson, the
East and Harlem Rivers, Newtown Creek, Jamaica Bay, the Narrows) and along the land border of
Brooklyn and Queens, so a waterfront-highway camera (FDR Drive, West St, the Major Deegan) falls in
its own borough and never in the one across the water. The five polygons tile the city without
overlap; every point is in at most one borough.

Vertices are ``(longitude, latitude)`` in WGS84, the GeoJSON order; the geometry is in
:mod:`cctview_agent.geometry`. The water borders are accurate to about 100 m; the land border of
Brooklyn and Queens follows its streets closely only where cameras are near it. docs/presets.md
lists the counts on the April 2025 camera list. No dependencies: the node agent imports this module
as well as the CLI.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cctview_agent.cameras import Camera
from cctview_agent.geometry import (  # re-exported: selections build Regions from GeoJSON
    LonLat,
    Polygon,
    Region,
    Ring,
    clip_ring,
    point_in_ring,
)

__all__ = [
    "BOROUGH_PRESETS",
    "PRESETS",
    "LonLat",
    "Polygon",
    "Preset",
    "Region",
    "Ring",
    "borough_of",
    "clip_ring",
    "get_preset",
    "point_in_ring",
]


@dataclass(frozen=True, slots=True)
class Preset:
    """A named region with the one-line boundary description shown in ``--help``."""

    name: str
    boundary: str
    region: Region

    def select(self, cameras: Iterable[Camera]) -> list[Camera]:
        return self.region.select(cameras)


# --- Shared borders, each a polyline down the middle of the water (or along the land border).
# Named points are where three borders meet; each polyline is listed once and reversed where a
# neighbour needs it, so neighbouring polygons share their edge exactly (no gap, no overlap).

# Upper New York Bay, where Manhattan's, Brooklyn's and New Jersey's waters meet (west of
# Governors Island, which belongs to Manhattan).
BAY_WEST: LonLat = (-74.0400, 40.6780)
# Mouth of Spuyten Duyvil Creek on the Hudson (Manhattan / Bronx / New Jersey).
SPUYTEN_DUYVIL: LonLat = (-73.9290, 40.8795)
# East end of the Bronx Kill, east of Randall's Island (Manhattan / Bronx / Queens).
BRONX_KILL_EAST: LonLat = (-73.9080, 40.7960)
# Mouth of Newtown Creek on the East River (Manhattan / Brooklyn / Queens).
NEWTOWN_CREEK_MOUTH: LonLat = (-73.9670, 40.7375)
# Rockaway Inlet between Breezy Point and Manhattan Beach (Brooklyn / Queens / ocean).
ROCKAWAY_INLET: LonLat = (-73.9400, 40.5660)
ROCKAWAY_OFFSHORE: LonLat = (-73.9400, 40.5400)
# The Narrows, north and south of the Verrazzano-Narrows Bridge (Brooklyn / Staten Island).
NARROWS_NORTH: LonLat = (-74.0510, 40.6300)
NARROWS_SOUTH: LonLat = (-74.0400, 40.5900)
LOWER_BAY: LonLat = (-74.0350, 40.5500)
# Long Island Sound off Little Neck Bay (Bronx / Queens / Nassau waters).
SOUND_EAST: LonLat = (-73.7600, 40.8080)

# Manhattan's west border: the middle of the Hudson, from the bay to Spuyten Duyvil.
HUDSON_MANHATTAN: Ring = (
    BAY_WEST,
    (-74.0300, 40.7000),
    (-74.0250, 40.7150),
    (-74.0200, 40.7350),
    (-74.0170, 40.7450),
    (-74.0100, 40.7600),
    (-73.9990, 40.7800),
    (-73.9810, 40.8000),
    (-73.9610, 40.8300),
    (-73.9520, 40.8520),
    (-73.9400, 40.8700),
    SPUYTEN_DUYVIL,
)

# Manhattan / Bronx: Spuyten Duyvil Creek and the Harlem River Ship Canal, the Harlem River,
# then the Bronx Kill north of Randall's Island (which is Manhattan). Marble Hill, legally part of
# Manhattan but on the mainland north of the canal, is left on the Bronx side: it is where a
# camera there would be reached from and what its label would say.
HARLEM_RIVER: Ring = (
    SPUYTEN_DUYVIL,
    (-73.9220, 40.8780),
    (-73.9170, 40.8762),
    (-73.9110, 40.8740),
    (-73.9095, 40.8700),
    (-73.9135, 40.8625),
    (-73.9205, 40.8560),
    (-73.9255, 40.8500),
    (-73.9280, 40.8463),
    (-73.9300, 40.8425),
    (-73.9320, 40.8350),
    (-73.9330, 40.8285),
    (-73.9330, 40.8195),
    (-73.9330, 40.8135),
    (-73.9310, 40.8065),
    (-73.9280, 40.8030),
    (-73.9200, 40.8015),
    (-73.9120, 40.7990),
    BRONX_KILL_EAST,
)

# Manhattan / Queens: Hell Gate, then the channel east of Roosevelt Island (which is Manhattan).
EAST_RIVER_QUEENS: Ring = (
    BRONX_KILL_EAST,
    (-73.9190, 40.7870),
    (-73.9250, 40.7810),
    (-73.9385, 40.7770),
    (-73.9385, 40.7700),
    (-73.9468, 40.7600),
    (-73.9560, 40.7500),
    (-73.9640, 40.7450),
    NEWTOWN_CREEK_MOUTH,
)

# Manhattan / Brooklyn: the East River under the three bridges, Buttermilk Channel east of
# Governors Island, then the bay.
EAST_RIVER_BROOKLYN: Ring = (
    NEWTOWN_CREEK_MOUTH,
    (-73.9680, 40.7250),
    (-73.9700, 40.7160),
    (-73.9730, 40.7135),
    (-73.9750, 40.7085),
    (-73.9905, 40.7072),
    (-73.99613, 40.70548),
    (-74.0015, 40.7020),
    (-74.0060, 40.6950),
    (-74.0090, 40.6890),
    (-74.0130, 40.6830),
    (-74.0250, 40.6780),
    BAY_WEST,
)

# Brooklyn / Queens: Newtown Creek and English Kills, the land border (Wyckoff Ave, the
# cemeteries, Eldert Lane), then Jamaica Bay to Rockaway Inlet.
BROOKLYN_QUEENS: Ring = (
    NEWTOWN_CREEK_MOUTH,
    (-73.9620, 40.7375),
    (-73.9525, 40.7390),
    (-73.9440, 40.7365),
    (-73.9370, 40.7320),
    (-73.9285, 40.7275),
    (-73.9230, 40.7200),
    (-73.9215, 40.7140),
    (-73.9215, 40.7070),
    (-73.9115, 40.6995),
    (-73.9040, 40.6950),
    (-73.8960, 40.6920),
    (-73.8800, 40.6880),
    (-73.8680, 40.6870),
    (-73.8660, 40.6790),
    (-73.8620, 40.6650),
    (-73.8590, 40.6560),
    (-73.8600, 40.6400),
    (-73.8650, 40.6150),
    (-73.8700, 40.5950),
    (-73.8850, 40.5740),
    (-73.9100, 40.5700),
    ROCKAWAY_INLET,
    ROCKAWAY_OFFSHORE,
)

# Bronx / Queens: the East River past Rikers Island (Bronx) and under the Whitestone and
# Throgs Neck bridges, out to the Sound.
EAST_RIVER_BRONX: Ring = (
    BRONX_KILL_EAST,
    (-73.9050, 40.7930),
    (-73.8950, 40.7880),
    (-73.8800, 40.7850),
    (-73.8600, 40.7930),
    (-73.8290, 40.8000),
    (-73.7940, 40.8020),
    SOUND_EAST,
)

# Brooklyn / Staten Island: the lower bay and the middle of the Narrows.
NARROWS: Ring = (
    LOWER_BAY,
    NARROWS_SOUTH,
    (-74.0455, 40.6062),
    NARROWS_NORTH,
)

# Outer borders (New Jersey, Westchester, Nassau, the ocean): only the side facing the city is
# drawn with care; nothing of the catalog lies beyond them except the camera in Derry.
BROOKLYN_OCEAN: Ring = (ROCKAWAY_OFFSHORE, LOWER_BAY)
BROOKLYN_BAY: Ring = (NARROWS_NORTH, (-74.0450, 40.6500), BAY_WEST)
BRONX_OUTER: Ring = (
    SOUND_EAST,
    (-73.7600, 40.8500),
    (-73.7800, 40.8750),
    (-73.8050, 40.8800),
    (-73.8280, 40.8870),
    (-73.8380, 40.8940),
    (-73.8550, 40.9060),
    (-73.8650, 40.9100),
    (-73.9000, 40.9140),
    (-73.9190, 40.9170),
    (-73.9230, 40.9000),
    SPUYTEN_DUYVIL,
)
QUEENS_OUTER: Ring = (
    ROCKAWAY_OFFSHORE,
    (-73.7400, 40.5600),
    (-73.7380, 40.5930),
    (-73.7480, 40.6150),
    (-73.7370, 40.6370),
    (-73.7380, 40.6500),
    (-73.7230, 40.6800),
    (-73.7280, 40.6900),
    (-73.7250, 40.7200),
    (-73.7010, 40.7350),
    (-73.7000, 40.7500),
    (-73.7050, 40.7600),
    (-73.7300, 40.7700),
    (-73.7520, 40.7780),
    SOUND_EAST,
)
STATEN_ISLAND_OUTER: Ring = (
    NARROWS_NORTH,
    (-74.0600, 40.6480),
    (-74.0750, 40.6500),
    (-74.1000, 40.6480),
    (-74.1420, 40.6420),
    (-74.1700, 40.6410),
    (-74.1950, 40.6400),
    (-74.1970, 40.6355),
    (-74.2030, 40.6200),
    (-74.2070, 40.6000),
    (-74.2100, 40.5800),
    (-74.2200, 40.5600),
    (-74.2450, 40.5300),
    (-74.2600, 40.5000),
    (-74.2500, 40.4900),
    (-74.1500, 40.5100),
    (-74.1000, 40.5000),
    LOWER_BAY,
)


def _chain(*parts: Ring) -> Ring:
    """Join polylines end to start into one ring, dropping each repeated joint."""
    ring: list[LonLat] = []
    for part in parts:
        ring.extend(part[1:] if ring and ring[-1] == part[0] else part)
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring.pop()
    return tuple(ring)


def _reverse(part: Ring) -> Ring:
    return tuple(reversed(part))


MANHATTAN_RING = _chain(HUDSON_MANHATTAN, HARLEM_RIVER, EAST_RIVER_QUEENS, EAST_RIVER_BROOKLYN)
BRONX_RING = _chain(BRONX_OUTER, HARLEM_RIVER, EAST_RIVER_BRONX)
QUEENS_RING = _chain(_reverse(EAST_RIVER_BRONX), EAST_RIVER_QUEENS, BROOKLYN_QUEENS, QUEENS_OUTER)
BROOKLYN_RING = _chain(
    BROOKLYN_QUEENS, BROOKLYN_OCEAN, NARROWS, BROOKLYN_BAY, _reverse(EAST_RIVER_BROOKLYN)
)
STATEN_ISLAND_RING = _chain(STATEN_ISLAND_OUTER, NARROWS)

# Cut lines across Manhattan, Hudson end first. The street grid is tilted about 29 degrees, so
# each line is sloped like its street. Each runs just north of its street (fitted to the street's
# intersections on the April 2025 list), so that a camera *on* the boundary street belongs to the
# preset: "south of 59th St" takes 59th St and Central Park South and the Queensboro Bridge's York
# Ave approach, and leaves 60th St out; "south of 14th St" takes every 14th St intersection and
# leaves 15th St out. Lines straight along the streets' own centres (about 40.7730,-73.9930 to
# 40.7590,-73.9580 for 59th St) would split the cameras of one intersection, because the
# published camera positions scatter by 10-50 m.
CENTRAL_PARK_SOUTH_LINE: tuple[LonLat, LonLat] = ((-73.9930, 40.7725), (-73.9580, 40.7587))
FOURTEENTH_STREET_LINE: tuple[LonLat, LonLat] = ((-74.0120, 40.7440), (-73.9720, 40.7280))

MANHATTAN = Region((Polygon(MANHATTAN_RING),))
BRONX = Region((Polygon(BRONX_RING),))
QUEENS = Region((Polygon(QUEENS_RING),))
BROOKLYN = Region((Polygon(BROOKLYN_RING),))
STATEN_ISLAND = Region((Polygon(STATEN_ISLAND_RING),))
LOWER_MANHATTAN = Region((Polygon(clip_ring(MANHATTAN_RING, *CENTRAL_PARK_SOUTH_LINE)),))
DOWNTOWN = Region((Polygon(clip_ring(MANHATTAN_RING, *FOURTEENTH_STREET_LINE)),))
NEW_YORK_CITY = Region(
    MANHATTAN.polygons
    + BROOKLYN.polygons
    + QUEENS.polygons
    + BRONX.polygons
    + STATEN_ISLAND.polygons
)

PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "lower-manhattan",
            "Manhattan south of 59th St / Central Park South (59th St itself in): the manhattan "
            "polygon cut by the line from 40.7725,-73.9930 (Hudson) to 40.7587,-73.9580 "
            "(East River)",
            LOWER_MANHATTAN,
        ),
        Preset(
            "downtown",
            "Manhattan south of 14th St (14th St itself in): the manhattan polygon cut by the "
            "line from 40.7440,-74.0120 (Hudson) to 40.7280,-73.9720 (East River)",
            DOWNTOWN,
        ),
        Preset(
            "manhattan",
            "the borough to mid-river of the Hudson, Harlem and East Rivers, with Roosevelt, "
            "Randall's and Governors Islands",
            MANHATTAN,
        ),
        Preset(
            "brooklyn",
            "the borough to mid-East River, Newtown Creek, the Queens land line, Jamaica Bay "
            "and the Narrows",
            BROOKLYN,
        ),
        Preset(
            "queens",
            "the borough with the Rockaways, to mid-East River, Newtown Creek, the Brooklyn "
            "land line, Jamaica Bay and the Nassau line",
            QUEENS,
        ),
        Preset(
            "bronx",
            "the borough to mid-Harlem River and Hudson, the Westchester line and the East "
            "River, with Rikers Island",
            BRONX,
        ),
        Preset(
            "staten-island",
            "the borough to mid-Narrows, Kill Van Kull and Arthur Kill",
            STATEN_ISLAND,
        ),
        Preset(
            "all",
            "the five boroughs; cameras outside New York City (the April 2025 list has one in "
            "Derry, Northern Ireland) are left out",
            NEW_YORK_CITY,
        ),
    )
}

BOROUGH_PRESETS: tuple[str, ...] = ("manhattan", "brooklyn", "queens", "bronx", "staten-island")


def get_preset(name: str) -> Preset | None:
    """The preset of that name (case-insensitive), or None."""
    return PRESETS.get(name.strip().lower())


def borough_of(camera: Camera) -> str | None:
    """The borough preset whose polygon holds the camera, or None outside the city."""
    for name in BOROUGH_PRESETS:
        if PRESETS[name].region.contains_camera(camera):
            return name
    return None
