"""dataset_bench: what the training-data layout costs, measured.

    flock /tmp/cctview-bench.lock .venv/bin/python bench/dataset_bench.py [--runs 3]

1. **Metadata overhead**: one camera-hour (3,600 frames of ~20 KB, sizes drawn like the NYC DOT
   cameras') laid out with the per-sample ``.json`` and without it (the old layout, the
   baseline): tar sizes and the ratio.
2. **Index size per camera-day**: the Parquet index of 4 cameras x 24 hours of 3,600 frames
   (345,600 rows), written as ``dataset index`` writes it (one zstd file per hour); bytes per
   camera-day.
3. **Time to index one node-hour**: 21 cameras x one hour of 3,600 frames in a fresh moto server
   (manifests as the closer writes them; each tar a placeholder of the right size, since the
   index never reads tars), then ``update_index`` for that day, median of ``--runs``,
   extrapolated to a node-day (x24). Baseline in the same run: indexing one real camera-hour
   by scanning its tar with ``tarfile`` (what an index without offsets in the manifests must
   do) against indexing it from its manifest.

Writes bench/results/dataset_bench.json.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import tarfile
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cctview_agent.manifests import FrameRecord, Manifest  # noqa: E402
from cctview_agent.periods import Period  # noqa: E402
from cctview_agent.s3layout import PeriodObject  # noqa: E402
from cctview_agent.samples import lay_out, with_shard  # noqa: E402
from cctview_fleet.cloud.stacks import Stack  # noqa: E402
from cctview_fleet.dataset.frames import Dataset  # noqa: E402
from cctview_fleet.dataset.sampleindex import COLUMNS, index_key, rows_of, schema, update_index  # noqa: E402

RESULTS = REPO / "bench" / "results" / "dataset_bench.json"
DAY = Period(1743724800, 3600)  # 2025-04-04T00:00Z
FRAMES = 3600


def camera_id(index: int) -> str:
    return str(uuid.UUID(int=random.Random(index).getrandbits(128), version=4))


def manifest_of(camera: str, period: Period, rng: random.Random) -> Manifest:
    """A camera-hour as the closer writes it: a frame a second of ~20 KB, name and position."""
    frames = tuple(
        FrameRecord(
            f"{period.start_ms + i * 1000}.jpg",
            period.start_ms + i * 1000,
            rng.randint(17_000, 23_000),
            f"{rng.getrandbits(128):032x}",
        )
        for i in range(FRAMES)
    )
    manifest = Manifest(
        camera_id=camera,
        camera_name="Atlantic Ave @ Flatbush Ave",
        period=period,
        frames=frames,
        node="node-01",
        polls=FRAMES,
        latitude=40.6840,
        longitude=-73.9777,
    )
    return with_shard(manifest)


def metadata_overhead(rng: random.Random) -> dict[str, Any]:
    manifest = manifest_of(camera_id(0), DAY, rng)
    with_json = lay_out(manifest, with_metadata=True).size
    without = lay_out(manifest, with_metadata=False).size
    json_sizes = [m[2] for m in manifest.shard_members]
    return {
        "frames": FRAMES,
        "frame_bytes_mean": round(statistics.mean(f.size for f in manifest.frames)),
        "json_bytes_median": statistics.median(json_sizes),
        "json_bytes_max": max(json_sizes),
        "tar_bytes_baseline_jpg_only": without,
        "tar_bytes_with_metadata": with_json,
        "overhead_bytes_per_sample": (with_json - without) / FRAMES,
        "overhead_ratio": round(with_json / without, 4),
    }


def index_size(rng: random.Random, cameras: int = 4) -> dict[str, Any]:
    """The hour files ``dataset index`` writes for ``cameras`` cameras over one day."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cctview_fleet.dataset.records import StoredPeriod

    size = rows = 0
    for hour in range(24):
        period = Period(DAY.start + hour * 3600, 3600)
        parts = []
        for c in range(cameras):
            camera = camera_id(c)
            manifest = manifest_of(camera, period, rng)
            target = PeriodObject(camera, period, "node-01", period.start_ms)
            stored = StoredPeriod(
                camera,
                period,
                "node-01",
                period.start_ms,
                target.tar_key("cctview"),
                target.manifest_key("cctview"),
                lay_out(manifest).size,
            )
            parts.append(rows_of(stored, manifest))
        columns = {name: [v for part in parts for v in part[name]] for name in COLUMNS}
        table = pa.table(columns, schema=schema()).sort_by(
            [("camera_id", "ascending"), ("ts_ms", "ascending")]
        )
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        size += len(sink.getvalue())
        rows += table.num_rows
    return {
        "cameras": cameras,
        "hour_files": 24,
        "rows": rows,
        "parquet_bytes": size,
        "bytes_per_camera_day": size // cameras,
        "bytes_per_row": round(size / rows, 2),
    }


