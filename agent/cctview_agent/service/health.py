"""Is this node collecting? The one-line reason ``status`` gives when it is not.

A status full of numbers can look fine while nothing is stored: every camera failing on one
cause (a dead simulator port, a blocked network), or no frame written for a minute while cameras
are live, or an agent that stopped writing its status at all. :func:`assess` turns the agent's
status into ``None`` (collecting) or the reason, e.g. ``0 of 78 cameras reachable: connect:
Cannot connect to host 127.0.0.1:33753``, so ``cctview-agent status`` and ``cctview-fleet
status`` flag the node instead of printing its last numbers as if live.

Thresholds: the status file is stale after the agent's own limit (``STALE_AFTER_S``, it rewrites
the file every ~2 s); "nothing stored" needs a full minute (``NOTHING_STORED_S``) without a frame
while some camera is live (any state but ``offline`` and ``stopped``), counted from the agent's
start when no frame was stored yet, so a fresh start or a reassignment is not a problem.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cctview_agent.polling.camerastate import CameraState

STALE_AFTER_S = 10.0  # a status older than this means the agent is hung or gone
NOTHING_STORED_S = 60.0
NOT_LIVE: tuple[CameraState, ...] = ("offline", "stopped")


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def down_reason(status: dict[str, Any], *, pid: int | None, now: float) -> str | None:
    """Why the agent is not running (None when it is): never started, stopped, or hung."""
    updated = status.get("updated_at_ms")
    if updated is None:
        if pid is not None:
            return f"agent pid {pid} holds the pid file but has written no status"
        return "agent is not running (it has written no status yet)"
    age = max(now - updated / 1000, 0.0)
    if age <= STALE_AFTER_S:
        return None if pid is not None else "agent is not running (its pid file is not held)"
    if pid is not None:
        return (
            f"agent pid {pid} holds the pid file but its status is {_age(age)} old "
            f"(limit {STALE_AFTER_S:g} s): hung"
        )
    return f"agent is not running; its last status is {_age(age)} old"


def collecting_problem(status: dict[str, Any], *, now: float) -> str | None:
    """Why a running agent stores nothing (None when it does, or has no cameras)."""
    cameras = [c for c in status.get("cameras") or [] if isinstance(c, dict)]
    if not cameras:
        return None
    failing = [c for c in cameras if c.get("state") == "failing"]
    if len(failing) == len(cameras):
        causes = Counter(str(c.get("last_failure") or "unknown failure") for c in failing)
        cause, count = causes.most_common(1)[0]
        more = "" if count == len(failing) else f" ({count} of them; other causes too)"
        return f"0 of {len(cameras)} cameras reachable: {cause}{more}"
    live = [c for c in cameras if c.get("state") not in NOT_LIVE]
    if not live:
        return None  # every camera is offline: the city's side, not the node's
    ages = [c.get("last_frame_age_s") for c in cameras]
    known = [age for age in ages if isinstance(age, int | float)]
    started = status.get("started_at_ms")
    if known:
        quiet = min(known)
    elif isinstance(started, int | float):
        quiet = now - started / 1000
    else:
        return None
    if quiet < NOTHING_STORED_S:
        return None
    disk = status.get("disk") or {}
    why = "; writing is paused (disk below its reserve)" if disk.get("writing_paused") else ""
    return (
        f"no frame stored for {_age(quiet)} while {len(live)} of {len(cameras)} cameras "
        f"are live{why}"
    )


def assess(status: dict[str, Any], *, pid: int | None, now: float) -> tuple[bool, str | None]:
    """``(running, problem)``: whether the agent is alive, and what is wrong (None: nothing)."""
    down = down_reason(status, pid=pid, now=now)
    if down is not None:
        return False, down
    return True, collecting_problem(status, now=now)
