"""What a sync run is asked to do (:class:`SyncOptions`), and the callback its steps report to.

Its own module because all three steps read it (finding what is pending, shipping it, and the
run that ties them): the steps import it, never each other's driver.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cctview_agent.sync.receipts import SyncTarget

Emit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """Where to and how: the bucket and prefix, this node's name, and the safety switches."""

    bucket: str
    prefix: str = "cctview"
    node: str = ""
    delete_local: bool = False
    # Retention: delete the local copy of verified periods that ended more than this many seconds
    # ago (a node's disk holds the recent hours for a quick look, S3 holds everything).
    retain_seconds: float | None = None
    dry_run: bool = False
    bwlimit: float = 0.0  # bytes per second, 0 = unlimited
    endpoint_url: str | None = None
    region: str | None = None
    multipart_threshold: int | None = None
    part_size: int | None = None
    # The fleet's own bucket and prefix (the agent config's); None: this run's target is taken as
    # the fleet's (``--data`` without a config). Deletions need receipts for the fleet's target.
    fleet: SyncTarget | None = None

    @property
    def target(self) -> SyncTarget:
        return SyncTarget(self.bucket, self.prefix)


def default_node() -> str:
    """This machine's name, for data folders whose config names no node."""
    return os.uname().nodename.split(".")[0] or "local"
