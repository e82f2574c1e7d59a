"""How long `cctview-fleet` takes to start: `--version`, `--help` and `cameras --help`.

Every call of the operator's CLI pays its start-up, so `--help` must feel instant. This runs each
command as a fresh process, this checkout's code beside a baseline (by default the commit before
the command modules stopped importing boto3 and paramiko at their top), interleaved so that load
on the machine hits both alike, and reports medians and the ratio to `cctview-agent --version`
(the node CLI, which imports almost nothing). The baseline's `cli/` and `agent/` are exported with
`git archive` into a temporary folder and put first on PYTHONPATH; both run on the same venv.
Writes bench/results/startup_bench.json.

    .venv/bin/python bench/startup_bench.py --runs 15
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASELINE = "bc05bb4"  # main before issue 14's first parts (shared constants, fast start)
FLEET = "import sys; from cctview_fleet.app import main; sys.argv[0] = 'cctview-fleet'; main()"
AGENT = "import sys; from cctview_agent.main import main; sys.exit(main())"
CASES = {
    "agent --version": (AGENT, ["--version"]),
    "fleet --version": (FLEET, ["--version"]),
    "fleet --help": (FLEET, ["--help"]),
    "fleet cameras --help": (FLEET, ["cameras", "--help"]),
}


def export(ref: str, into: Path) -> Path:
    """``cli/`` and ``agent/`` of ``ref``, as files under ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref, "cli", "agent"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def run_once(root: Path, code: str, args: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": f"{root / 'cli'}:{root / 'agent'}", "COLUMNS": "80"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{args} failed under {root}: {done.stderr.decode()[-400:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="processes per case and checkout")
    parser.add_argument("--baseline", default=BASELINE, help="git ref to compare against")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        roots = {"current": REPO, "baseline": export(options.baseline, Path(tmp))}
        times: dict[str, dict[str, list[float]]] = {k: {c: [] for c in CASES} for k in roots}
        for root in roots.values():  # warm-up: byte-compile both trees
            for code, args in CASES.values():
                run_once(root, code, args)
        for _ in range(options.runs):
            for which, root in roots.items():
                for case, (code, args) in CASES.items():
                    times[which][case].append(run_once(root, code, args))
    medians = {
        which: {case: round(statistics.median(ts), 4) for case, ts in by_case.items()}
        for which, by_case in times.items()
    }
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "runs": options.runs,
        "baseline": options.baseline,
        "median_seconds": medians,
        "ratio_to_agent_version": {
            which: {
                case: round(m / by_case["agent --version"], 2)
                for case, m in by_case.items()
                if case != "agent --version"
            }
            for which, by_case in medians.items()
        },
        "current_over_baseline": {
            case: round(medians["current"][case] / medians["baseline"][case], 2) for case in CASES
        },
    }
    out = REPO / "bench" / "results" / "startup_bench.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
