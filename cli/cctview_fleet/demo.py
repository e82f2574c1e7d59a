"""``make demo``: the operator's day on a local fleet, in about two minutes.

Starts a local fleet (3 nodes, 60-second periods) in a temporary CCTVIEW_HOME, shards the Lower
Manhattan cameras over it, watches frames arrive for about a minute, shows ``status``, ships
the closed periods to S3 (when ``sync-s3`` exists), says what landed where, and stops
everything again, also on Ctrl-C. Every step is the real command, run as a subprocess and echoed
as ``$ cctview-fleet ...`` so the demo doubles as a walk-through.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from cctview_agent.cameras import parse_cameras_json
from cctview_agent.layout import DataLayout
from cctview_fleet.cloud import aws
from cctview_fleet.cloud.stacks import HOME_ENV, STACK_ENV, load_stack
from cctview_fleet.devfleet.noderoots import fleet_roots, mounts_below
from cctview_fleet.devfleet.nodes import node_paths
from cctview_fleet.devfleet.processes import ProcessRecord, is_alive
from cctview_fleet.devfleet.state import FleetState, load_state
from cctview_fleet.errors import CctviewError

PRESET = "lower-manhattan"
console = Console()


class StepFailed(Exception):
    """Raised when a demo step's command exits non-zero; its output is already on screen."""


def cli_command() -> list[str]:
    beside = Path(sys.executable).parent / "cctview-fleet"
    if beside.exists():
        return [str(beside)]
    return [sys.executable, "-c", "from cctview_fleet.app import main; main()"]


def run(args: Sequence[str], env: dict[str, str], *, capture: bool = False) -> str:
    """Echo and run one ``cctview-fleet`` command; its output goes to the terminal."""
    console.print(f"\n[bold cyan]$ cctview-fleet {' '.join(args)}[/]")
    result = subprocess.run(
        [*cli_command(), *args], env=env, check=False, text=True, capture_output=capture
    )
    if result.returncode != 0:
        if capture:
            sys.stderr.write(result.stderr)
        raise StepFailed(f"`cctview-fleet {' '.join(args)}` exited with {result.returncode}")
    return result.stdout if capture else ""


def registered_commands() -> set[str]:
    """The top-level commands this installation has (sync-s3 arrives with its own feature)."""
    from cctview_fleet.app import app

    group = typer.main.get_command(app)
    return set(getattr(group, "commands", {}))


def count_selected(state: FleetState, preset: str) -> int:
    """How many cameras of the simulator's catalog the preset selects (sizes the assignment)."""
    from cctview_agent.presets import get_preset

    found = get_preset(preset)
    if found is None:
        raise StepFailed(f"no camera preset named {preset!r}")
    context = ssl.create_default_context(cafile=state.ca_file) if state.ca_file else None
    with urllib.request.urlopen(state.catalog_url, timeout=30, context=context) as response:
        cameras = parse_cameras_json(response.read(), source=state.catalog_url)
    return len(found.select(cameras))


def node_rows(payload: Any) -> list[dict[str, Any]]:
    """The per-node objects of ``status --json``, whether it prints a list or wraps one."""
    if isinstance(payload, dict):
        for key in ("nodes", "results", "status"):
            if isinstance(payload.get(key), list):
                payload = payload[key]
                break
    if not isinstance(payload, list):
        return []
    return [row for row in payload if isinstance(row, dict) and "node" in row]


def _age(value: Any) -> str:
    return f"{value:.0f} s" if isinstance(value, int | float) else "-"


def progress_table(rows: list[dict[str, Any]], elapsed: float, seconds: float) -> Table:
    table = Table(
        title=f"collecting: {elapsed:.0f} of {seconds:.0f} s",
        caption="from `cctview-fleet status --stack local --json`, every few seconds",
    )
    for column in ("node", "cameras", "online", "frames stored", "frames/min", "oldest frame"):
        table.add_column(column, justify="left" if column == "node" else "right")
    total_frames = 0
    for row in rows:
        frames = int(row.get("frames_stored") or 0)
        total_frames += frames
        table.add_row(
            str(row.get("node")),
            str(row.get("cameras_assigned", "-")),
            str(row.get("cameras_online", "-")),
            f"{frames:,}",
            f"{float(row.get('frames_per_minute') or 0):,.0f}",
            _age(row.get("oldest_frame_age_s")),
        )
    table.add_row("[bold]fleet[/]", "", "", f"[bold]{total_frames:,}[/]", "", "")
    return table