def index_time(runs: int, rng: random.Random) -> dict[str, Any]:
    from tests.fixtures.s3 import jpeg_frame, start_moto, stop_moto

    cameras = 21
    with tempfile.TemporaryDirectory() as scratch:
        server = start_moto(Path(scratch) / "moto.log")
        try:
            client = server.client()
            stack = Stack(
                name="bench",
                bucket="bench",
                prefix="cctview",
                region="us-east-1",
                endpoint_url=server.endpoint_url,
                aws_access_key_id="bench",
                aws_secret_access_key="bench",
            )
            client.create_bucket(Bucket="bench")
            for c in range(cameras):
                manifest = manifest_of(camera_id(c), DAY, rng)
                target = PeriodObject(manifest.camera_id, DAY, "node-01", DAY.start_ms)
                size = lay_out(manifest).size
                client.put_object(Bucket="bench", Key=target.tar_key("cctview"), Body=b"\0" * size)
                client.put_object(
                    Bucket="bench", Key=target.manifest_key("cctview"), Body=manifest.to_json()
                )
            seconds = []
            for _run in range(runs):
                client.delete_object(Bucket="bench", Key=index_key("cctview", DAY.date, DAY.hour))
                started = time.perf_counter()
                report = update_index(Dataset.for_stack(stack), [DAY.date])
                seconds.append(time.perf_counter() - started)
                assert report.samples == cameras * FRAMES, report
            # Baseline: one real camera-hour indexed by scanning its tar, against its manifest.
            frames = [jpeg_frame(i) for i in range(FRAMES)]
            tar = io.BytesIO()
            with tarfile.open(fileobj=tar, mode="w", format=tarfile.USTAR_FORMAT) as archive:
                for i, data in enumerate(frames):
                    info = tarfile.TarInfo(f"real/{DAY.start_ms + i * 1000}.jpg")
                    info.size = len(data)
                    archive.addfile(info, io.BytesIO(data))
            client.put_object(Bucket="bench", Key="baseline/real.tar", Body=tar.getvalue())
            scan, from_manifest = [], []
            real = manifest_of("real", Period(DAY.start + 3600, 3600), rng)
            client.put_object(Bucket="bench", Key="baseline/real.json", Body=real.to_json())
            for _run in range(runs):
                started = time.perf_counter()
                body = client.get_object(Bucket="bench", Key="baseline/real.tar")["Body"]
                with tarfile.open(fileobj=body, mode="r|") as archive:
                    offsets = [(m.name, m.offset_data, m.size) for m in archive]
                scan.append(time.perf_counter() - started)
                assert len(offsets) == FRAMES
                started = time.perf_counter()
                data = client.get_object(Bucket="bench", Key="baseline/real.json")["Body"].read()
                manifest = Manifest.from_json(data)
                placements = lay_out(manifest).placements()
                from_manifest.append(time.perf_counter() - started)
                assert len(placements) == FRAMES
        finally:
            stop_moto(server.process)
    node_hour = statistics.median(seconds)
    return {
        "cameras": cameras,
        "frames_per_camera_hour": FRAMES,
        "runs": runs,
        "node_hour_seconds": [round(s, 3) for s in seconds],
        "node_hour_median_seconds": round(node_hour, 3),
        "node_day_extrapolated_seconds": round(node_hour * 24, 1),
        "camera_hour_tar_scan_median_seconds": round(statistics.median(scan), 3),
        "camera_hour_manifest_median_seconds": round(statistics.median(from_manifest), 3),
        "tar_scan_over_manifest_ratio": round(
            statistics.median(scan) / statistics.median(from_manifest), 2
        ),
        "tar_bytes_scanned": len(tar.getvalue()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(13)
    results = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "python": sys.version.split()[0],
        "metadata_overhead": metadata_overhead(rng),
        "index_size": index_size(rng),
        "index_time": index_time(args.runs, rng),
    }
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
