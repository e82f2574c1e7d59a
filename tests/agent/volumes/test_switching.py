"""Data volumes on a node: prepare and atomic link switching (drain.py's tests: test_drain.py).

Folder mode runs everywhere; the block-mode test loop-mounts a real ext4 file system and needs
root and a free loop device (CI is root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from cctview_agent.atomicfile import write_atomic
from cctview_agent.config import AgentConfig
from cctview_agent.errors import ConfigError, DataVolumeError
from cctview_agent.layout import DataLayout
from cctview_agent.volumes import blockdevices
from cctview_agent.volumes.drain import list_volumes, retire_volume
from cctview_agent.volumes.switching import MARKER, active_volume, prepare_volume, switch_volume
from tests.agent.volumes.volumenode import (
    CAMERA,
    NEW,
    OLD,
    close_period,
    make_node,
    old_period,
    store_frames,
    write_receipt,
)

# -- prepare and switch ----------------------------------------------------------------------


def test_prepare_folder_mode_makes_a_marked_data_root_and_is_idempotent(tmp_path: Path) -> None:
    config = make_node(tmp_path)
    first = prepare_volume(config, NEW)
    again = prepare_volume(config, NEW)
    path = tmp_path / "volumes" / NEW
    assert first.path == again.path == path
    assert (path / MARKER).read_text().strip() == NEW
    assert (path / "frames").is_dir()
    assert first.mode == "folder" and not first.formatted


def test_prepare_refuses_a_folder_of_another_volume(tmp_path: Path) -> None:
    config = make_node(tmp_path)
    path = tmp_path / "volumes" / NEW
    path.mkdir()
    (path / MARKER).write_text(OLD)
    with pytest.raises(DataVolumeError, match=f"holds volume {OLD}, not {NEW}"):
        prepare_volume(config, NEW)


def test_switch_swaps_the_link_and_is_idempotent(tmp_path: Path) -> None:
    config = make_node(tmp_path)
    prepare_volume(config, NEW)
    assert active_volume(config) == OLD
    result = switch_volume(config, NEW)
    assert (result.previous, result.changed) == (OLD, True)
    assert os.readlink(tmp_path / "data") == f"volumes/{NEW}"  # stays relative, node can move
    assert (tmp_path / "data").resolve() == (tmp_path / "volumes" / NEW).resolve()
    again = switch_volume(config, NEW)
    assert (again.previous, again.changed) == (NEW, False)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp link left


def test_switch_is_atomic_for_a_writer_resolving_the_link_per_frame(tmp_path: Path) -> None:
    """A writer that resolves ``data`` for every frame never finds it missing mid-switch."""
    config = make_node(tmp_path)
    prepare_volume(config, NEW)
    stop = threading.Event()
    misses: list[str] = []
    written = 0

    def writer() -> None:
        nonlocal written
        while not stop.is_set():
            try:
                root = os.path.realpath(tmp_path / "data", strict=True)
                write_atomic(Path(root) / "frames" / f"{written}.jpg", b"x")
                written += 1
            except OSError as exc:
                misses.append(str(exc))

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for i in range(300):
            switch_volume(config, NEW if i % 2 == 0 else OLD)
    finally:
        stop.set()
        thread.join()
    assert misses == []
    on_old = len(list((tmp_path / "volumes" / OLD / "frames").iterdir()))
    on_new = len(list((tmp_path / "volumes" / NEW / "frames").iterdir()))
    assert on_old + on_new == written > 0


def test_switch_refuses_an_unprepared_volume_and_a_real_data_folder(tmp_path: Path) -> None:
    config = make_node(tmp_path)
    with pytest.raises(DataVolumeError, match="not prepared on this node"):
        switch_volume(config, NEW)
    prepare_volume(config, NEW)
    (tmp_path / "data").unlink()
    (tmp_path / "data").mkdir()
    with pytest.raises(DataVolumeError, match="is a real folder, not a link"):
        switch_volume(config, NEW)


def test_bad_volume_id_is_one_line(tmp_path: Path) -> None:
    config = make_node(tmp_path)
    with pytest.raises(ConfigError, match="not an EBS volume id"):
        switch_volume(config, "../etc")


# -- block mode on a loop device -------------------------------------------------------------


@pytest.fixture
def loop_device(tmp_path: Path):
    """A 32 MiB file attached to a free loop device, detached afterwards."""
    if os.geteuid() != 0:
        pytest.skip("block mode needs root (mkfs, mount); CI runs as root")
    if not shutil.which("losetup") or not shutil.which("mkfs.ext4"):
        pytest.skip("block mode needs util-linux and e2fsprogs (make setup installs them)")
    image = tmp_path / "volume.img"
    with image.open("wb") as handle:
        handle.truncate(32 * 1024 * 1024)
    attached = subprocess.run(
        ["losetup", "--find", "--show", str(image)], capture_output=True, text=True, check=False
    )
    if attached.returncode != 0:
        pytest.skip(f"no loop device available: {attached.stderr.strip()}")
    device = Path(attached.stdout.strip())
    try:
        yield device
    finally:
        for mount_point in (tmp_path / "volumes").glob("vol-*"):
            if os.path.ismount(mount_point):
                subprocess.run(["umount", str(mount_point)], check=False)
        subprocess.run(["losetup", "--detach", str(device)], check=False)


@pytest.mark.root
def test_block_mode_on_a_loop_device_found_by_its_ebs_id(tmp_path: Path, loop_device: Path) -> None:
    """prepare finds the device by its (fake) EBS id, formats it once, mounts it; the agent's
    frames land on it after the switch; retire unmounts only once every period is verified."""
    config = make_node(tmp_path, mode="block")
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    (by_id / f"{blockdevices.BY_ID_PREFIX}{blockdevices.ebs_serial(NEW)}").symlink_to(loop_device)
    fstab = tmp_path / "fstab"
    fstab.write_text("# static file system information\n")
    result = prepare_volume(config, NEW, by_id_dir=by_id, fstab=fstab)
    mount_point = tmp_path / "volumes" / NEW
    label = blockdevices.volume_label(NEW)
    assert fstab.read_text().splitlines() == [
        "# static file system information",
        f"LABEL={label} {mount_point} ext4 noatime,nofail 0 2",  # remounted after a reboot
    ]
    assert (result.mode, result.formatted, result.mounted_now) == ("block", True, True)
    assert os.path.ismount(mount_point)
    assert blockdevices.probe(loop_device) == ("ext4", blockdevices.volume_label(NEW))
    again = prepare_volume(config, NEW, by_id_dir=by_id, fstab=fstab)  # mounted: nothing to do
    assert len(fstab.read_text().splitlines()) == 2
    assert not again.formatted and not again.mounted_now

    switch_volume(config, NEW)
    period = old_period()
    store_frames(tmp_path / "data", period, 5)  # through the link, as the agent writes
    assert len(DataLayout(mount_point).frames_in(CAMERA, period)) == 5

    # Remount (as after a reboot): found again by its label, never formatted twice.
    subprocess.run(["umount", str(mount_point)], check=True)
    remount = prepare_volume(config, NEW, by_id_dir=tmp_path / "nothing", fstab=fstab)
    assert remount.mounted_now and not remount.formatted
    assert len(DataLayout(mount_point).frames_in(CAMERA, period)) == 5

    switch_volume(config, OLD)  # make NEW the old one, then drain it
    with pytest.raises(DataVolumeError, match=r"not yet verified|still open"):
        retire_volume(config, NEW, fstab=fstab)
    close_period(mount_point, period)
    write_receipt(mount_point, period)
    retired = retire_volume(config, NEW, fstab=fstab)
    assert retired.mode == "block" and retired.verified == 1
    assert fstab.read_text() == "# static file system information\n"
    assert not mount_point.exists()
    assert not any(row["volume_id"] == NEW for row in list_volumes(config))


@pytest.mark.root
def test_block_mode_refuses_to_format_a_device_holding_a_file_system(
    tmp_path: Path, loop_device: Path
) -> None:
    subprocess.run(["mkfs.ext4", "-q", "-L", "somebody", str(loop_device)], check=True)
    config = make_node(tmp_path, mode="block")
    with pytest.raises(DataVolumeError, match="refusing to format a device that holds data"):
        prepare_volume(config, NEW, device=str(loop_device), fstab=tmp_path / "fstab")
    assert blockdevices.probe(loop_device) == ("ext4", "somebody")


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a folder's owner needs root")
def test_prepare_as_root_gives_the_new_volume_the_agents_owner(tmp_path: Path) -> None:
    config = make_node(tmp_path)
    prepare_volume(config, "vol-0000000000000000a")
    switch_volume(config, "vol-0000000000000000a")
    active = config.data_dir.resolve()
    for item in (active, active / "frames", active / MARKER):
        os.chown(item, 65534, 65534)  # the agent's unprivileged user
    result = prepare_volume(config, "vol-0000000000000000b")
    for item in (result.path, result.path / "frames", result.path / MARKER):
        assert (item.stat().st_uid, item.stat().st_gid) == (65534, 65534), item


# -- root steps never follow the agent user's links (finding 2 of the hardening issue) ----------

AGENT_UID = 65534  # the agent's unprivileged user (nobody), who owns the volume folders


def agent_owned_volume(tmp_path: Path) -> tuple[AgentConfig, Path, Path]:
    """A node whose active volume and a prepared NEW volume belong to the agent's user, plus a
    root-owned folder standing in for /etc."""
    config = make_node(tmp_path)
    for item in (tmp_path / "volumes" / OLD, tmp_path / "volumes" / OLD / "frames"):
        os.chown(item, AGENT_UID, AGENT_UID)
    new = prepare_volume(config, NEW).path
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "shadow").write_text("root:$6$secret-hash:19000::::::\n")
    return config, new, etc


@pytest.mark.skipif(os.geteuid() != 0, reason="the attack is on root's steps: run as root")
@pytest.mark.parametrize("entry", ["frames", MARKER])
def test_prepare_as_root_refuses_a_link_the_agent_user_planted(tmp_path: Path, entry: str) -> None:
    config, new, etc = agent_owned_volume(tmp_path)
    planted = new / entry
    if planted.is_dir():
        shutil.rmtree(planted)
    else:
        planted.unlink()
    planted.symlink_to(etc if entry == "frames" else etc / "shadow")
    with pytest.raises(DataVolumeError, match=rf"{planted} is a symbolic link") as caught:
        prepare_volume(config, NEW)  # the idempotent re-run rotate-volumes does
    assert "secret-hash" not in str(caught.value)  # the marker's target was never read out
    for item in (etc, etc / "shadow"):
        assert (item.stat().st_uid, item.stat().st_gid) == (0, 0), item
    assert (etc / "shadow").read_text() == "root:$6$secret-hash:19000::::::\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="the attack is on root's steps: run as root")
def test_prepare_as_root_refuses_a_volume_folder_that_is_a_link(tmp_path: Path) -> None:
    config, _new, etc = agent_owned_volume(tmp_path)
    other = tmp_path / "volumes" / "vol-0ccccccccccccccc3"
    other.symlink_to(etc)
    with pytest.raises(DataVolumeError, match="is a symbolic link"):
        prepare_volume(config, other.name)
    assert etc.stat().st_uid == 0 and not (etc / MARKER).exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="the attack is on root's steps: run as root")
def test_a_root_write_never_goes_through_a_link_at_its_temporary_name(tmp_path: Path) -> None:
    config, _new, etc = agent_owned_volume(tmp_path)
    fresh = tmp_path / "volumes" / "vol-0ddddddddddddddd4"
    fresh.mkdir()
    os.chown(fresh, AGENT_UID, AGENT_UID)
    (fresh / f".{MARKER}.{os.getpid()}.tmp").symlink_to(etc / "shadow")  # the marker's temp name
    prepare_volume(config, fresh.name)
    assert (etc / "shadow").read_text() == "root:$6$secret-hash:19000::::::\n"
    assert (fresh / MARKER).read_text() == f"{fresh.name}\n"
    assert (fresh / MARKER).stat().st_uid == AGENT_UID