def watch(env: dict[str, str], seconds: float, interval: float = 4.0) -> None:
    """Poll ``status --json`` and redraw the per-node table until ``seconds`` have passed."""
    console.print(
        f"\n[bold cyan]$ cctview-fleet status --stack local --json[/]  "
        f"[dim](every {interval:.0f} s for {seconds:.0f} s)[/]"
    )
    start = time.monotonic()
    rows: list[dict[str, Any]] = []
    with Live(progress_table(rows, 0, seconds), console=console, refresh_per_second=2) as live:
        while (elapsed := time.monotonic() - start) < seconds:
            result = subprocess.run(
                [*cli_command(), "status", "--stack", "local", "--json"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if result.stdout.strip():
                with contextlib.suppress(json.JSONDecodeError):  # garbled: keep the last table
                    rows = node_rows(json.loads(result.stdout)) or rows
            live.update(progress_table(rows, elapsed, seconds))
            time.sleep(max(0.0, min(interval, seconds - (time.monotonic() - start))))
        live.update(progress_table(rows, time.monotonic() - start, seconds))


def landed(state: FleetState) -> Table:
    """What is where now: frames and closed periods on each node, objects in the bucket."""
    table = Table(
        title="what landed where",
        caption="node data folders: "
        + ", ".join(str(node_paths(n.folder, n.root).data) for n in state.nodes[:1])
        + (" and the other nodes' alike" if len(state.nodes) > 1 else ""),
    )
    for column in ("where", "frames", "closed camera-periods", "tars in S3", "bytes"):
        table.add_column(column, justify="left" if column == "where" else "right")
    for node in state.nodes:
        layout = DataLayout(node_paths(node.folder, node.root).data)
        frames = list(layout.frames_root.rglob("*.jpg")) if layout.frames_root.exists() else []
        closed = sum(1 for _ in layout.manifests()) if layout.manifests_root.exists() else 0
        size = sum(f.stat().st_size for f in frames)
        table.add_row(node.name, f"{len(frames):,}", f"{closed:,}", "", f"{size:,}")
    try:
        stack = load_stack("local")
        with aws.translate_errors(stack, "s3", f"listing s3://{stack.bucket}"):
            pages = aws.s3(stack).get_paginator("list_objects_v2").paginate(Bucket=stack.bucket)
            objects = [obj for page in pages for obj in page.get("Contents", [])]
    except CctviewError as error:  # informative only: say why S3 is not shown
        table.add_row(f"s3: not listed ({error})", "", "", "", "")
        return table
    tars = [o for o in objects if o["Key"].endswith(".tar")]
    manifests = sum(1 for o in objects if o["Key"].endswith(".manifest.json"))
    table.add_row(
        f"s3://{stack.bucket}/{stack.prefix}",
        "",
        f"{manifests:,} manifests",
        f"{len(tars):,}",
        f"{sum(int(o['Size']) for o in tars):,}",
    )
    return table


def left_behind(records: Sequence[ProcessRecord]) -> list[ProcessRecord]:
    return [record for record in records if is_alive(record)]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m cctview_fleet.demo", description=__doc__)
    parser.add_argument("--nodes", type=int, default=3, help="local nodes (3)")
    parser.add_argument("--period", type=int, default=60, help="agent period in seconds (60)")
    parser.add_argument("--seconds", type=float, default=75, help="collection time (75)")
    parser.add_argument("--cameras", type=int, help="synthetic cameras to simulate (900)")
    parser.add_argument("--keep", action="store_true", help="keep the demo's folder afterwards")
    parser.add_argument(
        "--single-user",
        action="store_true",
        help="single-user nodes even as root (dev up --single-user): no Debian first boot",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="cctview-demo-"))
    os.environ[HOME_ENV] = str(home)  # this process reads the fleet's state and stack too
    os.environ.pop(STACK_ENV, None)
    env = {**os.environ, HOME_ENV: str(home)}
    console.rule("[bold]cctview-fleet demo: a local fleet collects Lower Manhattan")
    console.print(f"everything lives in {home} (CCTVIEW_HOME) and is stopped at the end")
    started = time.monotonic()
    records: list[ProcessRecord] = []
    code = 0
    try:
        up = ["dev", "up", "--nodes", str(args.nodes), "--period", str(args.period)]
        if args.cameras:
            up += ["--cameras", str(args.cameras)]
        if args.single_user:
            up.append("--single-user")
        run(up, env)
        state = load_state()
        if state is None:
            raise StepFailed("dev up left no state file")
        records = list(state.processes)
        selected = count_selected(state, PRESET)
        per_node = max(1, math.ceil(selected / args.nodes))
        console.print(
            f"\n[dim]{selected} cameras of the simulator's catalog are in {PRESET}: "
            f"{per_node} a node for {args.nodes} nodes[/]"
        )
        commands = registered_commands()
        assign = ["assign", "--stack", "local", "--cameras", PRESET]
        run([*assign, "--cameras-per-node", str(per_node)], env)
        watch(env, args.seconds)
        run(["status", "--stack", "local"], env)
        if "logs" in commands:
            run(["logs", "--stack", "local", "--no-follow", "--tail", "2"], env)
        if "sync-s3" in commands:
            run(["sync-s3", "--stack", "local"], env)
        else:
            console.print("\n[dim]sync-s3 is not part of this installation yet: skipped[/]")
        console.print()
        console.print(landed(state))
    except StepFailed as failure:
        console.print(f"[red]demo step failed: {failure}[/]")
        code = 1
    except KeyboardInterrupt:
        console.print("\n[yellow]interrupted: stopping the local fleet[/]")
        code = 130
    finally:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a 2nd Ctrl-C must not skip this
        records = records or list(getattr(load_state(), "processes", ()))
        try:
            run(["dev", "down"], env)
        except StepFailed as failure:
            console.print(f"[red]{failure}; stopping the fleet from here[/]")
            from cctview_fleet.devfleet.fleet import down

            down()
        remaining = left_behind(records)
        if remaining:
            names = ", ".join(f"{r.name} (pid {r.pid})" for r in remaining)
            console.print(f"[red]still running: {names}[/]")
            code = code or 1
        else:
            console.print(f"no process left behind ({len(records)} started, all stopped)")
        mounts = mounts_below(fleet_roots(str((home / "local").absolute())))
        if mounts:
            console.print(f"[red]still mounted: {', '.join(map(str, mounts))}[/]")
            code = code or 1
        else:
            console.print("no mount left behind")
        if args.keep:
            console.print(f"the demo's files are kept in {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
        console.print(f"demo took {time.monotonic() - started:.0f} s")
        signal.signal(signal.SIGINT, previous)
    return code


if __name__ == "__main__":
    sys.exit(main())
