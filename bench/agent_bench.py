"""Agent benchmark: CPU per stored frame, peak memory, punctuality and losses, against a baseline.

    flock /tmp/cctview-bench.lock .venv/bin/python bench/agent_bench.py [--cameras 21,250]
        [--duration 60] [--warmup 10] [--baseline-cameras 21] [--data-root /dev/shm]

For each N it starts the camera simulator over HTTPS on loopback (refresh 1 s: every poll can get
a new frame), runs ``cctview-agent run`` on N cameras, and measures after a warm-up:

- CPU seconds per stored frame: utime+stime deltas from /proc/<pid>/stat over the window,
  divided by the frames stored in it (the agent's status counter);
- peak RSS: VmHWM from /proc/<pid>/status at the end;
- polls on time: the share of polls started within 100 ms of their schedule (agent's status);
- frames lost: per camera, new frames the simulator served that the agent did not store (one
  request in flight at SIGTERM per camera is allowed); corrupt: stored files that are not whole
  JPEGs or whose digest the simulator never served.

The baseline (bench/baseline_collector.py: one process per camera, a new connection per frame,
a loop sleeping 1 s) runs the same way on ``--baseline-cameras`` cameras (its cost per frame does
not depend on N; 250 of its processes need more CPU than a 2-core machine has). Results go to
bench/results/agent_bench.json and a table with ratios is printed. In that measurement the agent
polls on the fixed 1 s grid (``polling = "grid"``), its historical schedule, against the easy
simulator profile, so the figures stay comparable from run to run.

``--real-service N`` (issue 10) adds the real-service measurement: the simulator's default
profile (irregular per-camera cadence, 13-38 KB frames, 150-470 ms latency, HTTPS) on N cameras,
2 % of them offline and 2 % frozen, and the agent twice in the same run, one after the other on
identical simulators (same seed): adaptive polling, then the fixed 1 Hz grid. After a warm-up
(adaptive polling learns each camera's cadence) it measures, over ``--real-duration`` seconds:
new pictures captured (from the simulator's own record of which picture versions it served: a
version never served is a picture missed), requests per new picture, CPU % of a core, CPU per
request, peak RSS, and whether every offline and frozen camera is classified so (and no healthy
one). Results go to bench/results/agent_bench_real.json.

    flock /tmp/cctview-bench.lock .venv/bin/python bench/agent_bench.py --cameras '' \
        --baseline-cameras 0 --real-service 250 [--real-warmup 240] [--real-duration 180]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cctview_agent.cameras import dump_cameras, parse_cameras  # noqa: E402
from cctview_agent.manifests import frame_digest  # noqa: E402
from tests.fixtures.camsim import running_camsim  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
RESULTS = REPO / "bench" / "results" / "agent_bench.json"
REAL_RESULTS = REPO / "bench" / "results" / "agent_bench_real.json"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def count_files(root: Path) -> int:
    return sum(
        1 for _d, _s, names in os.walk(root) for n in names if n.endswith(".jpg") and n[0] != "."
    )


def check_frames(root: Path, sim: Any, camera_ids: list[str]) -> dict[str, int]:
    """Corrupt = not a whole JPEG, or a digest the simulator never served as that camera's."""
    corrupt = stored = 0
    per_camera: dict[str, int] = {}
    for camera_id in camera_ids:
        served = {entry["digest"] for entry in sim.served(camera_id)}
        count = 0
        for dirpath, _dirs, names in os.walk(root / camera_id):
            for name in names:
                if not name.endswith(".jpg") or name.startswith("."):
                    continue
                data = (Path(dirpath) / name).read_bytes()
                count += 1
                whole = data.startswith(b"\xff\xd8") and data.rstrip(b"\x00")[-2:] == b"\xff\xd9"
                if not whole or frame_digest(data) not in served:
                    corrupt += 1
        per_camera[camera_id] = count
        stored += count
    stats = sim.stats()["cameras"]
    lost = sum(max(0, stats[c]["new"] - per_camera[c] - 1) for c in camera_ids)
    return {"stored_files": stored, "corrupt": corrupt, "lost": lost}


def write_assignment(sim: Any, path: Path, count: int) -> list[str]:
    cameras = parse_cameras(sim.cameras())[:count]
    path.write_text(dump_cameras(cameras))
    return [camera.id for camera in cameras]


