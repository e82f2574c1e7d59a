"""Making a period's frames durable: one syncfs, or an fsync per file and folder."""

from __future__ import annotations

import os

JPEG = b"\xff\xd8" + bytes(range(256)) * 8 + b"\xff\xd9"


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
