"""Turning the operator's selection flags into cameras.

A selection is a camera set (``--cameras``: a preset name, a GeoJSON file, or a file of camera
ids), a bounding box (``--bbox``) and an online-only filter; given together they intersect. The
result is always sorted by camera id, so the same flags on the same list give the same cameras
in the same order whatever order the API happens to return (``assign`` shards on that order).
Every mistake is a :class:`SelectionError` (exit code 2) whose one line says what to do.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cctview_agent.cameras import Camera, check_camera_id, parse_cameras
from cctview_agent.errors import CatalogError
from cctview_agent.geometry import Region
from cctview_agent.presets import PRESETS, get_preset
from cctview_fleet.cameras.catalog import Catalog
from cctview_fleet.cameras.geojson import region_from_geojson
from cctview_fleet.errors import SelectionError

BBOX_EXAMPLE = "-74.02,40.70,-73.97,40.75"
PRESET_LIST = ", ".join(PRESETS)


@dataclass(frozen=True, slots=True)
class BBox:
    """A longitude/latitude box, edges included."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    @classmethod
    def parse(cls, text: str) -> BBox:
        """``MINLON,MINLAT,MAXLON,MAXLAT`` (the GeoJSON ``bbox`` order)."""
        usage = f"--bbox takes MINLON,MINLAT,MAXLON,MAXLAT, e.g. {BBOX_EXAMPLE}"
        parts = [part.strip() for part in text.split(",")]
        if len(parts) != 4:
            raise SelectionError(f"--bbox {text!r} has {len(parts)} numbers, not 4; {usage}")
        try:
            min_lon, min_lat, max_lon, max_lat = (float(part) for part in parts)
        except ValueError:
            raise SelectionError(f"--bbox {text!r} is not four numbers; {usage}") from None
        values = (min_lon, min_lat, max_lon, max_lat)
        if not all(math.isfinite(value) for value in values):
            raise SelectionError(f"--bbox {text!r} has a non-finite number; {usage}")
        if not (-180 <= min_lon <= 180 and -180 <= max_lon <= 180):
            raise SelectionError(f"--bbox {text!r}: longitudes must be within -180..180; {usage}")
        if not (-90 <= min_lat <= 90 and -90 <= max_lat <= 90):
            hint = " (latitude first?)" if -90 <= min_lon <= 90 and -90 <= max_lon <= 90 else ""
            raise SelectionError(
                f"--bbox {text!r}: latitudes must be within -90..90{hint}; {usage}"
            )
        if min_lon > max_lon or min_lat > max_lat:
            raise SelectionError(f"--bbox {text!r}: a minimum is above its maximum; {usage}")
        return cls(min_lon, min_lat, max_lon, max_lat)

    def contains(self, camera: Camera) -> bool:
        return (
            self.min_lon <= camera.longitude <= self.max_lon
            and self.min_lat <= camera.latitude <= self.max_lat
        )

    def __str__(self) -> str:
        return f"{self.min_lon:g},{self.min_lat:g},{self.max_lon:g},{self.max_lat:g}"


@dataclass(frozen=True, slots=True)
class CameraSet:
    """What ``--cameras`` named: a region (preset or GeoJSON) or an explicit list of ids."""

    label: str
    region: Region | None = None
    ids: tuple[str, ...] | None = None
    geojson: bool = False


@dataclass(frozen=True, slots=True)
class SelectionRequest:
    """The selection flags, parsed. ``cameras`` is the raw ``--cameras`` value."""

    cameras: str | None = None
    bbox: BBox | None = None
    online_only: bool = False

    def describe(self) -> str:
        """The flags as the user would type them, for messages."""
        parts = []
        if self.cameras:
            parts.append(f"--cameras {self.cameras}")
        if self.bbox:
            parts.append(f"--bbox {self.bbox}")
        if self.online_only:
            parts.append("--online-only")
        return " ".join(parts) or "(no selection)"


@dataclass(frozen=True, slots=True)
class Selection:
    """The selected cameras (sorted by id), what asked for them, and the list they came from."""

    cameras: tuple[Camera, ...]
    request: SelectionRequest
    catalog: Catalog

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(camera.id for camera in self.cameras)


# --- id files ---------------------------------------------------------------------------------


def parse_id_lines(text: str) -> tuple[str, ...]:
    """Camera ids, one a line; ``#`` starts a comment; blank lines and repeats are ignored."""
    ids: dict[str, None] = {}
    for line in text.splitlines():
        value = line.split("#", 1)[0].strip()
        if value:
            ids.setdefault(value, None)
    return tuple(ids)


# --- resolving --flags ------------------------------------------------------------------------


