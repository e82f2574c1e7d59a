"""Drain status and the retire refusal: a volume retires only when every period on it is verified
in the fleet's bucket."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from cctview_agent.atomicfile import write_atomic
from cctview_agent.errors import DataVolumeError
from cctview_agent.layout import DataLayout, frame_name
from cctview_agent.periods import Period
from cctview_agent.volumes.drain import drain_status, retire_volume
from cctview_agent.volumes.switching import prepare_volume, switch_volume
from tests.agent.volumes.volumenode import (
    CAMERA,
    NEW,
    OLD,
    PERIOD,
    close_period,
    make_node,
    old_period,
    store_frames,
    write_receipt,
)


def test_retire_of_an_unmounted_block_volume_is_refused(tmp_path: Path) -> None:
    config = make_node(tmp_path, mode="block")
    (tmp_path / "volumes" / NEW).mkdir()  # an empty mount point: the device is not mounted
    with pytest.raises(DataVolumeError, match="does not exist"):
        retire_volume(config, NEW)


def test_drain_status_counts_verified_unverified_and_open(tmp_path: Path) -> None:
    config = make_node(tmp_path)
    old = tmp_path / "volumes" / OLD
    done, pending = old_period(), old_period().next()
    current = Period.current(PERIOD)
    for period in (done, pending, current):
        store_frames(old, period, 3)
    close_period(old, done)
    write_receipt(old, done)
    close_period(old, pending)
    status = drain_status(config, OLD)
    assert status.active and not status.drained
    assert status.verified == 1
    assert status.unverified == (f"{CAMERA}/{pending.key}",)
    assert [(p.period, p.frames) for p in status.open] == [(current, 3)]
    assert status.next_closable_at == current.end + config.grace
    assert status.to_dict()["open_frames"] == 3


def test_retire_refuses_until_inactive_and_every_period_verified(tmp_path: Path) -> None:
    config = make_node(tmp_path)
    old = tmp_path / "volumes" / OLD
    period = old_period()
    frames = store_frames(old, period, 4)
    with pytest.raises(DataVolumeError, match="it is the active volume"):
        retire_volume(config, OLD)
    prepare_volume(config, NEW)
    switch_volume(config, NEW)
    with pytest.raises(DataVolumeError, match="1 periods are still open"):
        retire_volume(config, OLD)
    close_period(old, period)
    with pytest.raises(
        DataVolumeError,
        match="1 complete periods are not yet verified in s3://fleet-frames/cctview",
    ):
        retire_volume(config, OLD)
    assert all(p.exists() for p in frames)  # every refusal kept every frame
    write_receipt(old, period)
    result = retire_volume(config, OLD)
    assert (result.mode, result.verified, result.already) == ("folder", 1, False)
    assert not old.exists()
    assert retire_volume(config, OLD).already  # idempotent
    with pytest.raises(DataVolumeError, match="was retired"):
        prepare_volume(config, OLD)


def test_a_frame_outside_the_layout_keeps_the_volume_from_draining(tmp_path: Path) -> None:
    """Files are counted, not known periods: a frame one level deeper (what a camera id with a
    '/' would have written) or any other stray file is never shipped, so the volume stays."""
    config = make_node(tmp_path)
    old = tmp_path / "volumes" / OLD
    period = old_period()
    store_frames(old, period, 2)
    close_period(old, period)
    write_receipt(old, period)
    prepare_volume(config, NEW)
    switch_volume(config, NEW)
    nested = DataLayout(old).frame_path("a/b", period.start_ms)  # frames/a/b/<day>/<hour>/..
    write_atomic(nested, b"an unsynced frame")
    status = drain_status(config, OLD)
    assert not status.drained
    assert status.stray_count == 1 and status.stray == (str(nested.relative_to(old / "frames")),)
    assert "1 files under frames/ are outside the layout" in status.reason()
    with pytest.raises(DataVolumeError, match="outside the layout"):
        retire_volume(config, OLD)
    assert nested.exists()
    nested.unlink()
    assert drain_status(config, OLD).drained
    # a link is never followed and never a frame: it counts as a stray too
    (old / "frames" / "cam-2").symlink_to(tmp_path)
    assert drain_status(config, OLD).stray == ("cam-2",)
    (old / "frames" / "cam-2").unlink()
    misplaced = DataLayout(old).period_dir(CAMERA, period) / frame_name(period.start_ms - 3_600_000)
    misplaced.write_bytes(b"a frame of another hour")  # no manifest would ever list it
    assert drain_status(config, OLD).stray_count == 1


def test_only_a_receipt_for_the_fleets_bucket_drains_a_volume(tmp_path: Path) -> None:
    config = make_node(tmp_path)
    old = tmp_path / "volumes" / OLD
    period = old_period()
    store_frames(old, period, 2)
    close_period(old, period)
    write_receipt(old, period, bucket="somebody-elses-bucket")  # `sync --bucket other`
    prepare_volume(config, NEW)
    switch_volume(config, NEW)
    status = drain_status(config, OLD)
    assert not status.drained and status.verified == 0
    assert status.unverified == (f"{CAMERA}/{period.key}",)
    with pytest.raises(DataVolumeError, match="not yet verified in s3://fleet-frames/cctview"):
        retire_volume(config, OLD)
    unconfigured = replace(config, bucket="")  # no fleet bucket known: no receipt counts
    write_receipt(old, period)
    assert "the agent config names no bucket" in drain_status(unconfigured, OLD).reason()
    assert drain_status(config, OLD).drained