def measure_agent(n: int, args: argparse.Namespace, work: Path, loop: str) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix=f"agent-{n}-{loop}-", dir=work))  # N may repeat
    data = Path(tempfile.mkdtemp(prefix=f"agent-{n}-", dir=args.data_root))
    with running_camsim(folder / "sim", cameras=n, refresh=1.0, https=not args.http) as sim:
        ids = write_assignment(sim, folder / "assignment.json", n)
        ca_line = f'ca_file = "{sim.cert_path}"\n' if sim.cert_path else ""
        config = folder / "agent.toml"
        config.write_text(
            f'data_dir = "{data}"\nassignment = "{folder / "assignment.json"}"\n'
            f'log_file = "{folder / "agent.log"}"\nstatus_file = "{folder / "status.json"}"\n'
            f"{ca_line}reserve_bytes = 0\nperiod = 3600\n"
            'polling = "grid"\nmax_requests_per_s = 2000\n'
        )
        agent = subprocess.Popen(
            [sys.executable, "-m", "cctview_agent.main", "--config", str(config), "run"],
            stdout=subprocess.DEVNULL,
            env={**os.environ, "CCTVIEW_EVENT_LOOP": loop},
        )
        try:
            status_path = folder / "status.json"

            def status() -> dict[str, Any]:
                return json.loads(status_path.read_bytes())

            time.sleep(args.warmup)
            cpu0, status0, t0 = cpu_seconds(agent.pid), status(), time.monotonic()
            time.sleep(args.duration)
            cpu1, status1, t1 = cpu_seconds(agent.pid), status(), time.monotonic()
            peak = vm_hwm_mib(agent.pid)
        finally:
            agent.send_signal(signal.SIGTERM)
            code = agent.wait(15)
        frames = status1["totals"]["frames_stored"] - status0["totals"]["frames_stored"]
        polls = status1["schedule"]["polls"] - status0["schedule"]["polls"]
        on_time = status1["schedule"]["on_time"] - status0["schedule"]["on_time"]
        check = check_frames(data / "frames", sim, ids)
    shutil.rmtree(data, ignore_errors=True)
    cpu = cpu1 - cpu0
    return {
        "collector": "agent",
        "loop": loop,
        "cameras": n,
        "window_s": round(t1 - t0, 1),
        "frames": frames,
        "cpu_s": round(cpu, 2),
        "cpu_ms_per_frame": round(cpu / frames * 1000, 4) if frames else None,
        "core_percent": round(cpu / (t1 - t0) * 100, 2),
        "peak_rss_mib": round(peak, 1),
        "polls": polls,
        "polls_on_time": round(on_time / polls, 5) if polls else None,
        "max_late_ms": status1["schedule"]["max_late_ms"],
        "frames_lost": check["lost"],
        "frames_corrupt": check["corrupt"],
        "exit_code": code,
    }


def child_pids(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def measure_baseline(n: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    folder = work / f"baseline-{n}"
    data = Path(tempfile.mkdtemp(prefix=f"baseline-{n}-", dir=args.data_root))
    folder.mkdir()
    with running_camsim(folder / "sim", cameras=n, refresh=1.0, https=not args.http) as sim:
        ids = write_assignment(sim, folder / "assignment.json", n)
        ca_args = ["--ca-file", str(sim.cert_path)] if sim.cert_path else []
        parent = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "bench" / "baseline_collector.py"),
                "--assignment",
                str(folder / "assignment.json"),
                "--out",
                str(data),
                *ca_args,
            ]
        )
        try:
            time.sleep(args.warmup)
            pids = child_pids(parent.pid)
            cpu0 = sum(cpu_seconds(p) for p in pids)
            files0, t0 = count_files(data), time.monotonic()
            time.sleep(args.duration)
            cpu1 = sum(cpu_seconds(p) for p in pids)
            files1, t1 = count_files(data), time.monotonic()
            peak = sum(vm_hwm_mib(p) for p in pids)
        finally:
            parent.send_signal(signal.SIGTERM)
            try:
                parent.wait(20)
            except subprocess.TimeoutExpired:
                parent.kill()
        check = check_frames(data, sim, ids)
    shutil.rmtree(data, ignore_errors=True)
    frames = files1 - files0
    cpu = cpu1 - cpu0
    return {
        "collector": "baseline",
        "cameras": n,
        "processes": len(pids),
        "window_s": round(t1 - t0, 1),
        "frames": frames,
        "cpu_s": round(cpu, 2),
        "cpu_ms_per_frame": round(cpu / frames * 1000, 4) if frames else None,
        "core_percent": round(cpu / (t1 - t0) * 100, 2),
        "peak_rss_mib": round(peak, 1),
        "frames_corrupt": check["corrupt"],
        # no dedup: the baseline stores repeats too, so "lost" is not comparable; not reported
    }


