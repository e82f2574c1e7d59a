"""The shared model: periods, storage layout, manifests and atomic files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cctview_agent.atomicfile import is_temporary, remove_temporaries, temporary_name, write_atomic
from cctview_agent.errors import ConfigError, ManifestError
from cctview_agent.layout import DataLayout, data_roots, frame_timestamp
from cctview_agent.manifests import FrameRecord, Gap, Manifest, find_gaps, frame_digest
from cctview_agent.periods import Period, validate_period_length

# 2025-04-04 13:00:00 UTC
T0 = 1743771600


def test_period_alignment_and_key_round_trip() -> None:
    period = Period.containing(T0 * 1000 + 59_999, 60)
    assert period == Period(T0, 60)
    assert period.key == "20250404T130000Z-60s"
    assert Period.from_key(period.key) == period
    assert (period.date, period.hour) == ("2025-04-04", "13")
    assert period.next() == Period(T0 + 60, 60)
    assert period.contains(T0 * 1000) and not period.contains((T0 + 60) * 1000)
    assert not period.closable(now=T0 + 60 + 4.9, grace=5)
    assert period.closable(now=T0 + 65, grace=5)


@pytest.mark.parametrize("bad", [0, -60, 7, 7200, 2.5, True, "60"])
def test_period_length_must_divide_an_hour(bad: object) -> None:
    with pytest.raises(ConfigError) as info:
        validate_period_length(bad)  # type: ignore[arg-type]
    assert "period" in str(info.value)


def test_period_rejects_unaligned_start() -> None:
    with pytest.raises(ValueError):
        Period(T0 + 1, 60)
    with pytest.raises(ValueError):
        Period.from_key("not-a-key")


def test_layout_paths_and_listing(tmp_path: Path) -> None:
    layout = DataLayout(tmp_path)
    period = Period(T0, 60)
    inside = [T0 * 1000 + 5, T0 * 1000 + 1_000, T0 * 1000 + 59_999]
    for ts in [*inside, (T0 + 60) * 1000]:
        write_atomic(layout.frame_path("cam", ts), b"\xff\xd8x\xff\xd9")
    # a temporary left by a crash is not a frame
    (layout.period_dir("cam", period) / ".123.jpg.99.tmp").write_bytes(b"partial")
    assert layout.frame_path("cam", T0 * 1000).relative_to(tmp_path).as_posix() == (
        f"frames/cam/2025-04-04/13/{T0 * 1000}.jpg"
    )
    assert [ts for ts, _ in layout.frames_in("cam", period)] == inside
    assert layout.camera_ids() == ["cam"]
    assert frame_timestamp(".5.jpg") is None and frame_timestamp("abc.jpg") is None


def test_manifest_round_trip_and_listing(tmp_path: Path) -> None:
    layout = DataLayout(tmp_path)
    period = Period(T0, 60)
    frames = tuple(
        FrameRecord(
            f"{T0 * 1000 + i * 1000}.jpg", T0 * 1000 + i * 1000, 100 + i, frame_digest(b"%d" % i)
        )
        for i in range(3)
    )
    manifest = Manifest(
        camera_id="cam",
        period=period,
        frames=frames,
        node="node-01",
        duplicates=2,
        failures={"timeout": 1},
        gaps=find_gaps([f.ts_ms for f in frames], period, 3000),
        polls=6,
    )
    path = layout.manifest_path("cam", period)
    manifest.write(path)
    again = Manifest.read(path)
    assert again == manifest
    assert again.total_bytes == 303
    assert again.coverage == pytest.approx(0.5)
    assert again.gaps == (Gap(T0 * 1000 + 2000, (T0 + 60) * 1000),)
    assert list(layout.manifests()) == [("cam", period, path)]


def test_manifest_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "m.json"
    bad.write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        Manifest.read(bad)
    bad.write_text('{"version": 99}')
    with pytest.raises(ManifestError, match="version 99"):
        Manifest.read(bad)
    bad.write_text('{"version": 1, "camera_id": "c"}')
    with pytest.raises(ManifestError, match="not a valid manifest"):
        Manifest.read(bad)
    with pytest.raises(ManifestError, match="cannot read manifest"):
        Manifest.read(tmp_path / "missing.json")


def test_write_atomic_leaves_no_partial_file_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "a" / "file.json"
    write_atomic(target, b"old")
    real_write = os.write

    def disk_fills_up(fd: int, data: memoryview) -> int:
        real_write(fd, data[:2])  # a torn write, then the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("cctview_agent.atomicfile.os.write", disk_fills_up)
    with pytest.raises(OSError, match="No space"):
        write_atomic(target, b"new contents")
    assert target.read_bytes() == b"old"
    assert [p.name for p in target.parent.iterdir()] == ["file.json"]


def test_remove_temporaries(tmp_path: Path) -> None:
    keep = tmp_path / "x" / "1.jpg"
    keep.parent.mkdir()
    keep.write_bytes(b"frame")
    tmp = temporary_name(keep)
    tmp.write_bytes(b"half")
    assert is_temporary(tmp) and not is_temporary(keep)
    assert remove_temporaries(tmp_path) == 1
    assert sorted(os.listdir(keep.parent)) == ["1.jpg"]


def test_data_roots_list_the_active_volume_once_then_draining_ones(tmp_path: Path) -> None:
    volumes = tmp_path / "volumes"
    for name, sub in (("vol-a", "frames"), ("vol-b", "manifests"), ("vol-c", None)):
        (volumes / name).mkdir(parents=True)
        if sub:
            (volumes / name / sub).mkdir()
    (tmp_path / "data").symlink_to("volumes/vol-b")
    roots = data_roots(tmp_path / "data", volumes)
    # the active volume (vol-b, through the link) once and first; empty vol-c is no data root
    assert roots == [tmp_path / "data", volumes / "vol-a"]
    assert data_roots(tmp_path / "data", tmp_path / "missing") == [tmp_path / "data"]


def test_sample_metadata_encoder_matches_json_dumps_for_odd_names() -> None:
    """The closer's fast encoder must give exactly SampleMetadata.to_json's bytes, or recorded
    offsets would point at the wrong place; names with quotes, backslashes and accents too."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from cctview_agent.manifests import FrameRecord, Manifest
    from cctview_agent.periods import Period
    from cctview_agent.samples import MetadataEncoder, SampleMetadata, iso_time

    period = Period(1743771600, 3600)
    frames = tuple(
        FrameRecord(f"{ts}.jpg", ts, 10, "0" * 32)
        for ts in (period.start_ms, period.start_ms + 61_001, period.end_ms - 1)
    )
    base = Manifest(camera_id="cam", period=period, frames=frames, node="node-01")
    for name, position in (("W 42 St", (40.75, -73.98)), ('Ca\u00f1al "N" \\ 1', (None, None))):
        manifest = replace(base, camera_name=name, latitude=position[0], longitude=position[1])
        encoder = MetadataEncoder(manifest)
        for frame in frames:
            assert encoder.encode(frame) == SampleMetadata.of(manifest, frame).to_json()
    for ts in (0, 1743771600123, 4102444799999):
        expected = datetime.fromtimestamp(ts / 1000, UTC).isoformat(timespec="milliseconds")
        assert iso_time(ts) == expected.replace("+00:00", "Z")
