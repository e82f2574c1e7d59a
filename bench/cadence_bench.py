"""Cadence-learning benchmark: how long a camera of the real profile takes to learn its cadence,
against the rule it replaced.

    .venv/bin/python bench/cadence_bench.py [--cameras 200] [--seconds 600]

Network-free (tests/fixtures/cadencesim.py: the agent's :class:`Cadence` against the simulator's
own picture timelines, 150-470 ms a request, one request in flight), so it runs in seconds and
is the same on every machine; ``overhead`` adds up to that many seconds of the collector's own
delay to each request, a busy CPU. The baseline is the skip-ahead before the fix (main at
d7767a0, :class:`BaselineCadence` below): it counted from the *late* edge of the last
change's window, so a fast camera's skip jumped over the next change and started its samples
again. Reports, per rule, the median, 90th percentile and longest time to tracking of the
cameras of a 1-4 s period, the medians by period band, and how often learning started over.
Results: bench/results/cadence_bench.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cctview_agent.polling.cadence import Cadence  # noqa: E402
from tests.fixtures.cadencesim import poll_one, real_cameras  # noqa: E402

RESULTS = REPO / "bench" / "results" / "cadence_bench.json"
BANDS = ((1.0, 1.5), (1.5, 2.0), (2.0, 2.5), (2.5, 3.0), (3.0, 4.0), (13.0, 17.0))


class BaselineCadence(Cadence):
    """The skip-ahead of main at d7767a0: from the late edge of the change's window."""

    @staticmethod
    def _changed_after(window: tuple[float, float]) -> float:
        return window[1]


def measure(rule: type[Cadence], cameras: int, seconds: float, overhead: float) -> dict[str, Any]:
    real = real_cameras(cameras)
    rng = random.Random(5)
    runs = {
        camera_id: poll_one(camera_id, real.clock, rng, seconds, overhead, rule(learn_step=0.25))
        for camera_id in real.ids
    }
    never = seconds * 2  # a camera that never learned counts as twice the run

    def took(camera_id: str) -> float:
        learned = runs[camera_id].learned_at
        return never if learned is None else learned

    fast = sorted(took(c) for c, p in real.periods.items() if p < 5)
    bands = {}
    for low, high in BANDS:
        ids = [c for c, p in real.periods.items() if low <= p < high]
        if ids:
            bands[f"{low:g}-{high:g} s"] = {
                "cameras": len(ids),
                "median_learn_s": round(statistics.median(took(c) for c in ids), 1),
                "median_restarts": statistics.median(runs[c].restarts for c in ids),
            }
    return {
        "fast_cameras": len(fast),
        "never_learned": sum(runs[c].learned_at is None for c in real.ids),
        "fast_median_learn_s": round(statistics.median(fast), 1),
        "fast_p90_learn_s": round(fast[int(0.9 * (len(fast) - 1))], 1),
        "fast_max_learn_s": round(fast[-1], 1),
        "bands": bands,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=600)
    args = parser.parse_args()
    rows = []
    for overhead in (0.0, 0.2):
        new = measure(Cadence, args.cameras, args.seconds, overhead)
        old = measure(BaselineCadence, args.cameras, args.seconds, overhead)
        ratio = round(new["fast_median_learn_s"] / old["fast_median_learn_s"], 3)
        rows.append({"overhead_s": overhead, "early_edge": new, "baseline": old, "ratio": ratio})
        print(
            f"overhead {overhead:.1f} s: fast cameras learn in a median "
            f"{new['fast_median_learn_s']} s (p90 {new['fast_p90_learn_s']}, max "
            f"{new['fast_max_learn_s']}) vs baseline {old['fast_median_learn_s']} s (p90 "
            f"{old['fast_p90_learn_s']}, max {old['fast_max_learn_s']}): {ratio}x"
        )
    result = {
        "benchmark": "cadence_bench",
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ"),
        "cameras": args.cameras,
        "seconds": args.seconds,
        "baseline": "skip-ahead from the late edge of the change window (main at d7767a0)",
        "rows": rows,
    }
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(f"results: {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
