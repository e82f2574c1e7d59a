"""Finding, formatting and mounting an EBS data volume by its volume id, never by a guessed name.

EC2 attaches a volume under a name the instance may not show: a t2 (Xen) shows ``/dev/sdf`` as
``/dev/xvdf``, a Nitro type shows it as ``/dev/nvme1n1`` in whatever order the kernel probed. So a
device is found by what identifies the volume itself, in this order:

1. an explicit ``--device`` (the operator or a test knows better);
2. Nitro: ``/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123...`` (udev), or the NVMe
   controller's serial in ``/sys/block/nvme*/device/serial``, which EC2 sets to the volume id;
3. the file-system label this module gave the volume when it formatted it (a rerun, a reboot);
4. Xen: the device EC2 reports in the volume's attachment (``/dev/sdf``) under the Xen name
   (``/dev/xvdf``), accepted only when its size matches the volume's size in EC2.

A device that already holds a file system is formatted never; one that holds somebody else's is
refused. External tools (blkid, mkfs.ext4, mount, umount from util-linux and e2fsprogs) are run
with a timeout and their failures become :class:`DataVolumeError` with their own message.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from cctview_agent.errors import DataVolumeError

NITRO_MODEL = "Amazon Elastic Block Store"
BY_ID_PREFIX = "nvme-Amazon_Elastic_Block_Store_"
LABEL_PREFIX = "cv"  # ext4 labels hold 16 bytes: "cv" + the last 14 hex digits of the id
TOOL_TIMEOUT_S = 120.0


def ebs_serial(volume_id: str) -> str:
    """The serial EC2 gives a Nitro NVMe device: the volume id without its dash."""
    return volume_id.replace("-", "")


def volume_label(volume_id: str) -> str:
    """The ext4 label of a volume this module formatted (16 bytes at most)."""
    return LABEL_PREFIX + volume_id.removeprefix("vol-")[-14:]


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def has_ebs_devices(sys_root: Path = Path("/sys")) -> bool:
    """True on an EC2 instance: an NVMe EBS controller (Nitro) or a Xen block device (t2)."""
    block = sys_root / "block"
    try:
        names = os.listdir(block)
    except OSError:
        return False
    for name in names:
        if name.startswith("xvd"):
            return True
        if name.startswith("nvme") and NITRO_MODEL in _read(block / name / "device" / "model"):
            return True
    return False


def find_by_id(
    volume_id: str, *, by_id_dir: Path = Path("/dev/disk/by-id"), sys_root: Path = Path("/sys")
) -> Path | None:
    """The Nitro device of ``volume_id``: the udev link, else the NVMe serial in sysfs."""
    link = by_id_dir / f"{BY_ID_PREFIX}{ebs_serial(volume_id)}"
    if link.exists():
        return link.resolve()
    serial = ebs_serial(volume_id)
    try:
        names = sorted(os.listdir(sys_root / "block"))
    except OSError:
        return None
    for name in names:
        if name.startswith("nvme") and _read(sys_root / "block" / name / "device" / "serial") == (
            serial
        ):
            return Path("/dev") / name
    return None


def find_by_label(label: str) -> Path | None:
    """The device whose file system carries ``label`` (blkid's cache is bypassed)."""
    result = _run(["blkid", "-c", "/dev/null", "-L", label], check=False)
    device = result.stdout.strip()
    return Path(device) if result.returncode == 0 and device else None


def find_xen_attachment(
    attachment_device: str, size_gib: int | None, *, sys_root: Path = Path("/sys")
) -> Path | None:
    """The Xen name of the device EC2 attached (``/dev/sdf`` -> ``/dev/xvdf``), size-checked.

    This is not a guess: the name comes from EC2's own attachment record, and a Xen guest names
    an ``sdX`` attachment ``xvdX``. The size check guards against a device someone renamed.
    """
    name = Path(attachment_device).name
    for prefix in ("sd", "xvd"):
        if name.startswith(prefix):
            letters = name[len(prefix) :]
            break
    else:
        return None
    candidate = f"xvd{letters}"
    block = sys_root / "block" / candidate
    if not block.exists():
        return None
    if size_gib is not None:
        sectors = _read(block / "size")
        if not sectors.isdigit() or int(sectors) * 512 != size_gib * 1024**3:
            return None
    return Path("/dev") / candidate


def find_device(
    volume_id: str,
    *,
    attachment_device: str | None = None,
    size_gib: int | None = None,
    by_id_dir: Path = Path("/dev/disk/by-id"),
    sys_root: Path = Path("/sys"),
) -> Path | None:
    """The block device of ``volume_id`` by id, then by label, then by EC2's attachment record."""
    return (
        find_by_id(volume_id, by_id_dir=by_id_dir, sys_root=sys_root)
        or find_by_label(volume_label(volume_id))
        or (
            find_xen_attachment(attachment_device, size_gib, sys_root=sys_root)
            if attachment_device
            else None
        )
    )


def probe(device: Path) -> tuple[str, str] | None:
    """``(type, label)`` of the file system on ``device``, or None when the device is blank.

    ``blkid -p`` reads the device itself (no cache); exit 2 means nothing was found on it.
    """
    result = _run(
        ["blkid", "-p", "-c", "/dev/null", "-o", "export", str(device)], check=False, sudo_hint=True
    )
    if result.returncode == 2:
        return None
    if result.returncode != 0:
        raise DataVolumeError(f"cannot probe {device}: {_stderr(result)}")
    fields = dict(
        line.split("=", 1) for line in result.stdout.splitlines() if "=" in line and line.strip()
    )
    kind = fields.get("TYPE") or fields.get("PTTYPE") or "unknown"
    return kind, fields.get("LABEL", "")


def format_ext4(device: Path, label: str) -> None:
    """mkfs.ext4 with the volume's label; no reserved blocks (the agent is the only writer)."""
    _run(["mkfs.ext4", "-q", "-F", "-m", "0", "-L", label, str(device)], sudo_hint=True)


def mount(device: Path, target: Path) -> None:
    _run(["mount", "-t", "ext4", "-o", "noatime", str(device), str(target)], sudo_hint=True)


def umount(target: Path) -> None:
    _run(["umount", str(target)], sudo_hint=True)


def is_mounted(target: Path) -> bool:
    return os.path.ismount(target)


def _stderr(result: subprocess.CompletedProcess[str]) -> str:
    lines = (result.stderr or result.stdout or "").strip().splitlines()
    return lines[-1] if lines else f"exit {result.returncode}"


def _run(
    command: list[str], *, check: bool = True, sudo_hint: bool = False
) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False
        )
    except FileNotFoundError as exc:
        raise DataVolumeError(
            f"{command[0]} is not installed; install util-linux and e2fsprogs "
            "(apt-get install util-linux e2fsprogs)"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise DataVolumeError(
            f"`{' '.join(command)}` did not finish in {TOOL_TIMEOUT_S:.0f} s"
        ) from exc
    if check and result.returncode != 0:
        hint = " (run as root)" if sudo_hint and os.geteuid() != 0 else ""
        raise DataVolumeError(f"`{' '.join(command)}` failed{hint}: {_stderr(result)}")
    return result
