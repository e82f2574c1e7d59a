"""A node folder for the volume tests: data -> volumes/OLD, frames, manifests and receipts on it."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from cctview_agent.atomicfile import write_atomic
from cctview_agent.config import AgentConfig
from cctview_agent.layout import DataLayout
from cctview_agent.manifests import FrameRecord, Manifest, frame_digest
from cctview_agent.periods import Period

OLD = "vol-0aaaaaaaaaaaaaaa1"
NEW = "vol-0bbbbbbbbbbbbbbb2"
PERIOD = 10
CAMERA = "cam-1"
FLEET_BUCKET = "fleet-frames"


def make_node(tmp_path: Path, *, mode: str = "folder") -> AgentConfig:
    """A node folder like the local fleet's: data -> volumes/OLD, with frames/ on OLD."""
    (tmp_path / "volumes" / OLD / "frames").mkdir(parents=True)
    os.symlink(f"volumes/{OLD}", tmp_path / "data")
    return AgentConfig(
        data_dir=tmp_path / "data",
        volumes_dir=tmp_path / "volumes",
        period=PERIOD,
        grace=2.0,
        volume_mode=mode,
        bucket=FLEET_BUCKET,
    )


def store_frames(root: Path, period: Period, count: int, camera: str = CAMERA) -> list[Path]:
    layout = DataLayout(root)
    paths = []
    for i in range(count):
        path = layout.frame_path(camera, period.start_ms + 1000 * i)
        write_atomic(path, f"frame {i}".encode())
        paths.append(path)
    return paths


def close_period(root: Path, period: Period, camera: str = CAMERA) -> None:
    layout = DataLayout(root)
    frames = tuple(
        FrameRecord(p.name, ts, p.stat().st_size, frame_digest(p.read_bytes()))
        for ts, p in layout.frames_in(camera, period)
    )
    manifest = Manifest(camera_id=camera, period=period, frames=frames)
    write_atomic(layout.manifest_path(camera, period), manifest.to_json())


def write_receipt(
    root: Path, period: Period, camera: str = CAMERA, bucket: str = FLEET_BUCKET
) -> None:
    """The receipt the syncer writes after verifying the period in ``bucket`` (prefix cctview)."""
    receipt = {"version": 1, "bucket": bucket, "prefix": "cctview", "frames": 1}
    write_atomic(DataLayout(root).receipt_path(camera, period), json.dumps(receipt).encode())


def old_period() -> Period:
    return Period.containing(int((time.time() - 3 * PERIOD) * 1000), PERIOD)
