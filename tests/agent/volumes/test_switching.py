"""Data volumes on a node: prepare, atomic link switching, drain status and the retire refusal.

Folder mode runs everywhere; the block-mode test loop-mounts a real ext4 file system and needs
root and a free loop device (CI is root).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from cctview_agent.atomicfile import write_atomic
from cctview_agent.config import AgentConfig, config_from_mapping
from cctview_agent.errors import ConfigError, DataVolumeError
from cctview_agent.layout import DataLayout, frame_name
from cctview_agent.main import main
from cctview_agent.manifests import FrameRecord, Manifest, frame_digest
from cctview_agent.periods import Period
from cctview_agent.volumes import blockdevices
from cctview_agent.volumes.drain import drain_status, list_volumes, retire_volume
from cctview_agent.volumes.switching import MARKER, active_volume, prepare_volume, switch_volume

OLD = "vol-0aaaaaaaaaaaaaaa1"
NEW = "vol-0bbbbbbbbbbbbbbb2"
PERIOD = 10
CAMERA = "cam-1"
FLEET_BUCKET = "fleet-frames"


def make_node(tmp_path: Path, *, mode: str = "folder") -> AgentConfig:
    """A node folder like the local fleet's: data -> volumes/OLD, with frames/ on OLD."""
    (tmp_path / "volumes" / OLD / "frames").mkdir(parents=True)
    os.symlink(f"volumes/{OLD}", tmp_path / "data")
    return AgentConfig(
        data_dir=tmp_path / "data",
        volumes_dir=tmp_path / "volumes",
        period=PERIOD,
        grace=2.0,
        volume_mode=mode,
        bucket=FLEET_BUCKET,
    )


def store_frames(root: Path, period: Period, count: int, camera: str = CAMERA) -> list[Path]:
    layout = DataLayout(root)
    paths = []
    for i in range(count):
        path = layout.frame_path(camera, period.start_ms + 1000 * i)
        write_atomic(path, f"frame {i}".encode())
        paths.append(path)
    return paths


def close_period(root: Path, period: Period, camera: str = CAMERA) -> None:
    layout = DataLayout(root)
    frames = tuple(
        FrameRecord(p.name, ts, p.stat().st_size, frame_digest(p.read_bytes()))
        for ts, p in layout.frames_in(camera, period)
    )
    manifest = Manifest(camera_id=camera, period=period, frames=frames)
    write_atomic(layout.manifest_path(camera, period), manifest.to_json())


def write_receipt(
    root: Path, period: Period, camera: str = CAMERA, bucket: str = FLEET_BUCKET
) -> None:
    """The receipt the syncer writes after verifying the period in ``bucket`` (prefix cctview)."""
    receipt = {"version": 1, "bucket": bucket, "prefix": "cctview", "frames": 1}
    write_atomic(DataLayout(root).receipt_path(camera, period), json.dumps(receipt).encode())


def old_period() -> Period:
    return Period.containing(int((time.time() - 3 * PERIOD) * 1000), PERIOD)


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


# -- drain and retire ------------------------------------------------------------------------


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


def test_retire_of_an_unmounted_block_volume_is_refused(tmp_path: Path) -> None:
    config = make_node(tmp_path, mode="block")
    (tmp_path / "volumes" / NEW).mkdir()  # an empty mount point: the device is not mounted
    with pytest.raises(DataVolumeError, match="does not exist"):
        retire_volume(config, NEW)


# -- the command line ------------------------------------------------------------------------


def write_config(tmp_path: Path, config: AgentConfig) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(config.to_toml())
    assert config_from_mapping({"volume_mode": config.volume_mode}).volume_mode == "folder"
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_rotation_steps_print_json_and_refuse_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_node(tmp_path)
    cfg = str(write_config(tmp_path, config))
    store_frames(tmp_path / "volumes" / OLD, old_period(), 2)
    code, out, _ = run_cli(capsys, "--config", cfg, "volume", "prepare", "--volume-id", NEW)
    assert code == 0 and json.loads(out)["mode"] == "folder"
    code, out, _ = run_cli(capsys, "--config", cfg, "volume", "switch", "--volume-id", NEW)
    assert code == 0 and json.loads(out) == {"volume_id": NEW, "previous": OLD, "changed": True}
    code, out, _ = run_cli(
        capsys, "--config", cfg, "volume", "drain-status", "--volume-id", OLD, "--json"
    )
    drained = json.loads(out)
    assert code == 0 and not drained["drained"] and len(drained["open"]) == 1
    code, out, err = run_cli(capsys, "--config", cfg, "volume", "retire", "--volume-id", OLD)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"error: refusing to retire {OLD}: ")
    code, out, _ = run_cli(capsys, "--config", cfg, "volume", "list", "--json")
    rows = {row["volume_id"]: row for row in json.loads(out)}
    assert rows[NEW]["active"] and not rows[OLD]["active"]
    assert 0 <= rows[NEW]["disk"]["used_percent"] <= 100


def test_cli_bad_volume_id_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(write_config(tmp_path, make_node(tmp_path)))
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", cfg, "volume", "switch", "--volume-id", "sdf"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'sdf' is not an EBS volume id" in err


def test_config_refuses_an_unknown_volume_mode() -> None:
    with pytest.raises(ConfigError, match="volume_mode must be one of auto, block, folder"):
        config_from_mapping({"volume_mode": "lvm"})


# -- finding an EBS device by its id (a fake /sys) ----------------------------------------------


def fake_block(sys_root: Path, name: str, **files: str) -> None:
    folder = sys_root / "block" / name
    (folder / "device").mkdir(parents=True)
    for key, value in files.items():
        target = folder / "size" if key == "size" else folder / "device" / key
        target.write_text(value + "\n")


def test_nitro_device_is_found_by_the_nvme_serial_without_udev(tmp_path: Path) -> None:
    sys_root = tmp_path / "sys"
    fake_block(sys_root, "nvme0n1", model=blockdevices.NITRO_MODEL, serial="vol0aaaaaaaaaaaaaaa1")
    fake_block(sys_root, "nvme1n1", model=blockdevices.NITRO_MODEL, serial="vol0bbbbbbbbbbbbbbb2")
    assert blockdevices.has_ebs_devices(sys_root)
    found = blockdevices.find_by_id(NEW, by_id_dir=tmp_path / "no-udev", sys_root=sys_root)
    assert found == Path("/dev/nvme1n1")
    assert (
        blockdevices.find_by_id("vol-0ccccccccccccccc3", by_id_dir=tmp_path, sys_root=sys_root)
        is None
    )


def test_xen_device_comes_from_the_attachment_record_only_when_the_size_matches(
    tmp_path: Path,
) -> None:
    sys_root = tmp_path / "sys"
    fake_block(sys_root, "xvda", size=str(8 * 1024**3 // 512))
    fake_block(sys_root, "xvdf", size=str(16 * 1024**3 // 512))
    assert blockdevices.has_ebs_devices(sys_root)
    assert blockdevices.find_xen_attachment("/dev/sdf", 16, sys_root=sys_root) == Path("/dev/xvdf")
    assert blockdevices.find_xen_attachment("/dev/sdf", 8, sys_root=sys_root) is None
    assert blockdevices.find_xen_attachment("/dev/sdg", 16, sys_root=sys_root) is None
    assert not blockdevices.has_ebs_devices(tmp_path / "laptop")


def test_volume_label_fits_ext4() -> None:
    assert blockdevices.volume_label("vol-0123456789abcdef0") == "cv3456789abcdef0"  # 16 bytes


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