def unknown_set_message(value: str) -> str:
    close = difflib.get_close_matches(value.lower(), list(PRESETS), n=1, cutoff=0.8)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return (
        f"unknown camera set {value!r}{hint}: use a preset ({PRESET_LIST}), "
        "a GeoJSON polygon file, or a file of camera ids"
    )


def resolve_camera_set(value: str) -> CameraSet:
    """A preset name, else an existing file: GeoJSON (a JSON object), a camera list (a JSON
    array, e.g. ``cameras --json`` output), or camera ids one a line."""
    preset = get_preset(value)
    if preset is not None:
        return CameraSet(f"preset {preset.name}", region=preset.region)
    path = Path(value).expanduser()
    if not path.exists():
        if "/" in value or path.suffix:
            raise SelectionError(
                f"--cameras {value}: no such file; pass a preset ({PRESET_LIST}), "
                "a GeoJSON file or a file of camera ids"
            )
        raise SelectionError(unknown_set_message(value))
    if not path.is_file():
        raise SelectionError(f"--cameras {value} is not a file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SelectionError(f"cannot read {value}: {exc}") from exc
    head = text.lstrip()[:1]
    if head in ("{", "["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SelectionError(
                f"{value} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            ) from exc
        if head == "{":
            return CameraSet(
                f"GeoJSON {value}", region=region_from_geojson(data, value), geojson=True
            )
        try:
            ids = tuple(camera.id for camera in parse_cameras(data, source=value))
        except CatalogError as exc:
            raise SelectionError(f"{exc}; a JSON array must be a camera list") from exc
        return CameraSet(f"camera list {value}", ids=ids)
    ids = parse_id_lines(text)
    if not ids:
        raise SelectionError(f"{value} lists no camera ids (one a line, '#' starts a comment)")
    for camera_id in ids:
        try:
            check_camera_id(camera_id, source=value)
        except CatalogError as exc:
            raise SelectionError(str(exc)) from exc
    return CameraSet(f"id file {value}", ids=ids)


def check_request(request: SelectionRequest) -> CameraSet | None:
    """Validate the flags before any list is loaded (a typo must not wait for a download):
    something must be selected, and ``--cameras`` must name a preset or a readable file."""
    if request.cameras is None and request.bbox is None:
        raise SelectionError(
            f"choose cameras with --cameras SET (a preset: {PRESET_LIST}; a GeoJSON file; "
            f"a file of ids) or --bbox MINLON,MINLAT,MAXLON,MAXLAT"
        )
    return resolve_camera_set(request.cameras) if request.cameras is not None else None


def select_cameras(cameras: Iterable[Camera], request: SelectionRequest) -> list[Camera]:
    """The cameras of a list that the request selects, sorted by id (may be empty)."""
    camera_set = check_request(request)
    chosen: Sequence[Camera] = list(cameras)
    if camera_set is not None:
        if camera_set.ids is not None:
            known = {camera.id for camera in chosen}
            missing = [camera_id for camera_id in camera_set.ids if camera_id not in known]
            if missing:
                shown = ", ".join(missing[:5]) + (
                    f" and {len(missing) - 5} more" if len(missing) > 5 else ""
                )
                raise SelectionError(
                    f"{request.cameras}: {len(missing)} camera id(s) not in the camera list: "
                    f"{shown}; check the ids or refresh the list with --catalog"
                )
            wanted = set(camera_set.ids)
            chosen = [camera for camera in chosen if camera.id in wanted]
        elif camera_set.region is not None:
            chosen = camera_set.region.select(chosen)
    if request.bbox is not None:
        chosen = [camera for camera in chosen if request.bbox.contains(camera)]
    if request.online_only:
        chosen = [camera for camera in chosen if camera.is_online is True]
    return sorted(chosen, key=lambda camera: camera.id)


def select(catalog: Catalog, request: SelectionRequest) -> Selection:
    """The selection on a loaded list; an empty result is an error that says what to try."""
    cameras = select_cameras(catalog.cameras, request)
    if not cameras:
        tips = ["a larger area or another preset"]
        if request.online_only:
            tips.append("drop --online-only")
        if request.bbox is not None:
            tips.append("check that --bbox is MINLON,MINLAT,MAXLON,MAXLAT (longitude first)")
        named = request.cameras
        if named is not None and get_preset(named) is None and resolve_camera_set(named).geojson:
            tips.append("check that GeoJSON positions are [longitude, latitude]")
        raise SelectionError(
            f"no camera matched {request.describe()} among the {len(catalog.cameras)} cameras "
            f"from {catalog.source}; try {', or '.join(tips)}"
        )
    return Selection(tuple(cameras), request, catalog)
