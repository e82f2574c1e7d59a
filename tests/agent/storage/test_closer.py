"""Period closing: on every volume, with the shard offsets, durable frames before the manifest,
none for an idle camera."""

from __future__ import annotations

import json
from pathlib import Path

from cctview_agent.config import AgentConfig
from cctview_agent.layout import DataLayout
from cctview_agent.manifests import Manifest, frame_digest
from cctview_agent.periods import Period
from cctview_agent.samples import SHARD_LAYOUT, Placement, lay_out, shard_placements
from cctview_agent.storage.closer import PeriodCloser
from cctview_agent.storage.frames import FrameStore, journal_path
from tests.agent.agentproc import RecordingLog

JPEG = b"\xff\xd8" + bytes(range(256)) * 8 + b"\xff\xd9"


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
