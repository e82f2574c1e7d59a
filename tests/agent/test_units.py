"""Unit tests of the agent's parts that need no server: JPEG validation, the poll grid and its
backoff, placeholder recognition, the frame store behind a swapped link, the disk guard's
hysteresis, period closing on every volume, log rotation."""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from pathlib import Path

import pytest

from cctview_agent.agentlog import close_log, open_log
from cctview_agent.config import AgentConfig
from cctview_agent.layout import DataLayout
from cctview_agent.manifests import Manifest, frame_digest
from cctview_agent.periods import Period
from cctview_agent.polling.fetch import FetchFailure, poll_url, validate_jpeg
from cctview_agent.polling.placeholders import PlaceholderRegistry
from cctview_agent.polling.poller import CameraPoller
from cctview_agent.polling.scheduler import BACKOFF_CAP_S, PHASE_SLOTS, phase_of
from cctview_agent.samples import SHARD_LAYOUT, Placement, lay_out, shard_placements
from cctview_agent.storage.closer import PeriodCloser
from cctview_agent.storage.diskguard import DiskGuard, DiskUsage
from cctview_agent.storage.frames import FrameStore, journal_path
from tests.agent.agentproc import RecordingLog

JPEG = b"\xff\xd8" + bytes(range(256)) * 8 + b"\xff\xd9"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (JPEG[: len(JPEG) // 2], "truncated"),
        (b"<html>" + bytes(300), "not_jpeg"),
        (b"\xff\xd8\xff\xd9", "not_jpeg"),  # far too small to be a camera frame
        (JPEG + bytes(5000), "truncated"),  # the end marker is not near the end
    ],
)
def test_validate_jpeg_refuses(body: bytes, kind: str) -> None:
    with pytest.raises(FetchFailure) as failure:
        validate_jpeg(body, 100_000)
    assert failure.value.kind == kind


def test_validate_jpeg_accepts_whole_frames_and_enforces_size() -> None:
    validate_jpeg(JPEG, 100_000)
    validate_jpeg(JPEG + b"\x00\x00", 100_000)  # padding after EOI is fine
    with pytest.raises(FetchFailure) as failure:
        validate_jpeg(JPEG, 1024)
    assert failure.value.kind == "oversize"


def test_poll_url_changes_every_poll() -> None:
    assert str(poll_url("http://h/api/cameras/x/image", 17)) == "http://h/api/cameras/x/image?t=17"
    assert str(poll_url("http://h/img?id=3", 18)) == "http://h/img?id=3&t=18"


class _Agent:
    def __init__(self) -> None:
        from cctview_agent.polling.scheduler import ScheduleStats

        self.schedule = ScheduleStats()


def test_grid_does_not_drift_and_skips_missed_ticks() -> None:
    poller = CameraPoller.__new__(CameraPoller)
    poller.agent = _Agent()
    poller.consecutive_failures = 0
    due = 100.0
    # A poll that took 0.3 s: the next one is still due exactly one interval later.
    assert poller._next_due(due, 100.3, 1.0) == 101.0
    # A poll that overran by 2.5 intervals skips the ticks it missed, staying on the grid.
    assert poller._next_due(due, 102.5, 1.0) == 103.0
    assert poller.agent.schedule.skipped == 2


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    random.seed(7)
    poller = CameraPoller.__new__(CameraPoller)
    poller.agent = _Agent()
    waits = []
    for failures in range(2, 12):
        poller.consecutive_failures = failures
        due = poller._next_due(0.0, 0.2, 1.0)
        assert due == int(due), "a retry lands on the camera's grid"
        waits.append(poller.backoff_s)
        ceiling = min(BACKOFF_CAP_S, 2 ** (failures - 1))
        assert ceiling / 2 <= poller.backoff_s <= ceiling
    assert max(waits) <= BACKOFF_CAP_S
    assert waits[-1] > waits[0]


def test_phase_is_stable_and_spread() -> None:
    phases = [phase_of(f"cam-{i}", 1.0) for i in range(100)]
    slots = Counter(phases)
    assert len(slots) == PHASE_SLOTS and all(0 <= p < 1 for p in phases)
    assert max(slots.values()) < 100 / PHASE_SLOTS * 2, "cameras spread over the slots"
    assert phase_of("cam-1", 1.0) == phase_of("cam-1", 1.0)


