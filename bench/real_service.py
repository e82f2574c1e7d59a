"""The agent against the real-service simulator profile: adaptive polling and the 1 Hz grid.

Run by ``bench/agent_bench.py --real-service N`` (its docstring says what is measured and how).
Each policy gets its own simulator with the same seed (same cameras, cadences, faults), so the two
rows see the same service; they run one after the other on the same machine in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.agent_bench import cpu_seconds, vm_hwm_mib, write_assignment
from tests.fixtures.camsim import running_camsim

FAULTS = "offline=0.02,frozen=0.02"
SEED = 10
POLICIES = {
    # Adaptive: 3 requests a second per camera, so that about a quarter of the cameras can learn
    # at once while the rest poll at 1 Hz waiting for their turn (scheduler.LearningSlots); the
    # steady state, once learned, is far below (the result's requests_per_s_all_cameras).
    "adaptive": 'polling = "adaptive"\nmax_requests_per_s = {budget}\n',
    "grid": 'polling = "grid"\npoll_interval = 1.0\nmax_requests_per_s = {budget}\n',
}


def _versions(sim: Any, camera_id: str) -> list[int]:
    return [entry["version"] for entry in sim.served(camera_id)]


def _requests(stats: dict[str, Any]) -> int:
    return stats["new"] + stats["repeat"] + sum(stats["faults"].values())


def measure(n: int, policy: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix=f"real-{policy}-", dir=work))
    data = Path(tempfile.mkdtemp(prefix=f"real-{policy}-", dir=args.data_root))
    budget = 1000 if policy == "grid" else 3 * n
    warmup = args.real_warmup if policy == "adaptive" else min(args.real_warmup, 70.0)
    options = {"cameras": n, "profile": "real", "https": True, "faults": FAULTS, "seed": SEED}
    with running_camsim(folder / "sim", **options) as sim:
        ids = write_assignment(sim, folder / "assignment.json", n)
        faults = sim.get_json("/_sim/faults")["cameras"]
        healthy = [camera_id for camera_id in ids if camera_id not in faults]
        config = folder / "agent.toml"
        config.write_text(
            f'data_dir = "{data}"\nassignment = "{folder / "assignment.json"}"\n'
            f'log_file = "{folder / "agent.log"}"\nstatus_file = "{folder / "status.json"}"\n'
            f'ca_file = "{sim.cert_path}"\nreserve_bytes = 0\nperiod = 3600\ntimeout = 5\n'
            f'contact = "bench@localhost"\n' + POLICIES[policy].format(budget=budget)
        )
        agent = subprocess.Popen(
            [sys.executable, "-m", "cctview_agent.main", "--config", str(config), "run"],
            stdout=subprocess.DEVNULL,
            env={**os.environ, "CCTVIEW_EVENT_LOOP": "uvloop"},
        )
        try:

            def status() -> dict[str, Any]:
                return json.loads((folder / "status.json").read_bytes())

            time.sleep(warmup)
            served0 = {camera_id: _versions(sim, camera_id) for camera_id in healthy}
            cpu0, status0, sim0 = cpu_seconds(agent.pid), status(), sim.stats()
            sim_cpu0, t0 = cpu_seconds(sim.process.pid), time.monotonic()
            time.sleep(args.real_duration)
            cpu1, status1, sim1 = cpu_seconds(agent.pid), status(), sim.stats()
            sim_cpu1, t1 = cpu_seconds(sim.process.pid), time.monotonic()
            served1 = {camera_id: _versions(sim, camera_id) for camera_id in healthy}
            peak = vm_hwm_mib(agent.pid)
        finally:
            agent.send_signal(signal.SIGTERM)
            code = agent.wait(30)
    shutil.rmtree(data, ignore_errors=True)
    window = t1 - t0
    cpu = cpu1 - cpu0
    captured = missed = 0
    for camera_id in healthy:
        before = max(served0[camera_id], default=None)
        after = served1[camera_id]
        if not after:
            continue
        start = before if before is not None else min(after) - 1
        seen = [v for v in after if v > start]
        captured += len(seen)
        missed += (max(after) - start) - len(seen)
    cams0, cams1 = sim0["cameras"], sim1["cameras"]
    requests_healthy = sum(_requests(cams1[c]) - _requests(cams0[c]) for c in healthy)
    new_healthy = sum(cams1[c]["new"] - cams0[c]["new"] for c in healthy)
    requests_all = sum(_requests(cams1[c]) - _requests(cams0[c]) for c in ids)
    states = {camera["id"]: camera["state"] for camera in status1["cameras"]}
    offline = [c for c, kind in faults.items() if kind == "offline"]
    frozen = [c for c, kind in faults.items() if kind == "frozen"]
    tracking = sum(1 for camera in status1["cameras"] if camera["cadence"]["mode"] == "tracking")
    polls = status1["schedule"]["polls"] - status0["schedule"]["polls"]
    return {
        "policy": policy,
        "cameras": n,
        "healthy_cameras": len(healthy),
        "warmup_s": warmup,
        "window_s": round(window, 1),
        "pictures_shown": captured + missed,
        "pictures_captured": captured,
        "captured_fraction": round(captured / (captured + missed), 5) if captured else None,
        "requests_per_new_picture": round(requests_healthy / new_healthy, 3)
        if new_healthy
        else None,
        "requests_per_s_all_cameras": round(requests_all / window, 1),
        "agent_polls": polls,
        "cpu_s": round(cpu, 2),
        "core_percent": round(cpu / window * 100, 2),
        "cpu_ms_per_request": round(cpu / polls * 1000, 4) if polls else None,
        "peak_rss_mib": round(peak, 1),
        "simulator_core_percent": round((sim_cpu1 - sim_cpu0) / window * 100, 2),
        "offline_classified": f"{sum(states.get(c) == 'offline' for c in offline)}/{len(offline)}",
        "frozen_classified": f"{sum(states.get(c) == 'frozen' for c in frozen)}/{len(frozen)}",
        "healthy_misclassified": sum(states.get(c) in ("offline", "frozen") for c in healthy),
        "cameras_tracking_cadence": tracking,
        "budget_peak_per_s": status1["budget"]["peak_per_s"],
        "retry_after_ignored": sim1["totals"]["retry_after_ignored"],
        "exit_code": code,
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'policy':<9} {'N':>4} {'captured':>9} {'req/new':>8} {'req/s':>7} {'% core':>7} "
        f"{'ms CPU/req':>10} {'RSS MiB':>8} {'offline':>8} {'frozen':>7} {'misclass':>8}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        lines.append(
            f"{row['policy']:<9} {row['cameras']:>4} {row['captured_fraction']:>9.2%} "
            f"{row['requests_per_new_picture']:>8.2f} {row['requests_per_s_all_cameras']:>7.1f} "
            f"{row['core_percent']:>7.2f} {row['cpu_ms_per_request']:>10.3f} "
            f"{row['peak_rss_mib']:>8.1f} {row['offline_classified']:>8} "
            f"{row['frozen_classified']:>7} {row['healthy_misclassified']:>8}"
        )
    return "\n".join(lines)


def run_real_service(args: argparse.Namespace) -> None:
    n = args.real_service
    load_before = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="agent-bench-real-") as tmp:
        for policy in ("adaptive", "grid"):
            print(f"real service, {policy}, {n} cameras ...", file=sys.stderr)
            rows.append(measure(n, policy, args, Path(tmp)))
    print(table(rows))
    adaptive, grid = rows
    result = {
        "benchmark": "agent_bench real-service",
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "command": "python " + " ".join(["bench/agent_bench.py", *sys.argv[1:]]),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        },
        "simulator": {"profile": "real", "https": True, "faults": FAULTS, "seed": SEED},
        "rows": rows,
        "ratios": {
            "adaptive_cpu_over_grid_cpu": round(adaptive["cpu_s"] / grid["cpu_s"], 3)
            if grid["cpu_s"]
            else None,
            "grid_requests_over_adaptive_requests": round(
                grid["requests_per_s_all_cameras"] / adaptive["requests_per_s_all_cameras"], 2
            )
            if adaptive["requests_per_s_all_cameras"]
            else None,
        },
        "targets": {
            "captured_fraction": ">= 0.99",
            "requests_per_new_picture": "<= 1.3",
            "adaptive_cpu_over_grid_cpu": "<= 0.5",
            "core_percent": "<= 5",
            "peak_rss_mib": "<= 80",
        },
    }
    args.real_output.parent.mkdir(parents=True, exist_ok=True)
    args.real_output.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.real_output}", file=sys.stderr)
