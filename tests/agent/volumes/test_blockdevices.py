"""Finding an EBS device by its volume id, from a fake /sys: Nitro by the NVMe serial, Xen by the
attachment record."""

from __future__ import annotations

from pathlib import Path

from cctview_agent.volumes import blockdevices
from tests.agent.volumes.volumenode import (
    NEW,
)


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
