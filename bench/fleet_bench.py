"""Fleet benchmark: `cctview-fleet status` over 1 node and over 12 nodes of one local fleet.

    flock /tmp/cctview-bench.lock .venv/bin/python bench/fleet_bench.py [--nodes 12] [--reps 5]

Starts the local fleet (`dev up`: moto server, camera simulator, one OpenSSH sshd and one real
agent per node) under a temporary CCTVIEW_HOME, assigns one simulated camera per node so every
agent has work to report, then times, alternately and ``--reps`` times each:

- the CLI as a user runs it: ``cctview-fleet status node-01`` vs ``cctview-fleet status`` (a new
  process each time: imports, EC2 discovery, SSH, the agents' ``status --json``);
- the same command in-process (CliRunner), which leaves out interpreter start-up and imports.

It reports medians and the ratio all/one (target <= 1.5), the CLI's own CPU time (in-process, all
threads), and the SSH connections opened per node
by one ``status`` run, counted twice: by the CLI's own counter (in-process) and by each node's
sshd log ("Accepted publickey" lines, for the CLI subprocess) (target 1). Results go to
bench/results/fleet_bench.json. The fleet is stopped at the end, also on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "fleet_bench.json"
CLI = str(Path(sys.executable).parent / "cctview-fleet")


def accepted(logs: dict[str, Path]) -> dict[str, int]:
    """Publickey logins each node's sshd accepted so far."""
    return {
        node: path.read_text(errors="replace").count("Accepted publickey")
        for node, path in logs.items()
    }


def time_cli(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    run = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(f"`cctview-fleet {' '.join(args)}` failed: {run.stderr.strip()}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=12)
    parser.add_argument("--reps", type=int, default=5)
    options = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    os.environ["CCTVIEW_HOME"] = str(home)
    os.environ["CCTVIEW_STACK"] = "local"
    env = {**os.environ}

    from typer.testing import CliRunner

    from cctview_fleet.app import app
    from cctview_fleet.devfleet import fleet as devfleet
    from cctview_fleet.remote import ssh

    runner = CliRunner()

    cpu_samples: dict[str, list[float]] = {"one": [], "all": []}

    def in_process(args: list[str], kind: str | None = None) -> float:
        """Wall time of the command in this process; its CPU time (all threads) is kept too."""
        cpu = time.process_time()
        started = time.perf_counter()
        result = runner.invoke(app, args)
        elapsed = time.perf_counter() - started
        if kind is not None:
            cpu_samples[kind].append(time.process_time() - cpu)
        if result.exit_code != 0:
            raise SystemExit(f"status failed in-process: {result.output}")
        return elapsed

    try:
        started = time.perf_counter()
        state = devfleet.up(devfleet.UpOptions(nodes=options.nodes, period=60, cameras=60))
        up_seconds = time.perf_counter() - started
        first = state.node_names[0]
        sshd_logs = {
            p.node: Path(p.log) for p in state.processes if p.role == "sshd" and p.node is not None
        }
        assigned = runner.invoke(
            app, ["assign", "--cameras", "all", "--cameras-per-node", "1000", "--dry-run", "--json"]
        )
        ids = sorted(i for s in json.loads(assigned.stdout)["assignment"].values() for i in s)
        selection = home / "selection.txt"
        selection.write_text("\n".join(ids[: options.nodes]) + "\n")
        pushed = runner.invoke(
            app, ["assign", "--cameras", str(selection), "--cameras-per-node", "1"]
        )
        if pushed.exit_code != 0:
            raise SystemExit(f"assign failed: {pushed.output}")
        time.sleep(3)  # let every agent write a status with its camera

        # Warm-up: caches (page cache, sshd's first fork) must not count against the first case.
        time_cli(["status", first], env)
        time_cli(["status"], env)

        cli_one, cli_all, proc_one, proc_all = [], [], [], []
        for _ in range(options.reps):
            cli_one.append(time_cli(["status", first], env))
            cli_all.append(time_cli(["status"], env))
        for _ in range(options.reps):
            proc_one.append(in_process(["status", first], "one"))
            proc_all.append(in_process(["status"], "all"))

        # Connections per node for one `status` over all nodes.
        ssh.reset_connection_count()
        in_process(["status"])
        counted = dict(sorted(ssh.connections_opened().items()))
        before = accepted(sshd_logs)
        time_cli(["status"], env)
        after = accepted(sshd_logs)
        by_sshd = {node: after[node] - before[node] for node in sorted(after)}
    finally:
        devfleet.down()  # raises when a process would not stop; then its files stay for a look
        shutil.rmtree(home, ignore_errors=True)

    def summary(one: list[float], many: list[float]) -> dict[str, Any]:
        one_median, all_median = statistics.median(one), statistics.median(many)
        return {
            "one_node_median_s": round(one_median, 3),
            "all_nodes_median_s": round(all_median, 3),
            "ratio": round(all_median / one_median, 2),
            "one_node_samples_s": [round(x, 3) for x in one],
            "all_nodes_samples_s": [round(x, 3) for x in many],
        }

    result = {
        "benchmark": "fleet_bench",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "flock /tmp/cctview-bench.lock .venv/bin/python bench/fleet_bench.py "
        f"--nodes {options.nodes} --reps {options.reps}",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "nodes": options.nodes,
        "repetitions": options.reps,
        "dev_up_seconds": round(up_seconds, 1),
        "cli_subprocess": summary(cli_one, cli_all),
        "in_process": summary(proc_one, proc_all),
        # The CLI's own CPU (every thread of this process) per status run: what the operator's
        # machine spends; the rest of the wall time is the nodes' sshd and agent, which on this
        # machine share its cores (on AWS each node has its own).
        "in_process_client_cpu": {
            "one_node_median_s": round(statistics.median(cpu_samples["one"]), 3),
            "all_nodes_median_s": round(statistics.median(cpu_samples["all"]), 3),
        },
        "connections_per_node": {
            "cli_counter": counted,
            "sshd_accepted_logins": by_sshd,
            "max": max([*counted.values(), *by_sshd.values()]),
        },
        "targets": {"ratio_at_most": 1.5, "connections_per_node": 1},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    cli_summary, proc_summary = result["cli_subprocess"], result["in_process"]
    print(
        f"status, 1 vs {options.nodes} nodes (median of {options.reps}):\n"
        f"  CLI process : {cli_summary['one_node_median_s']:.2f} s vs "
        f"{cli_summary['all_nodes_median_s']:.2f} s  ratio {cli_summary['ratio']:.2f}\n"
        f"  in-process  : {proc_summary['one_node_median_s']:.2f} s vs "
        f"{proc_summary['all_nodes_median_s']:.2f} s  ratio {proc_summary['ratio']:.2f}\n"
        f"  client CPU  : {result['in_process_client_cpu']['one_node_median_s']:.3f} s vs "
        f"{result['in_process_client_cpu']['all_nodes_median_s']:.3f} s\n"
        f"  SSH connections per node: max {result['connections_per_node']['max']}\n"
        f"written to {RESULTS.relative_to(REPO)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
