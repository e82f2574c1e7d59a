"""The frame store behind a swapped ``data_dir`` link."""

from __future__ import annotations

import os
from pathlib import Path

from cctview_agent.layout import DataLayout
from cctview_agent.manifests import frame_digest
from cctview_agent.periods import Period
from cctview_agent.storage.frames import FrameStore, journal_path

JPEG = b"\xff\xd8" + bytes(range(256)) * 8 + b"\xff\xd9"


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
