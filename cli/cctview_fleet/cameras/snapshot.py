"""The NYC DOT camera list the CLI carries with it: a real API response from 2025-04-04.

A machine that has never reached ``https://webcams.nyctmc.org/api/cameras`` (no network on a
first run, or the API down) still needs a list for ``cameras``, ``plan`` and ``assign``; the
snapshot is the last fallback after the XDG cache, with a warning that names its date, because
cameras come and go (the snapshot lists 922). It is the
raw response, byte for byte (``data/README.md`` says where it comes from), so it also serves as
the catalog parser's test data and as a real list for the camera simulator (``--catalog``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

SNAPSHOT_FILE = "nyc-dot-cameras-2025-04-04.json"
# The day the file was committed to its source repository; the response itself has no timestamp.
SNAPSHOT_DATE = datetime(2025, 4, 4, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Where the packaged list is on disk and the day it was fetched."""

    path: Path
    fetched_at: datetime


def packaged_snapshot() -> Snapshot:
    """The snapshot installed with the ``cctview_fleet`` package (package data, see
    pyproject.toml); a real path, since the package is installed as files, never zipped."""
    path = Path(str(resources.files("cctview_fleet") / "data" / SNAPSHOT_FILE))
    return Snapshot(path=path, fetched_at=SNAPSHOT_DATE)