def table(rows: list[dict[str, Any]], baseline: dict[str, Any]) -> str:
    head = (
        f"{'collector':<17} {'N':>4} {'frames':>7} {'ms CPU/frame':>12} {'% core':>7} "
        f"{'peak RSS MiB':>12} {'on time':>8} {'lost':>5} {'corrupt':>7} {'baseline/agent':>14}"
    )
    lines = [head, "-" * len(head)]
    for row in [*rows, baseline]:
        ratio = ""
        if row["collector"] == "agent" and row["cpu_ms_per_frame"]:
            ratio = f"{baseline['cpu_ms_per_frame'] / row['cpu_ms_per_frame']:.1f}x"
        on_time = row.get("polls_on_time")
        lines.append(
            f"{row['collector'] + (' ' + row['loop'] if 'loop' in row else ''):<17} "
            f"{row['cameras']:>4} {row['frames']:>7} "
            f"{row['cpu_ms_per_frame'] or 0:>12.3f} {row['core_percent']:>7.2f} "
            f"{row['peak_rss_mib']:>12.1f} {'-' if on_time is None else f'{on_time:.2%}':>8} "
            f"{row.get('frames_lost', '-')!s:>5} {row['frames_corrupt']:>7} {ratio:>14}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", default="21,250", help="comma-separated N (21,250)")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds (60)")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before measuring")
    parser.add_argument("--baseline-cameras", type=int, default=21)
    parser.add_argument(
        "--data-root",
        default="/dev/shm" if os.path.isdir("/dev/shm") else None,
        help="where frames go (default /dev/shm: see docs/benchmarks.md)",
    )
    parser.add_argument("--http", action="store_true", help="plain HTTP instead of HTTPS")
    parser.add_argument(
        "--loops",
        default="uvloop,asyncio",
        help="event loops to measure the agent on, side by side (uvloop,asyncio)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--real-service", type=int, default=0, metavar="N", help="real-service profile, N cameras"
    )
    parser.add_argument("--real-warmup", type=float, default=240.0)
    parser.add_argument("--real-duration", type=float, default=180.0)
    parser.add_argument("--real-output", type=Path, default=REAL_RESULTS)
    args = parser.parse_args()
    if args.real_service:
        from bench.real_service import run_real_service

        run_real_service(args)
    counts = [int(n) for n in args.cameras.split(",") if n.strip()]
    if not counts:
        return 0
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="agent-bench-") as tmp:
        work = Path(tmp)
        rows = []
        loops = [name.strip() for name in args.loops.split(",") if name.strip()]
        for n in counts:
            for loop in loops:
                print(
                    f"agent on {loop}, {n} cameras: {args.warmup:.0f} s warm-up + "
                    f"{args.duration:.0f} s ...",
                    file=sys.stderr,
                )
                rows.append(measure_agent(n, args, work, loop))
        if args.baseline_cameras <= 0:  # a quick look at the agent alone
            print(json.dumps(rows, indent=1))
            return 0
        print(f"baseline, {args.baseline_cameras} cameras ...", file=sys.stderr)
        baseline = measure_baseline(args.baseline_cameras, args, work)
    print(table(rows, baseline))
    result = {
        "benchmark": "agent_bench",
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "command": "python " + " ".join(["bench/agent_bench.py", *sys.argv[1:]]),
        "machine": {
            "cpus": os.cpu_count(),
            "data_root": args.data_root,
            "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        },
        "transport": "http" if args.http else "https",
        "agent": rows,
        "baseline": baseline,
        "ratios": {
            f"{row['cameras']}-{row['loop']}": {
                "baseline_cpu_per_frame_over_agent": round(
                    baseline["cpu_ms_per_frame"] / row["cpu_ms_per_frame"], 1
                )
                if row["cpu_ms_per_frame"] and baseline["cpu_ms_per_frame"]
                else None
            }
            for row in rows
        },
        "median_agent_cpu_ms_per_frame": statistics.median(
            r["cpu_ms_per_frame"] for r in rows if r["cpu_ms_per_frame"]
        ),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
