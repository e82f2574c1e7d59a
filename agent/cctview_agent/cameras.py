"""The camera model: one NYC DOT camera, parsed from the API's shape or the project's own.

The webcams.nyctmc.org API returns ``{id, name, latitude, longitude, area, isOnline, imageUrl}``
with ``isOnline`` as the *string* ``"true"``/``"false"``. The project writes cameras in a
normalized shape (``is_online`` a bool, ``image_url``) — the shape ``cctview-fleet cameras --json``
prints and an agent's assignment file holds — and reads either.

A camera id becomes a folder name on every node (frames, manifests, receipts, journals) and part
of every S3 key, and it comes from outside (the catalog, an assignment). So a :class:`Camera`
cannot exist with an id outside :data:`CAMERA_ID`: one name of letters, digits, ``.``, ``_`` and
``-``, starting with a letter or digit (no ``..``, no ``/``, no hidden name). The NYC DOT ids are
UUIDs; the pattern is wider on purpose so other catalogs (and the simulator's ids) still fit.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cctview_agent.errors import CameraIdError, CatalogError

CAMERA_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
CAMERA_ID_RULE = "1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"


def check_camera_id(value: str, *, source: str | None = None) -> str:
    """``value`` if it is a safe camera id; else a CameraIdError that names it and the rule."""
    if not isinstance(value, str) or CAMERA_ID.fullmatch(value) is None:
        where = f"{source}: " if source else ""
        raise CameraIdError(
            f"{where}camera id {value!r} is not allowed (ids are {CAMERA_ID_RULE})",
            camera_id=str(value),
            source=source,
        )
    return value


@dataclass(frozen=True, slots=True)
class Camera:
    """One traffic camera. ``area`` is the API's label, which is wrong for a few bridge cameras."""

    id: str
    name: str
    latitude: float
    longitude: float
    area: str | None = None
    is_online: bool | None = None
    image_url: str | None = None

    def __post_init__(self) -> None:
        check_camera_id(self.id)

    def to_dict(self) -> dict[str, Any]:
        """The normalized JSON shape (``cameras --json`` and assignment files)."""
        return {
            "id": self.id,
            "name": self.name,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "area": self.area,
            "is_online": self.is_online,
            "image_url": self.image_url,
        }

    def to_api_dict(self) -> dict[str, Any]:
        """The webcams.nyctmc.org API shape, ``isOnline`` as a string (the camera simulator)."""
        return {
            "id": self.id,
            "name": self.name,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "area": self.area,
            "isOnline": "true" if self.is_online else "false",
            "imageUrl": self.image_url,
        }


def _parse_online(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _parse_coordinate(record: Mapping[str, Any], key: str, index: int) -> float:
    value: Any = record.get(key)  # JSON: float() below rejects what is not a number
    try:
        number = float(value)  # the API sends numbers; some mirrors send strings
    except (TypeError, ValueError):
        raise CatalogError(
            f"camera #{index} ({record.get('id', '?')}) has no valid {key!r}: {value!r}"
        ) from None
    if not math.isfinite(number):
        raise CatalogError(f"camera #{index} ({record.get('id', '?')}) has {key} {value!r}")
    return number


def parse_camera(record: Any, index: int = 0) -> Camera:
    """One camera from a record in either the API's or the normalized shape."""
    if not isinstance(record, Mapping):
        raise CatalogError(f"camera #{index} is not a JSON object but {type(record).__name__}")
    camera_id = record.get("id")
    if camera_id is None or str(camera_id).strip() == "":
        raise CatalogError(f"camera #{index} has no 'id'")
    check_camera_id(str(camera_id), source=f"camera #{index}")
    area = record.get("area")
    image_url = record.get("image_url", record.get("imageUrl"))
    online = record["is_online"] if "is_online" in record else record.get("isOnline")
    return Camera(
        id=str(camera_id),
        name=str(record.get("name") or ""),
        latitude=_parse_coordinate(record, "latitude", index),
        longitude=_parse_coordinate(record, "longitude", index),
        area=str(area) if area not in (None, "") else None,
        is_online=_parse_online(online),
        image_url=str(image_url) if image_url else None,
    )


def parse_cameras(
    data: Any, *, source: str = "catalog", skip_bad_id: Callable[[str], None] | None = None
) -> list[Camera]:
    """Every camera in a JSON array; duplicate ids are an error (assignments key on them).

    A record whose id is not a safe id is an error too, unless ``skip_bad_id`` is given: then it
    is left out and ``skip_bad_id`` gets one line naming it (the catalog: one bad entry upstream
    must not stop the operator; an assignment is refused whole instead)."""
    if isinstance(data, Mapping) and isinstance(data.get("cameras"), list):
        data = data["cameras"]
    if not isinstance(data, list):
        raise CatalogError(
            f"{source} is not a JSON array of cameras (got {type(data).__name__})", source=source
        )
    cameras: list[Camera] = []
    seen: set[str] = set()
    for index, record in enumerate(data):
        try:
            camera = parse_camera(record, index)
        except CameraIdError as exc:
            if skip_bad_id is None:
                raise CameraIdError(
                    f"{source}: {exc}", camera_id=exc.camera_id, source=source
                ) from exc
            skip_bad_id(f"{source}: skipped {exc}")
            continue
        except CatalogError as exc:
            raise CatalogError(f"{source}: {exc}", source=source) from exc
        if camera.id in seen:
            raise CatalogError(f"{source}: camera id {camera.id} appears twice", source=source)
        seen.add(camera.id)
        cameras.append(camera)
    return cameras


def parse_cameras_json(
    text: str | bytes,
    *,
    source: str = "catalog",
    skip_bad_id: Callable[[str], None] | None = None,
) -> list[Camera]:
    """Cameras from JSON text; a syntax error names the source and the position."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{source} is not valid JSON: {exc}", source=source) from exc
    return parse_cameras(data, source=source, skip_bad_id=skip_bad_id)


def load_cameras(path: Path, *, skip_bad_id: Callable[[str], None] | None = None) -> list[Camera]:
    """Cameras from a file (an API response, a ``cameras --json`` output or an assignment)."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise CatalogError(
            f"cannot read camera list {path}: {exc.strerror or exc}", source=str(path)
        ) from exc
    return parse_cameras_json(text, source=str(path), skip_bad_id=skip_bad_id)


def dump_cameras(cameras: Iterable[Camera]) -> str:
    """The normalized JSON array, as ``cameras --json`` prints it and agents read it."""
    return json.dumps([camera.to_dict() for camera in cameras], indent=1, ensure_ascii=False)
