"""The camera-selection flags, shared by every command that takes a selection.

``cameras``, ``plan`` and ``assign`` declare their parameters with these ``Annotated`` aliases
and hand them to :func:`selection_from_options`, so the three commands accept exactly the same
flags with the same help and the same errors::

    def plan(cameras: CamerasOption = None, catalog: CatalogOption = None,
             bbox: BBoxOption = None, online_only: OnlineOnlyOption = False) -> None:
        selection = selection_from_options(cameras, catalog, bbox, online_only)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cctview_agent.presets import PRESETS
from cctview_fleet.defaults import CATALOG_ENV, DEFAULT_CATALOG_URL

if TYPE_CHECKING:
    from cctview_agent.cameras import Camera
    from cctview_fleet.assignment.selection import Selection

SELECTION_PANEL = "Camera selection"

CAMERAS_HELP = (
    "The cameras: a preset, a GeoJSON file (Polygon, MultiPolygon, Feature or "
    "FeatureCollection; positions are longitude, latitude), or a text file of camera ids (one a "
    "line, '#' comments). Presets are drawn as polygons from geography, not from the API's "
    "area label. " + " ".join(f"{name}: {preset.boundary}." for name, preset in PRESETS.items())
)

CamerasOption = Annotated[
    str | None,
    typer.Option(
        "--cameras",
        metavar="SET",
        help=CAMERAS_HELP,
        show_default=False,
        rich_help_panel=SELECTION_PANEL,
    ),
]
CatalogOption = Annotated[
    str | None,
    typer.Option(
        "--catalog",
        metavar="PATH|URL",
        help=(
            f"The camera list: a file (an API response or `cameras --json` output) or a URL. "
            f"Default: ${CATALOG_ENV}, else {DEFAULT_CATALOG_URL}. A URL's last good answer is "
            "cached and used, with a warning, when the server cannot be reached; with no cached "
            "copy of the NYC DOT API, the list packaged with cctview-fleet (2025-04-04)."
        ),
        show_default=False,
        rich_help_panel=SELECTION_PANEL,
    ),
]
BBoxOption = Annotated[
    str | None,
    typer.Option(
        "--bbox",
        metavar="MINLON,MINLAT,MAXLON,MAXLAT",
        help="Only cameras inside this box (with --cameras: inside both).",
        show_default=False,
        rich_help_panel=SELECTION_PANEL,
    ),
]
OnlineOnlyOption = Annotated[
    bool,
    typer.Option(
        "--online-only",
        help="Only cameras the list reports online (isOnline true).",
        rich_help_panel=SELECTION_PANEL,
    ),
]


def _warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)


def selection_from_options(
    cameras: str | None,
    catalog: str | None,
    bbox: str | None,
    online_only: bool,
) -> Selection:
    """Load the list and select from it: the cameras (sorted by id) plus where they came from.

    Raises SelectionError (exit 2) for a bad flag or an empty result, CatalogError when the list
    cannot be loaded; the CLI's root group prints either as one line.
    """
    from cctview_fleet.assignment.selection import BBox, SelectionRequest, check_request, select
    from cctview_fleet.cameras.catalog import load_catalog

    request = SelectionRequest(
        cameras=cameras.strip() if cameras and cameras.strip() else None,
        bbox=BBox.parse(bbox) if bbox is not None else None,
        online_only=online_only,
    )
    check_request(request)  # a typo in --cameras fails before the list is downloaded
    return select(load_catalog(catalog, warn=_warn), request)


def cameras_from_options(
    cameras: str | None,
    catalog: str | None,
    bbox: str | None,
    online_only: bool,
) -> list[Camera]:
    """Just the selected cameras, sorted by id."""
    return list(selection_from_options(cameras, catalog, bbox, online_only).cameras)
