"""The status file: what the running agent last said about itself, and how ``status`` shows it.

The agent rewrites ``status_file`` atomically every ~2 s (a JSON object, shape below). ``status``
reads it, adds whether the agent is alive (pid file lock + freshness), whether it is collecting
(``ok`` and ``problem``, from :mod:`cctview_agent.health`) and the newest sync receipt, and works
while the agent is down (the last known state with ``running: false``, ``ok: false``, the reason
in ``problem``, and the disk measured now).

    node, agent_version, pid, running, updated_at_ms, data_dir, active_volume,
    disk {total_bytes, free_bytes, used_percent, writing_paused, dropped_frames},
    open_period, last_closed_period, last_synced_period,
    totals {cameras, cameras_ok, frames_stored, frames_per_minute, duplicates, placeholders,
            failures},
    schedule {polls, on_time, late, on_time_fraction, max_late_ms},
    cameras [{id, name, state, frames_stored, duplicates, placeholders, failures {kind: n},
              last_frame_age_s, backoff_s, consecutive_failures,
              cadence {mode, period_s, spacing_s},
              restart {previous_frame_ms, first_frame_ms, gap_s, interval_s} | null}]

``restart`` (:mod:`cctview_agent.restartgap`) is each camera's gap across the agent's own start:
the previous run's newest stored frame, this run's first (null, with ``gap_s`` null, until it is
stored) and the camera's usual interval between pictures; null for a camera with no earlier
frame on the volume or one added by a reload. ``cctview-fleet upgrade`` counts the frames a
switch lost from it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from cctview_agent import __version__
from cctview_agent.atomicfile import write_atomic
from cctview_agent.config import AgentConfig
from cctview_agent.diskguard import disk_fields
from cctview_agent.health import assess
from cctview_agent.layout import DataLayout
from cctview_agent.periods import Period
from cctview_agent.pidfile import running_pid


def write_status(path: Path, status: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(status, separators=(",", ":")).encode())


def newest_receipt(root: Path) -> str | None:
    """The newest period key with a sync receipt under ``root`` (any camera), or None."""
    newest: Period | None = None
    try:
        camera_dirs = list(os.scandir(DataLayout(root).synced_root))
    except OSError:
        return None
    for camera_dir in camera_dirs:
        if not camera_dir.is_dir():
            continue
        try:
            names = os.listdir(camera_dir.path)
        except OSError:
            continue
        for name in names:
            if name.startswith(".") or not name.endswith(".json"):
                continue
            try:
                period = Period.from_key(name[: -len(".json")])
            except ValueError:
                continue
            if newest is None or period.end > newest.end:
                newest = period
    return newest.key if newest else None


def read_status(config: AgentConfig, *, now: float | None = None) -> dict[str, Any]:
    """The last status the agent wrote, completed with liveness; a stub when there is none."""
    now = time.time() if now is None else now
    try:
        status: dict[str, Any] = json.loads(config.status_file.read_bytes())
    except (OSError, ValueError):
        status = {
            "node": config.node,
            "agent_version": __version__,
            "pid": None,
            "updated_at_ms": None,
            "data_dir": str(config.data_dir),
            "disk": {**disk_fields(config.data_dir), "writing_paused": False, "dropped_frames": 0},
            "open_period": None,
            "last_closed_period": None,
            "totals": {},
            "cameras": [],
        }
    pid = running_pid(config)
    running, problem = assess(status, pid=pid, now=now)
    status["running"] = running
    status["pid"] = pid if pid is not None else status.get("pid")
    status["ok"] = running and problem is None
    status["problem"] = problem
    if not running:  # the volume is still there to measure: its numbers, not the last ones
        status["disk"] = {**(status.get("disk") or {}), **disk_fields(config.data_dir)}
    try:
        active = config.data_dir.resolve()
    except OSError:
        active = config.data_dir
    status["active_volume"] = str(active)
    status["last_synced_period"] = newest_receipt(active)
    status["log_file"] = str(config.log_file)  # `cctview-fleet logs` tails it over SSH
    return status


def format_age(seconds: float | None) -> str:
    """A frame's age the way both status tables show it: 42s, 17m, 3.5h."""
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def render_status(status: dict[str, Any]) -> str:
    """A short human report: header lines, then one line per camera."""
    disk = status.get("disk") or {}
    totals = status.get("totals") or {}
    state = "running" if status.get("running") else "NOT RUNNING"
    free = disk.get("free_bytes")
    lines = [
        f"node {status.get('node') or '-'}  agent {status.get('agent_version')}  "
        f"{state} (pid {status.get('pid') or '-'})",
        f"data {status.get('active_volume')}  free "
        f"{'-' if free is None else f'{free / 2**30:.1f} GiB'}  used "
        f"{disk.get('used_percent', '-')}%"
        + ("  WRITING PAUSED" if disk.get("writing_paused") else "")
        + f"  dropped {disk.get('dropped_frames', 0)}",
        f"periods: open {status.get('open_period') or '-'}  last closed "
        f"{status.get('last_closed_period') or '-'}  last synced "
        f"{status.get('last_synced_period') or '-'}",
        f"cameras {totals.get('cameras_ok', 0)}/{totals.get('cameras', 0)} ok  "
        f"frames {totals.get('frames_stored', 0)} ({totals.get('frames_per_minute', 0)}/min)  "
        f"duplicates {totals.get('duplicates', 0)}  placeholders "
        f"{totals.get('placeholders', 0)}  failures {totals.get('failures', 0)}",
    ]
    lines.append(_polling_line(status))
    if status.get("problem"):
        lines.append(f"problem: {status['problem']}")
    cameras = status.get("cameras") or []
    if cameras:
        lines.append("")
        lines.append(
            f"{'camera':<38} {'state':<9} {'frames':>7} {'dup':>5} {'ph':>5} "
            f"{'last':>5} {'backoff':>7}  failures"
        )
        for cam in cameras:
            failures = ", ".join(f"{k}={v}" for k, v in sorted(cam.get("failures", {}).items()))
            lines.append(
                f"{cam['id'][:38]:<38} {cam['state']:<9} {cam['frames_stored']:>7} "
                f"{cam['duplicates']:>5} {cam['placeholders']:>5} "
                f"{format_age(cam.get('last_frame_age_s')):>5} {cam.get('backoff_s', 0):>6.0f}s  "
                f"{failures or '-'}"
            )
    return "\n".join(lines)


def _polling_line(status: dict[str, Any]) -> str:
    """Offline and frozen cameras, and the request budget (issue 10's additions)."""
    totals = status.get("totals") or {}
    budget = status.get("budget") or {}
    line = (
        f"offline {totals.get('cameras_offline', 0)} ({format_age(totals.get('offline_s', 0))})  "
        f"frozen {totals.get('cameras_frozen', 0)}  same pictures "
        f"{totals.get('same_pictures', 0)}"
    )
    if budget:
        line += (
            f"  polling {budget.get('polling')}, at most {budget.get('max_requests_per_s')}/s "
            f"(peak {budget.get('peak_per_s')})"
            + ("  SLOWED BY 403" if budget.get("slowed_by_403") else "")
        )
    return line
