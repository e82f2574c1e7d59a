"""Rough NYC geography for the synthetic catalog: borough land polygons, the Manhattan grid, names.

The polygons are drawn *inside* each borough's shoreline (a few hundred metres in from the water),
so a camera sampled in one lies on land and inside any reasonable borough boundary, such as the
presets of ``cctview-fleet cameras``. Manhattan between 14th and 125th Streets uses the street grid
itself: a camera named "W 42 St @ 8 Ave" sits near that corner, which keeps the
``lower-manhattan`` preset (south of 59th Street) meaningful on a synthetic list.
"""

from __future__ import annotations

from dataclasses import dataclass

# (latitude, longitude) vertices, listed around each outline.
Polygon = tuple[tuple[float, float], ...]

LOWER_MANHATTAN_SOUTH_OF_14TH: Polygon = (
    (40.7045, -74.0150),
    (40.7110, -74.0135),
    (40.7260, -74.0095),
    (40.7395, -74.0070),
    (40.7295, -73.9790),
    (40.7195, -73.9775),
    (40.7120, -73.9800),
    (40.7095, -73.9890),
    (40.7075, -73.9985),
    (40.7045, -74.0075),
    (40.7030, -74.0120),
)

BROOKLYN: Polygon = (
    (40.6920, -73.9880),
    (40.7050, -73.9700),
    (40.7200, -73.9560),
    (40.7270, -73.9500),
    (40.7050, -73.9250),
    (40.6930, -73.9050),
    (40.6780, -73.8800),
    (40.6550, -73.8850),
    (40.6420, -73.9050),
    (40.6230, -73.9220),
    (40.5990, -73.9450),
    (40.5900, -73.9650),
    (40.5990, -73.9980),
    (40.6120, -74.0250),
    (40.6300, -74.0300),
    (40.6500, -74.0080),
    (40.6720, -74.0000),
    (40.6850, -73.9950),
)

QUEENS: Polygon = (
    (40.7440, -73.9480),
    (40.7600, -73.9330),
    (40.7700, -73.9180),
    (40.7660, -73.8950),
    (40.7560, -73.8650),
    (40.7500, -73.8450),
    (40.7580, -73.8250),
    (40.7620, -73.7950),
    (40.7560, -73.7550),
    (40.7400, -73.7150),
    (40.7150, -73.7400),
    (40.6800, -73.7450),
    (40.6650, -73.7700),
    (40.6650, -73.8300),
    (40.6830, -73.8600),
    (40.6950, -73.8900),
    (40.7050, -73.9050),
    (40.7250, -73.9150),
    (40.7350, -73.9350),
)

BRONX: Polygon = (
    (40.8100, -73.9150),
    (40.8330, -73.9240),
    (40.8580, -73.9120),
    (40.8800, -73.9050),
    (40.8980, -73.9030),
    (40.9020, -73.8600),
    (40.8930, -73.8350),
    (40.8700, -73.8350),
    (40.8450, -73.8350),
    (40.8250, -73.8450),
    (40.8180, -73.8650),
    (40.8130, -73.8900),
    (40.8060, -73.9100),
)

STATEN_ISLAND: Polygon = (
    (40.6320, -74.0850),
    (40.6320, -74.1200),
    (40.6300, -74.1650),
    (40.6150, -74.1800),
    (40.5900, -74.1850),
    (40.5550, -74.2000),
    (40.5220, -74.2280),
    (40.5300, -74.1950),
    (40.5500, -74.1450),
    (40.5800, -74.1050),
    (40.6000, -74.0800),
    (40.6180, -74.0780),
)

# Manhattan's street grid: corner (street s, avenue position a) = ORIGIN + s*STREET + a*AVENUE,
# fitted to 5 Ave @ 14 St, 5 Ave @ 59 St, 8 Ave @ 42 St and 1 Ave @ 14 St (within ~150 m).
GRID_ORIGIN = (40.7357 - 14 * 0.000638, -73.9942 - 14 * 0.000471)  # "5 Ave @ 0 St"
GRID_STREET = (0.000638, 0.000471)
GRID_AVENUE_WEST = (0.0013, -0.0027)

# Avenue positions west of Fifth Avenue (negative: east of it). Central Park (59-110 St) covers
# positions 0..3, so uptown cameras there are skipped.
MIDTOWN_AVENUES: tuple[tuple[str, float], ...] = (
    ("11 Ave", 6.0),
    ("10 Ave", 5.0),
    ("9 Ave", 4.0),
    ("8 Ave", 3.0),
    ("7 Ave", 2.0),
    ("6 Ave", 1.0),
    ("5 Ave", 0.0),
    ("Madison Ave", -0.5),
    ("Park Ave", -1.0),
    ("Lexington Ave", -1.5),
    ("3 Ave", -2.2),
    ("2 Ave", -3.2),
    ("1 Ave", -4.2),
)
UPTOWN_AVENUES: tuple[tuple[str, float], ...] = (
    ("West End Ave", 6.0),
    ("Amsterdam Ave", 5.0),
    ("Columbus Ave", 4.0),
    ("5 Ave", 0.0),
    ("Madison Ave", -0.5),
    ("Park Ave", -1.0),
    ("Lexington Ave", -1.5),
    ("3 Ave", -2.2),
    ("2 Ave", -3.2),
    ("1 Ave", -4.2),
    ("York Ave", -5.0),
)


def _names(text: str) -> tuple[str, ...]:
    """A tuple of street names from one "; "-separated string (keeps the tables compact)."""
    return tuple(name.strip() for name in text.split(";"))


