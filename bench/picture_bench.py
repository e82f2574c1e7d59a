"""What comparing pictures (not bytes) costs the agent: decode and compare, per frame.

The agent decides "same picture" (a frozen feed's ticking clock) on every frame whose bytes are
new (agent/cctview_agent/polling/pictures.py). This measures, side by side on the same frames of the
simulator's real-service profile (352x240 city and 720x480 highway cameras), the CPU per frame of:

- ``turbojpeg-1/8``: what the agent does: libturbojpeg through ctypes, grey, 1/8 DCT scaling;
- ``pillow-1/8``: Pillow's ``draft("L", size/8)``, the same scaling through Pillow (~22 MB more
  on a node);
- ``pillow-full``: a full-size decode with Pillow (the naive way);

plus ``same_picture`` on two thumbnails. Medians of ``--rounds`` rounds; the share of a core
that 250 cameras at 0.45 new frames/s each would spend. Writes bench/results/picture_bench.json.

    .venv/bin/python bench/picture_bench.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import statistics
import sys
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cctview_agent.cameras import Camera  # noqa: E402
from cctview_agent.polling.pictures import same_picture, thumbnail  # noqa: E402
from cctview_camsim.catalog import synthetic_cameras  # noqa: E402
from cctview_camsim.clocks import FrameClock  # noqa: E402
from cctview_camsim.frames import FrameRenderer  # noqa: E402
from cctview_camsim.profiles import ProfileName, service_profile  # noqa: E402

RESULTS = REPO / "bench" / "results" / "picture_bench.json"
NEW_FRAMES_PER_S = 250 * 0.45  # 250 cameras on the real profile, adaptive polling


def pillow_draft(body: bytes) -> bytes:
    image = Image.open(io.BytesIO(body))
    image.draft("L", (image.width // 8, image.height // 8))
    return image.convert("L").tobytes()


def pillow_full(body: bytes) -> bytes:
    image = Image.open(io.BytesIO(body))
    return image.convert("L").tobytes()


def per_frame_ms(function, frames: list[bytes]) -> float:
    started = time.process_time()
    for body in frames:
        function(body)
    return (time.process_time() - started) / len(frames) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    real = service_profile(ProfileName.REAL)
    cameras = synthetic_cameras(40, 1)
    highway = [
        Camera(id=f"hwy-{i}", name=f"C1-BQE-{i:02d}-EB", latitude=40.7, longitude=-73.9)
        for i in range(10)
    ]
    profiles = {camera.id: real.camera(camera, 0) for camera in [*cameras, *highway]}
    renderer = FrameRenderer(FrameClock(1.0), profile_of=profiles.__getitem__)
    sets = {
        "352x240": [renderer.render(c, v).data for c in cameras for v in range(5)],
        "720x480": [renderer.render(c, v).data for c in highway for v in range(20)],
    }
    methods = {"turbojpeg-1/8": thumbnail, "pillow-1/8": pillow_draft, "pillow-full": pillow_full}
    results: dict[str, dict[str, float]] = {}
    for size, frames in sets.items():
        for name, function in methods.items():
            runs = [per_frame_ms(function, frames) for _ in range(args.rounds)]
            results.setdefault(size, {})[name] = round(statistics.median(runs), 4)
        thumbs = [thumbnail(body) for body in frames]
        pairs = [(a, b) for a, b in itertools.pairwise(thumbs) if a and b]
        runs = []
        for _ in range(args.rounds):
            started = time.process_time()
            for a, b in pairs:
                same_picture(a, b)
            runs.append((time.process_time() - started) / len(pairs) * 1000)
        results[size]["same_picture"] = round(statistics.median(runs), 4)
    agent_ms = results["352x240"]["turbojpeg-1/8"] + results["352x240"]["same_picture"]
    report = {
        "benchmark": "picture_bench",
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "command": "python " + " ".join(["bench/picture_bench.py", *sys.argv[1:]]),
        "rounds": args.rounds,
        "ms_cpu_per_frame_median": results,
        "ratios": {
            size: {
                "pillow_full_over_turbojpeg": round(row["pillow-full"] / row["turbojpeg-1/8"], 1),
                "pillow_draft_over_turbojpeg": round(row["pillow-1/8"] / row["turbojpeg-1/8"], 2),
            }
            for size, row in results.items()
        },
        "core_percent_250_cameras": round(agent_ms * NEW_FRAMES_PER_S / 1000 * 100, 2),
    }
    print(json.dumps(report, indent=1))
    args.output.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