def test_placeholder_is_the_digest_two_cameras_served() -> None:
    registry = PlaceholderRegistry()
    a, b = object(), object()
    assert registry.claim("d1", a) is None
    assert registry.claim("d1", b) is a  # the second camera reveals it
    assert "d1" in registry.known
    assert registry.claim("d2", a) is None
    registry.release("d2", a)
    assert registry.claim("d2", b) is None  # a moved on: no longer a shared digest


def test_disk_guard_hysteresis(monkeypatch) -> None:
    log = RecordingLog()
    guard = DiskGuard(reserve_bytes=1_000_000, log=log)
    free = {"value": 5_000_000}
    monkeypatch.setattr(
        "cctview_agent.storage.diskguard.disk_usage",
        lambda _root: DiskUsage(10_000_000, free["value"]),
    )
    guard.check("/x")
    assert not guard.paused
    free["value"] = 900_000
    guard.check("/x")
    guard.check("/x")
    assert guard.paused
    free["value"] = 1_100_000  # above the reserve, below reserve + margin: stay paused
    guard.check("/x")
    assert guard.paused
    free["value"] = 2_000_000
    guard.check("/x")
    assert not guard.paused
    guard.disk_full("/x")
    assert guard.paused
    events = [event for event, _ in log.lines]
    assert events == ["disk_writing_paused", "disk_writing_resumed", "disk_writing_paused"]


def test_frame_store_follows_a_swapped_link(tmp_path) -> None:
    vol1, vol2 = tmp_path / "vol1", tmp_path / "vol2"
    vol1.mkdir()
    vol2.mkdir()
    link = tmp_path / "data"
    link.symlink_to(vol1)
    store = FrameStore(link, 60)
    ts = 1_743_771_600_000  # 2025-04-04T13:00:00Z
    first = store.write("cam", ts, JPEG, frame_digest(JPEG))
    tmp_link = tmp_path / ".data.new"
    tmp_link.symlink_to(vol2)
    os.replace(tmp_link, link)  # what volume rotation does
    second = store.write("cam", ts + 1000, JPEG, frame_digest(JPEG))
    assert Path(first.path) == DataLayout(vol1).frame_path("cam", ts)
    assert Path(second.path) == DataLayout(vol2).frame_path("cam", ts + 1000)
    assert Path(first.path).read_bytes() == JPEG
    assert not [p for p in vol1.rglob(".*") if p.is_file() and p.suffix == ".tmp"]
    store.close()
    journal = journal_path(vol1, "cam", Period.containing(ts, 60))
    assert journal.read_text() == f"{ts}.jpg {len(JPEG)} {frame_digest(JPEG)}\n"


def test_closer_closes_ended_periods_on_every_volume(tmp_path) -> None:
    """A period split by a rotation: each volume gets a manifest of its half; a frame missing
    from the journal (kill -9 between rename and journal line) is digested from its file."""
    volumes = tmp_path / "volumes"
    vol1, vol2 = volumes / "vol-1", volumes / "vol-2"
    vol1.mkdir(parents=True)
    vol2.mkdir()
    link = tmp_path / "data"
    link.symlink_to(vol2)
    config = AgentConfig(data_dir=link, volumes_dir=volumes, period=60, grace=1, poll_interval=1)
    period = Period(1_743_771_600, 60)
    old = FrameStore(vol1, 60)
    for i in range(3):
        old.write("cam", period.start_ms + i * 1000, JPEG, frame_digest(JPEG))
    old.close()
    unjournaled = DataLayout(vol2).frame_path("cam", period.start_ms + 30_000)
    unjournaled.parent.mkdir(parents=True)
    unjournaled.write_bytes(JPEG + b"\x00")
    store = FrameStore(link, 60)
    closer = PeriodCloser(config, store, RecordingLog())
    closer.scan_all()
    assert closer.close_due(now=period.end + 0.5) == 0  # still inside the grace time
    assert closer.close_due(now=period.end + 2) == 2
    first = Manifest.read(DataLayout(vol1).manifest_path("cam", period))
    second = Manifest.read(DataLayout(vol2).manifest_path("cam", period))
    assert [f.ts_ms for f in first.frames] == [period.start_ms + i * 1000 for i in range(3)]
    assert second.frames[0].digest == frame_digest(JPEG + b"\x00")
    assert second.frames[0].size == len(JPEG) + 1
    assert [(g.start_ms, g.end_ms) for g in first.gaps] == [(period.start_ms + 2000, period.end_ms)]
    assert not journal_path(vol1, "cam", period).exists(), "the journal goes with the close"
    assert closer.close_due(now=period.end + 3) == 0, "a period is closed once"


