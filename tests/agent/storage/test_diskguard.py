"""The agent's "disk used" is df's: reserved blocks are not used, and the percent is df's
(used / (used + available), rounded up), since `rotate-volumes --threshold` compares against it
and an operator checks it with `df` on the node. `df` runs as a real subprocess here."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cctview_agent.config import load_config
from cctview_agent.service.status import read_status
from cctview_agent.storage.diskguard import DiskGuard, DiskUsage, disk_usage
from tests.agent.agentproc import RecordingLog, write_config


def df(path: Path) -> tuple[int, int, int]:
    """(used bytes, available bytes, use%) as GNU df prints them."""
    out = subprocess.run(
        ["df", "-B1", "--output=used,avail,pcent", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()[-1]  # fmt: skip
    used, avail, pcent = out.split()
    return int(used), int(avail), int(pcent.rstrip("%"))


def agrees_with_df(path: Path) -> None:
    # Other processes write to a shared filesystem: compare only when df saw the same numbers
    # just before and just after the agent measured.
    for _attempt in range(20):
        before = df(path)
        usage = disk_usage(str(path))
        after = df(path)
        if before == after:
            break
    else:
        pytest.skip(f"{path} changed under every one of 20 measurements")
    used, avail, pcent = before
    assert (usage.used_bytes, usage.free_bytes) == (used, avail)
    assert usage.used_percent == pcent


@pytest.fixture
def ext4_with_reserved_blocks(tmp_path: Path) -> Iterator[Path]:
    """A 32 MiB ext4 (5 % reserved for root, as mkfs makes it), loop-mounted, a third full."""
    if os.geteuid() != 0 or shutil.which("mkfs.ext4") is None:
        pytest.skip("a loop-mounted ext4 needs root and e2fsprogs (CI runs as root)")
    image, mount = tmp_path / "fs.img", tmp_path / "mnt"
    with image.open("wb") as handle:
        handle.truncate(32 * 2**20)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "5", str(image)], check=True)
    mount.mkdir()
    subprocess.run(["mount", "-o", "loop", str(image), str(mount)], check=True)
    try:
        (mount / "frames.bin").write_bytes(os.urandom(10 * 2**20))
        os.sync()
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_disk_used_matches_df_on_this_filesystem(tmp_path: Path) -> None:
    agrees_with_df(tmp_path)


@pytest.mark.root
def test_reserved_blocks_are_not_used(ext4_with_reserved_blocks: Path, tmp_path: Path) -> None:
    mount = ext4_with_reserved_blocks
    agrees_with_df(mount)
    st = os.statvfs(mount)
    assert st.f_bfree > st.f_bavail  # the filesystem really reserves blocks
    # The status a stopped agent reports (and `cctview-fleet status` shows) says the same.
    (tmp_path / "agent").mkdir()
    config = write_config(tmp_path / "agent", data_dir=str(mount))
    disk = read_status(load_config(config))["disk"]
    _used, avail, pcent = df(mount)
    assert (disk["used_percent"], disk["free_bytes"]) == (pcent, avail)


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
