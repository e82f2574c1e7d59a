"""Space-driven retention on real, small file systems (tmpfs with a size and an inode count).

The guard deletes periods verified in the fleet's bucket, oldest first, when free bytes or free
inodes near the reserve; it never touches a period verified only elsewhere or not at all, and
pauses only once nothing verified is left. An agent on a volume far smaller than its retention
in days keeps recording.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cctview_agent.atomicfile import write_atomic
from cctview_agent.config import AgentConfig
from cctview_agent.layout import DataLayout, frame_name
from cctview_agent.manifests import FrameRecord, Manifest, frame_digest
from cctview_agent.periods import Period
from cctview_agent.storage.diskguard import DiskGuard, disk_usage
from cctview_agent.storage.reclaim import Reclaimer, verified_periods
from cctview_agent.sync.receipts import SyncTarget
from tests.agent.agentproc import (
    log_events,
    running_agent,
    wait_for,
    write_assignment_from,
    write_config,
)

FLEET = "fleet-frames"
START = Period(1_743_771_600, 60)  # 2025-04-04 13:00 UTC, one-minute periods
KIB = 1024


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, object]]] = []

    def info(self, event: str, **fields: object) -> None:
        self.lines.append((event, fields))

    warning = error = info


@pytest.fixture
def small_fs(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A tmpfs of ``size`` with ``nr_inodes`` (parametrize indirectly: "size=4m,nr_inodes=...")."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    options = getattr(request, "param", "size=4m")
    mount = tmp_path / "vol"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def store_period(
    root: Path, period: Period, *, frames: int, size: int, bucket: str | None, camera: str = "cam-1"
) -> Path:
    """A closed period of ``frames`` files of ``size`` bytes; a receipt for ``bucket`` if given."""
    layout = DataLayout(root)
    records = []
    for index in range(frames):
        ts_ms = period.start_ms + index * 1000
        data = index.to_bytes(4, "big") * (size // 4)
        write_atomic(layout.frame_path(camera, ts_ms), data)
        records.append(FrameRecord(frame_name(ts_ms), ts_ms, len(data), frame_digest(data)))
    manifest = Manifest(camera_id=camera, period=period, frames=tuple(records), polls=frames)
    manifest.write(layout.manifest_path(camera, period))
    if bucket is not None:
        receipt = {"version": 1, "bucket": bucket, "prefix": "cctview", "frames": frames}
        write_atomic(layout.receipt_path(camera, period), json.dumps(receipt).encode())
    return layout.period_dir(camera, period)


def periods_from(first: Period, count: int) -> list[Period]:
    periods = [first]
    while len(periods) < count:
        periods.append(periods[-1].next())
    return periods


@pytest.mark.root
def test_oldest_verified_periods_go_first_and_only_those(small_fs: Path) -> None:
    oldest, older, elsewhere, unverified = periods_from(START, 4)
    receipts = {oldest: FLEET, older: FLEET, elsewhere: "other", unverified: None}
    for period, bucket in receipts.items():
        store_period(small_fs, period, frames=10, size=20 * KIB, bucket=bucket)
    config = AgentConfig(data_dir=small_fs, bucket=FLEET, reserve_bytes=0)
    assert [v.period for v in verified_periods(small_fs, SyncTarget.fleet(config))] == [
        oldest,
        older,
    ]
    free = disk_usage(str(small_fs)).free_bytes
    log = Log()
    # near the reserve (under reserve + 256 KiB of spare): one verified period is enough
    guard = DiskGuard(free - 100 * KIB, log, reclaimer=Reclaimer(config, log))  # type: ignore[arg-type]
    guard.check(str(small_fs))
    layout = DataLayout(small_fs)
    assert not layout.frames_in("cam-1", oldest) and layout.frames_in("cam-1", older)
    assert layout.receipt_path("cam-1", oldest).exists()  # the record that S3 holds it stays
    assert not guard.paused
    # far short: every verified period goes, then the guard pauses; the others stay whole
    guard.reserve_bytes = disk_usage(str(small_fs)).free_bytes + 2048 * KIB
    guard.check(str(small_fs))
    assert not layout.frames_in("cam-1", older)
    assert len(layout.frames_in("cam-1", elsewhere)) == 10
    assert len(layout.frames_in("cam-1", unverified)) == 10
    assert guard.paused
    events = [event for event, _ in log.lines]
    assert events == ["period_reclaimed", "period_reclaimed", "disk_writing_paused"]


@pytest.mark.root
@pytest.mark.parametrize("small_fs", ["size=64m,nr_inodes=400"], indirect=True)
def test_inodes_running_out_reclaim_like_bytes(small_fs: Path) -> None:
    """Small frames: plenty of bytes left, but the inodes are nearly gone."""
    periods = periods_from(START, 5)
    for period in periods:
        store_period(small_fs, period, frames=60, size=512, bucket=FLEET)
    usage = disk_usage(str(small_fs))
    assert usage.free_bytes > 60 * 1024 * KIB and usage.free_inodes < 100
    config = AgentConfig(data_dir=small_fs, bucket=FLEET)
    log = Log()
    guard = DiskGuard(0, log, reserve_inodes=50, reclaimer=Reclaimer(config, log))  # type: ignore[arg-type]
    guard.check(str(small_fs))
    layout = DataLayout(small_fs)
    kept = [p for p in periods if layout.frames_in("cam-1", p)]
    assert kept and kept == periods[len(periods) - len(kept) :], "oldest deleted first"
    after = disk_usage(str(small_fs))
    assert after.free_inodes >= 50 + after.total_inodes // 20 and not guard.paused


@pytest.mark.root
def test_without_a_fleet_bucket_nothing_is_deleted_and_the_guard_pauses(small_fs: Path) -> None:
    store_period(small_fs, START, frames=10, size=20 * KIB, bucket=FLEET)
    log = Log()
    config = AgentConfig(data_dir=small_fs)  # no bucket named: no receipt counts
    guard = DiskGuard(8 * 1024 * KIB, log, reclaimer=Reclaimer(config, log))  # type: ignore[arg-type]
    guard.check(str(small_fs))
    assert guard.paused and len(DataLayout(small_fs).frames_in("cam-1", START)) == 10


@pytest.mark.root
@pytest.mark.parametrize("small_fs", ["size=3m"], indirect=True)
def test_an_agent_on_a_full_volume_keeps_recording_by_reclaiming(
    camsim, tmp_path: Path, small_fs: Path
) -> None:
    """Before: the guard paused and frames were dropped until someone acted."""
    data = small_fs / "data"
    old = periods_from(START, 12)
    for period in old:  # hours of verified frames fill the volume
        store_period(data, period, frames=10, size=20 * KIB, bucket=FLEET)
    assert disk_usage(str(small_fs)).free_bytes < 1024 * KIB
    sim = camsim(cameras=2, refresh=0.2)
    write_assignment_from(sim, tmp_path / "assignment.json")
    config = write_config(
        tmp_path,
        data_dir=str(data),
        poll_interval=0.2,
        period=5,
        grace=0.5,
        bucket=FLEET,
        reserve_bytes=512 * KIB,
        reserve_inodes=0,
    )
    with running_agent(config) as agent:
        wait_for(lambda: agent.status()["totals"]["frames_stored"] >= 20, 30, "frames stored")
        status = agent.status()
        assert not status["disk"]["writing_paused"], status["disk"]
        assert status["disk"]["dropped_frames"] == 0
        agent.terminate()
    events = log_events(tmp_path / "agent.log")
    reclaimed = [event for event in events if event.get("event") == "period_reclaimed"]
    assert reclaimed, events[-5:]
    assert reclaimed[0]["period"] == old[0].key, reclaimed[0]  # the oldest went first
    layout = DataLayout(data)
    assert layout.frames_in("cam-1", old[-1]), "only what space needed was deleted"