def test_closer_records_the_cameras_position_and_the_shard_offsets(tmp_path) -> None:
    """The manifest keeps the name and position the camera had when polled, and each sample's
    member offsets, equal to the layout the sync will pack (so an index needs no tar scan)."""
    config = AgentConfig(data_dir=tmp_path, period=60, grace=0, node="node-07")
    store = FrameStore(tmp_path, 60)
    period = Period(1_743_771_600, 60)
    for i in range(3):
        store.write("cam", period.start_ms + i * 1000, JPEG, frame_digest(JPEG))
    store.close()
    closer = PeriodCloser(config, store, RecordingLog())
    closer.tally(str(tmp_path), "cam", period, "W 42 St", (40.7566, -73.9898)).polls = 3
    assert closer.close_due(now=period.end + 1) == 1
    manifest = Manifest.read(DataLayout(tmp_path).manifest_path("cam", period))
    assert (manifest.camera_name, manifest.latitude, manifest.longitude) == (
        "W 42 St",
        40.7566,
        -73.9898,
    )
    layout = lay_out(manifest)
    assert manifest.shard_layout == SHARD_LAYOUT
    assert [Placement(*m) for m in manifest.shard_members] == list(
        shard_placements(layout, manifest)
    )
    metadata = [m.literal for m in layout.members if m.literal is not None]
    assert json.loads(metadata[0])["node"] == "node-07"


def test_a_periods_frames_are_made_durable_before_its_manifest(tmp_path, monkeypatch) -> None:
    """One sync of the period's files at close, before the manifest that lists them exists."""
    config = AgentConfig(data_dir=tmp_path, period=60, grace=0)
    period = Period(1_743_771_600, 60)
    store = FrameStore(tmp_path, 60)
    stamps = [period.start_ms + i * 1000 for i in range(4)]
    written = [store.write("cam", ts, JPEG, frame_digest(JPEG)).path for ts in stamps]
    manifest = DataLayout(tmp_path).manifest_path("cam", period)
    calls: list[tuple[Path, list[str], bool]] = []

    def record(folder: Path, frames) -> None:  # type: ignore[no-untyped-def]
        calls.append((folder, sorted(str(f) for f in frames), manifest.exists()))

    monkeypatch.setattr("cctview_agent.storage.closer.make_durable", record)
    closer = PeriodCloser(config, store, RecordingLog())
    closer.scan_all()
    assert closer.close_due(now=period.end + 1) == 1
    assert calls == [(DataLayout(tmp_path).period_dir("cam", period), sorted(written), False)]
    assert manifest.exists()


def test_make_durable_is_one_syncfs_or_an_fsync_per_file_and_folder(tmp_path, monkeypatch):
    from cctview_agent.storage import durability

    folder = tmp_path / "frames"
    folder.mkdir()
    frames = [folder / f"{i}.jpg" for i in range(3)]
    for frame in frames:
        frame.write_bytes(JPEG)
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    durability.make_durable(folder, frames)  # Linux: syncfs, no fsync at all
    assert synced == [] and durability.syncfs(folder)
    monkeypatch.setattr(durability, "_SYNCFS", None)  # where syncfs is missing
    durability.make_durable(folder, frames)
    assert len(synced) == 4  # three frames and their folder


def test_idle_camera_period_without_polls_gets_no_manifest(tmp_path) -> None:
    config = AgentConfig(data_dir=tmp_path, period=60, grace=0)
    closer = PeriodCloser(config, FrameStore(tmp_path, 60), RecordingLog())
    period = Period(1_743_771_600, 60)
    closer.tally(str(tmp_path), "idle", period)
    polled = closer.tally(str(tmp_path), "failing", period)
    polled.polls = 5
    polled.failures["timeout"] = 5
    assert closer.close_due(now=period.end + 1) == 1
    assert not DataLayout(tmp_path).manifest_path("idle", period).exists()
    manifest = Manifest.read(DataLayout(tmp_path).manifest_path("failing", period))
    assert manifest.frames == () and manifest.failures == {"timeout": 5}
    assert manifest.coverage == 0.0


def test_log_is_json_lines_and_rotates(tmp_path) -> None:
    path = tmp_path / "agent.log"
    log = open_log(path, max_bytes=2000)
    try:
        for i in range(100):
            log.info("camera_state", camera=f"cam-{i}", state="ok")
    finally:
        close_log()
    assert (tmp_path / "agent.log.1").exists()
    assert path.stat().st_size <= 2000
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[-1]["camera"] == "cam-99" and lines[-1]["event"] == "camera_state"
    assert lines[-1]["ts"].endswith("Z")
