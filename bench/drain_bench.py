"""Drain benchmark: what counting every file costs, against the walk it replaced.

    flock /tmp/cctview-bench.lock .venv/bin/python bench/drain_bench.py [--cameras 21]
        [--hours 6] [--runs 5] [--data-root /dev/shm]

``drain_status`` decides whether a volume may be retired. Since the hardening (issue 11, finding
1) it counts every file under ``frames/`` (:func:`cctview_agent.volumes.drain._frame_files`), so a
frame
outside the layout keeps the volume. The baseline is the walk before it (main at e5426fa, copied
below as ``baseline_open_periods``): it listed only ``<camera>/<day>/<hour>`` folders and skipped
hours whose periods all had a manifest or a receipt, without listing them.

Two volumes of ``cameras x hours`` one-per-second frames (empty files: names are what is read):
``open`` (no period settled: both must list everything) and ``drained`` (every period has a
receipt: the baseline lists nothing, the new walk still lists every folder). Medians of
``--runs`` runs per side, in one process, alternating. Results: bench/results/drain_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cctview_agent.layout import DataLayout, frame_timestamp  # noqa: E402
from cctview_agent.periods import HOUR, Period  # noqa: E402
from cctview_agent.volumes.drain import _frame_files  # noqa: E402

RESULTS = REPO / "bench" / "results" / "drain_bench.json"
START_MS = 1_743_768_000_000  # 2025-04-04 12:00 UTC
PERIOD = 3600


def baseline_open_periods(
    layout: DataLayout, settled: set[tuple[str, str]], length: int
) -> dict[tuple[str, Period], int]:
    """The pre-hardening walk (drain.py at e5426fa, ``_settled_hour`` + ``_open_periods``)."""

    def settled_hour(camera_id: str, hour_dir: Path) -> bool:
        try:
            start = datetime.strptime(f"{hour_dir.parent.name} {hour_dir.name}", "%Y-%m-%d %H")
        except ValueError:
            return False
        first = int(start.replace(tzinfo=UTC).timestamp())
        return all(
            (camera_id, Period(first + i * length, length).key) in settled
            for i in range(HOUR // length)
        )

    counts: dict[tuple[str, Period], int] = {}
    for camera_id in layout.camera_ids():
        for hour_dir in sorted(layout.camera_dir(camera_id).glob("*/*")):
            if not hour_dir.is_dir() or settled_hour(camera_id, hour_dir):
                continue
            for name in os.listdir(hour_dir):
                ts_ms = frame_timestamp(name)
                if ts_ms is None:
                    continue
                period = Period.containing(ts_ms, length)
                if (camera_id, period.key) not in settled:
                    counts[(camera_id, period)] = counts.get((camera_id, period), 0) + 1
    return counts


def build(root: Path, cameras: int, hours: int) -> tuple[DataLayout, set[tuple[str, str]]]:
    layout = DataLayout(root)
    settled: set[tuple[str, str]] = set()
    for camera in range(cameras):
        camera_id = f"cam-{camera:03d}"
        for hour in range(hours):
            first = START_MS + hour * 3_600_000
            folder = layout.hour_dir(camera_id, first)
            folder.mkdir(parents=True, exist_ok=True)
            for offset in range(0, 3_600_000, 1000):
                (folder / f"{first + offset}.jpg").touch()
            settled.add((camera_id, Period.containing(first, PERIOD).key))
    return layout, settled


def timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cameras", type=int, default=21)
    parser.add_argument("--hours", type=int, default=6)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data-root", type=Path, default=Path("/dev/shm"))
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="drain-bench-", dir=args.data_root))
    try:
        layout, all_settled = build(scratch, args.cameras, args.hours)
        files = args.cameras * args.hours * 3600
        rows = {}
        for name, settled in (("open", set()), ("drained", all_settled)):
            new = _frame_files(layout, settled, PERIOD, 15.0)
            old = baseline_open_periods(layout, settled, PERIOD)
            assert sum(p.frames for p in new.open) == sum(old.values()) and not new.stray_count
            new_s, old_s = [], []
            for _ in range(args.runs):
                new_s.append(timed(lambda s=settled: _frame_files(layout, s, PERIOD, 15.0)))
                old_s.append(timed(lambda s=settled: baseline_open_periods(layout, s, PERIOD)))
            rows[name] = {
                "count_every_file_s": round(statistics.median(new_s), 4),
                "baseline_s": round(statistics.median(old_s), 4),
                "ratio": round(statistics.median(new_s) / statistics.median(old_s), 2),
            }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result = {
        "benchmark": "drain_bench",
        "baseline": "drain.py at e5426fa: layout walk that skips settled hours unlisted",
        "frames": files,
        "cameras": args.cameras,
        "hours": args.hours,
        "runs": args.runs,
        "data_root": str(args.data_root),
        "cpus": os.cpu_count(),
        "volumes": rows,
    }
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{files:,} frames; medians of {args.runs} runs")
    print(f"{'volume':<10}{'count every file':>18}{'baseline':>12}{'ratio':>8}")
    for name, row in rows.items():
        print(
            f"{name:<10}{row['count_every_file_s']:>17.3f}s{row['baseline_s']:>11.3f}s"
            f"{row['ratio']:>8.2f}"
        )


if __name__ == "__main__":
    main()