DOWNTOWN_STREETS = _names(
    "Canal St; Houston St; Delancey St; Grand St; Broome St; Spring St; Prince St; "
    "Chambers St; Worth St; Fulton St; Vesey St; Bleecker St; W 4 St; E 8 St; "
    "Christopher St; Hester St; Kenmare St; Franklin St; Reade St; Murray St"
)
DOWNTOWN_AVENUES = _names(
    "Broadway; Church St; Centre St; Lafayette St; Bowery; Varick St; West St; "
    "Hudson St; 6 Ave; 7 Ave S; Allen St; Essex St; Chrystie St; Greenwich St; "
    "Ave A; Ave B; Ave C; 1 Ave; 2 Ave; Park Row; FDR Dr"
)


@dataclass(frozen=True, slots=True)
class Borough:
    """One borough: its API area label, land polygon, share of cameras and street names."""

    area: str
    polygon: Polygon
    share: float
    main_roads: tuple[str, ...]
    cross_streets: tuple[str, ...]


OUTER_BOROUGHS: tuple[Borough, ...] = (
    Borough(
        "Brooklyn",
        BROOKLYN,
        0.23,
        _names(
            "Atlantic Ave; Flatbush Ave; Ocean Pkwy; Eastern Pkwy; Kings Hwy; Linden Blvd; "
            "4 Ave; Bedford Ave; Nostrand Ave; Utica Ave; Fulton St; Myrtle Ave; "
            "Coney Island Ave; Bay Pkwy; Fort Hamilton Pkwy; BQE"
        ),
        _names(
            "Church Ave; Ave U; 86 St; Metropolitan Ave; Pennsylvania Ave; Court St; "
            "Union St; President St; Cortelyou Rd; Ave J; Dekalb Ave; Rogers Ave; "
            "Grand St; Ralph Ave; 65 St; Clarkson Ave"
        ),
    ),
    Borough(
        "Queens",
        QUEENS,
        0.23,
        _names(
            "Queens Blvd; Northern Blvd; Woodhaven Blvd; Hillside Ave; Jamaica Ave; "
            "Astoria Blvd; Roosevelt Ave; 21 St; Cross Bay Blvd; Francis Lewis Blvd; "
            "Union Tpke; Merrick Blvd; Rockaway Blvd; Main St; LIE; GCP"
        ),
        _names(
            "Junction Blvd; 108 St; Sutphin Blvd; 164 St; Lefferts Blvd; Kissena Blvd; "
            "Parsons Blvd; Steinway St; Broadway; Utopia Pkwy; 188 St; Van Wyck Expwy; "
            "31 Ave; Grand Ave; 69 St; Springfield Blvd"
        ),
    ),
    Borough(
        "Staten Island",
        STATEN_ISLAND,
        0.11,
        _names(
            "Hylan Blvd; Richmond Ave; Victory Blvd; Forest Ave; Richmond Rd; Bay St; "
            "Arthur Kill Rd; Amboy Rd; SIE"
        ),
        _names(
            "Targee St; Clove Rd; Richmond Terrace; Bradley Ave; Slosson Ave; "
            "Father Capodanno Blvd; Manor Rd; Huguenot Ave; Jewett Ave; Todt Hill Rd"
        ),
    ),
    Borough(
        "Bronx",
        BRONX,
        0.08,
        _names(
            "Grand Concourse; Fordham Rd; Bruckner Blvd; Webster Ave; Jerome Ave; "
            "E Tremont Ave; Pelham Pkwy; Boston Rd; White Plains Rd; Southern Blvd; "
            "Major Deegan Expwy"
        ),
        _names(
            "E 149 St; Westchester Ave; 3 Ave; Gun Hill Rd; University Ave; E 161 St; "
            "Castle Hill Ave; Hunts Point Ave; Mosholu Pkwy; E 138 St"
        ),
    ),
)

MANHATTAN_SHARE = 0.35
# Of Manhattan's cameras: south of 14 St, 14-58 St (both "lower Manhattan") and uptown.
MANHATTAN_SPLIT = (0.24, 0.50, 0.26)


def point_in_polygon(latitude: float, longitude: float, polygon: Polygon) -> bool:
    """Even-odd ray casting; plenty for hand-drawn outlines of a dozen vertices."""
    inside = False
    count = len(polygon)
    for index in range(count):
        lat1, lon1 = polygon[index]
        lat2, lon2 = polygon[(index + 1) % count]
        if (lon1 > longitude) != (lon2 > longitude):
            crossing = lat1 + (longitude - lon1) * (lat2 - lat1) / (lon2 - lon1)
            if latitude < crossing:
                inside = not inside
    return inside


def bounding_box(polygon: Polygon) -> tuple[float, float, float, float]:
    """(min latitude, min longitude, max latitude, max longitude)."""
    lats = [lat for lat, _ in polygon]
    lons = [lon for _, lon in polygon]
    return min(lats), min(lons), max(lats), max(lons)


def grid_corner(street: int, avenue_position: float) -> tuple[float, float]:
    """The coordinates of a Manhattan grid corner (street number, avenue position)."""
    latitude = GRID_ORIGIN[0] + street * GRID_STREET[0] + avenue_position * GRID_AVENUE_WEST[0]
    longitude = GRID_ORIGIN[1] + street * GRID_STREET[1] + avenue_position * GRID_AVENUE_WEST[1]
    return latitude, longitude
