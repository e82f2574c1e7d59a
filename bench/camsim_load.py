"""CPU the camera simulator needs to serve the agent benchmark's load: 250 cameras, 1 fps, HTTPS.

The agent benchmark runs the simulator on the same two-core machine as the agent it measures, so
the simulator must stay well under half a core. This starts the real ``cctview-camsim`` with
``--https --cameras 250 --refresh 1``, polls every camera from one keep-alive aiohttp session at
``--poll`` requests per second per camera, and reads the simulator's own CPU time (utime+stime
from /proc) over the measured window. It runs once per poll rate: 1/s (one request per frame,
as a collector on a 1 s grid) and 2/s (every frame seen at least once, half the answers
repeats). Writes bench/results/camsim_load.json.

    flock /tmp/cctview-bench.lock .venv/bin/python bench/camsim_load.py [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import ssl
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


def start(cameras: int, refresh: float) -> tuple[subprocess.Popen[str], str, str]:
    argv = [sys.executable, "-m", "cctview_camsim.main", "--https", "--port", "0"]
    process = subprocess.Popen(
        [*argv, "--cameras", str(cameras), "--profile", "easy", "--refresh", str(refresh)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().split()[-1]
    cert = process.stdout.readline().split()[-1]
    return process, url, cert


async def load(url: str, cert: str, seconds: float, warmup: float, poll: float, pid: int) -> dict:
    context = ssl.create_default_context(cafile=cert)
    connector = aiohttp.TCPConnector(limit=0, ssl=context)
    counts = {"requests": 0, "errors": 0, "bytes": 0}
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get(f"{url}/api/cameras") as response:
            ids = [camera["id"] for camera in await response.json()]
        measuring = asyncio.Event()

        async def poller(camera_id: str) -> None:
            await asyncio.sleep(random.uniform(0, 1 / poll))
            next_at = time.monotonic()
            while True:
                try:
                    async with session.get(
                        f"{url}/api/cameras/{camera_id}/image?t={time.time_ns() // 1_000_000}"
                    ) as response:
                        body = await response.read()
                    if measuring.is_set():
                        counts["requests"] += 1
                        counts["bytes"] += len(body)
                        counts["errors"] += response.status != 200
                except aiohttp.ClientError:
                    counts["errors"] += 1
                next_at += 1 / poll
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

        tasks = [asyncio.create_task(poller(camera_id)) for camera_id in ids]
        await asyncio.sleep(warmup)
        async with session.get(f"{url}/_sim/stats") as response:
            before = (await response.json())["totals"]
        cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
        measuring.set()
        await asyncio.sleep(seconds)
        cpu_after, wall_after = cpu_seconds(pid), time.monotonic()
        measuring.clear()
        async with session.get(f"{url}/_sim/stats") as response:
            after = (await response.json())["totals"]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    wall = wall_after - wall_before
    user = cpu_after[0] - cpu_before[0]
    system = cpu_after[1] - cpu_before[1]
    cpu = user + system
    new = after["new"] - before["new"]
    served = new + after["repeat"] - before["repeat"]
    return {
        "cameras": len(ids),
        "window_s": round(wall, 2),
        "requests_per_s": round(served / wall, 1),
        "new_frames_per_s": round(new / wall, 1),
        "client_errors": counts["errors"],
        "mib_per_s": round(counts["bytes"] / wall / 2**20, 2),
        "simulator_cpu_s": round(cpu, 2),
        "simulator_user_s": round(user, 2),
        "simulator_system_s": round(system, 2),
        "simulator_cores": round(cpu / wall, 3),
        "cpu_ms_per_request": round(1000 * cpu / max(served, 1), 3),
        "cpu_ms_per_new_frame": round(1000 * cpu / max(new, 1), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=250)
    parser.add_argument("--refresh", type=float, default=1.0)
    parser.add_argument(
        "--poll", type=float, nargs="+", default=[1.0, 2.0], help="requests/s per camera"
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "camsim_load.json")
    args = parser.parse_args()
    runs = []
    for poll in args.poll:
        process, url, cert = start(args.cameras, args.refresh)
        try:
            result = asyncio.run(load(url, cert, args.seconds, args.warmup, poll, process.pid))
        finally:
            process.terminate()
            process.wait(10)
        runs.append({"poll_per_camera_per_s": poll, **result})
        print(json.dumps(runs[-1]))
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "command": " ".join(["bench/camsim_load.py", *sys.argv[1:]]),
        "refresh_s": args.refresh,
        "https": True,
        "cpus": os.cpu_count(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "runs": runs,
    }
    args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
