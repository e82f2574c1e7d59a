"""`cctview-fleet cameras`: show which cameras a selection picks, before planning or assigning.

With ``--json`` it prints exactly the normalized camera array
(:func:`cctview_agent.cameras.dump_cameras`), which is also the agent's assignment-file format,
so the output can be saved, edited, and fed back with ``--cameras FILE``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from cctview_fleet.commands.options import (
    BBoxOption,
    CamerasOption,
    CatalogOption,
    OnlineOnlyOption,
    selection_from_options,
)

if TYPE_CHECKING:
    from rich.table import Table

    from cctview_fleet.assignment.selection import Selection


def _online(value: bool | None) -> str:
    return "?" if value is None else ("yes" if value else "no")


def selection_table(selection: Selection) -> Table:
    """The selection as a table, its count in the title and the list's origin as the caption.

    Ids never wrap (a folded UUID cannot be copied); names fold instead."""
    from rich.table import Table
    from rich.text import Text

    from cctview_fleet.cameras.catalog import is_url

    catalog = selection.catalog
    when = f"{catalog.fetched_at:%Y-%m-%d %H:%M} UTC"
    if catalog.from_snapshot:
        origin = f"the list packaged with cctview-fleet, dated {catalog.fetched_at:%Y-%m-%d}"
    elif catalog.from_cache:
        origin = f"{catalog.source} (cached copy fetched {when})"
    elif is_url(catalog.source):
        origin = f"{catalog.source} (fetched {when})"
    else:
        origin = f"{catalog.source} (file dated {when})"
    result = Table(
        title=f"{len(selection.cameras)} cameras: {selection.request.describe()}",
        caption=f"of {len(catalog.cameras)} in {origin}",
    )
    result.add_column("id", no_wrap=True)
    result.add_column("name", overflow="fold", ratio=1)
    result.add_column("area", no_wrap=True)
    result.add_column("lat", justify="right", no_wrap=True)
    result.add_column("lon", justify="right", no_wrap=True)
    result.add_column("online", no_wrap=True)
    for camera in selection.cameras:
        result.add_row(
            camera.id,
            Text(camera.name),  # the catalog's text, never markup: "[/]" is a valid name
            Text(camera.area or ""),
            f"{camera.latitude:.5f}",
            f"{camera.longitude:.5f}",
            _online(camera.is_online),
        )
    return result


def cameras(
    cameras: CamerasOption = None,
    catalog: CatalogOption = None,
    bbox: BBoxOption = None,
    online_only: OnlineOnlyOption = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the cameras as a JSON array (the assignment format)."),
    ] = False,
) -> None:
    """List the cameras a selection picks, sorted by id."""
    from cctview_agent.cameras import dump_cameras
    from cctview_fleet.render import console

    selection = selection_from_options(cameras, catalog, bbox, online_only)
    if as_json:
        sys.stdout.write(dump_cameras(selection.cameras) + "\n")
        sys.stdout.flush()
        return
    console.print(selection_table(selection))


def register(app: typer.Typer) -> None:
    app.command("cameras")(cameras)
