"""A period packed as one tar, streamed from the frame files: order, seeking, size, parts."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from cctview_agent.layout import DataLayout
from cctview_agent.periods import Period
from cctview_agent.sync.packing import TarReader, digest_tar, plan_tar, tar_size
from tests.fixtures.s3 import frames_in_tar, stored_frames, write_period

PERIOD = Period(1743771600, 60)  # 2025-04-04T13:00:00Z, one minute (tests use short periods)
CAM_A = "0bcfbc92-d455-4f62-846a-32afbefa3b4b"


def test_tar_streams_frames_in_time_order_and_seeks(tmp_path: Path) -> None:
    manifest = write_period(tmp_path, CAM_A, PERIOD, 12, step_ms=3000)
    plan = plan_tar(DataLayout(tmp_path), manifest)
    whole = plan.open().read()
    assert len(whole) == plan.size
    assert frames_in_tar(whole) == stored_frames(tmp_path, CAM_A, PERIOD)
    with tarfile.open(fileobj=io.BytesIO(whole)) as archive:
        names = archive.getnames()
    assert names == sorted(names) and names[0] == f"{CAM_A}/{PERIOD.start_ms}.jpg"
    reader: TarReader = plan.open(start=1000, end=50_000)
    reader.seek(500)
    assert reader.read(7000) == whole[1500:8500]
    digests = digest_tar(plan, part_size=64 * 1024)
    assert [p.size for p in digests.parts][:-1] == [64 * 1024] * (len(digests.parts) - 1)


def test_tar_size_matches_the_layout_also_for_long_camera_ids(tmp_path: Path) -> None:
    for camera in (CAM_A, "c" * 120):
        manifest = write_period(tmp_path, camera, PERIOD, 5)
        plan = plan_tar(DataLayout(tmp_path), manifest)
        assert tar_size(manifest) == plan.size == len(plan.open().read())
        with tarfile.open(fileobj=io.BytesIO(plan.open().read())) as archive:
            assert archive.getnames()[0] == f"{camera}/{manifest.frames[0].name}"
