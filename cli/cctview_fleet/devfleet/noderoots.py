"""Each first-booted local node's root: the cached Debian root under a per-node overlay, with
/proc and /dev mounted, and every mount undone again by ``dev down``.

A node's files live in ``<fleet roots>/<node>/``: ``upper`` (what the node changed), ``work``
(overlayfs's scratch) and ``merged`` (the node's ``/``). The fleet's roots folder is named by a
digest of the fleet's state folder, so two fleets (a test's and the demo's, two clones) never
share one, and it lives under /var/tmp: the state folder may sit under /root or a pytest
folder, which are mode 0700, and the nodes' own users (``cctview``, ``admin``) must reach their
files.

Mounts are found again from the kernel's table (``/proc/self/mountinfo``), never from a record
only, so the ``dev down`` after a killed ``dev up`` undoes them too.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cctview_fleet.devfleet.errors import DevFleetError

ROOTS_PARENT = Path("/var/tmp")
TOOL_TIMEOUT_S = 60


@dataclass(frozen=True, slots=True)
class NodeRoot:
    """Where one node's overlay lives; ``merged`` is the node's ``/``."""

    folder: Path

    @property
    def upper(self) -> Path:
        return self.folder / "upper"

    @property
    def work(self) -> Path:
        return self.folder / "work"

    @property
    def merged(self) -> Path:
        return self.folder / "merged"

    def path(self, absolute: str | Path) -> Path:
        """A path of the node (``/etc/cctview/agent.toml``) as seen from the host."""
        return self.merged / str(absolute).lstrip("/")


def fleet_roots(mark: str) -> Path:
    """The folder that holds a fleet's node roots, unique to the fleet's state folder."""
    return ROOTS_PARENT / f"cctview-nodes-{hashlib.sha256(mark.encode()).hexdigest()[:12]}"


def run_tool(argv: list[str], what: str) -> None:
    """Run a system tool (mount, chroot, ...); its failure is one line naming ``what``."""
    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DevFleetError(f"{what} failed: {exc}") from exc
    if result.returncode != 0:
        raise DevFleetError(f"{what} failed: {result.stderr.strip() or result.returncode}")


def mount_node_root(base: Path, folder: Path) -> NodeRoot:
    """Overlay ``base`` with a fresh upper layer at ``folder`` and mount /proc and /dev in it."""
    root = NodeRoot(folder)
    if folder.exists():
        shutil.rmtree(folder)  # a previous fleet's node: first boot starts from the image
    for sub in (root.upper, root.work, root.merged):
        sub.mkdir(parents=True)
    folder.parent.chmod(0o755)
    options = f"lowerdir={base},upperdir={root.upper},workdir={root.work}"
    run_tool(
        ["mount", "-t", "overlay", "overlay", "-o", options, str(root.merged)], "overlay mount"
    )
    run_tool(["mount", "-t", "proc", "proc", str(root.path("/proc"))], "mounting /proc")
    mount_private_dev(root.path("/dev"))
    return root


# The character devices every Linux /dev has (major, minor), as the kernel numbers them.
_CHAR_DEVICES = {
    "null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9),
    "tty": (5, 0),
}  # fmt: skip


def mount_private_dev(dev: Path) -> None:
    """The node's own /dev: a tmpfs with the usual devices and its own pseudo-terminals.

    Not the host's /dev bound in: a node's block devices are its own (its EBS volumes appear
    here as loop devices with the by-id links EC2's Nitro gives them, :mod:`.ebsattacher`),
    and nothing a node makes in /dev reaches the host's.
    """
    run_tool(["mount", "-t", "tmpfs", "-o", "mode=0755,size=1m", "tmpfs", str(dev)], "/dev")
    for name, (major, minor) in _CHAR_DEVICES.items():
        os.mknod(dev / name, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        (dev / name).chmod(0o666)
    for sub in ("pts", "shm", "disk/by-id"):
        (dev / sub).mkdir(parents=True)
    (dev / "shm").chmod(0o1777)
    pts = ["mount", "-t", "devpts", "-o", "newinstance,ptmxmode=0666,mode=0620", "devpts"]
    run_tool([*pts, str(dev / "pts")], "mounting /dev/pts")
    (dev / "ptmx").symlink_to("pts/ptmx")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):  # fmt: skip
        (dev / name).symlink_to(target)


def _unescape(field: str) -> str:
    """mountinfo writes a space, tab, newline and backslash as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def mounts_below(folder: Path) -> list[Path]:
    """Every mount point at or below ``folder``, deepest first (the order to undo them)."""
    prefix = str(folder).rstrip("/") + "/"
    found: list[Path] = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        point = _unescape(line.split()[4])
        if point.startswith(prefix) or point == str(folder):
            found.append(Path(point))
    return sorted(set(found), key=lambda p: (len(p.parts), str(p)), reverse=True)


def unmount_below(folder: Path) -> list[str]:
    """Undo every mount below ``folder``; returns the ones that would not go (with why)."""
    failures: list[str] = []
    for point in mounts_below(folder):
        try:
            run_tool(["umount", str(point)], f"umount {point}")
        except DevFleetError:
            try:
                run_tool(["umount", "--lazy", str(point)], f"umount {point}")
            except DevFleetError as exc:
                failures.append(str(exc))
    return failures


def remove_fleet_roots(folder: Path) -> None:
    """Delete the node roots once nothing is mounted below them or backs a loop device."""
    if folder.exists() and not mounts_below(folder) and not loops_below(folder):
        shutil.rmtree(folder, ignore_errors=True)


def loops_below(folder: Path) -> list[tuple[str, Path]]:
    """``(loop device, backing file)`` for every loop device backed by a file below ``folder``:
    the local nodes' EBS volumes, found from the kernel's list (a killed fleet's too)."""
    try:
        result = subprocess.run(
            ["losetup", "--json", "--list"], capture_output=True, text=True, timeout=30, check=False
        )
        devices = json.loads(result.stdout or "{}").get("loopdevices", [])
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return []
    prefix = str(folder).rstrip("/") + "/"
    return [
        (d["name"], Path(d["back-file"].removesuffix(" (deleted)")))
        for d in devices
        if (d.get("back-file") or "").startswith(prefix)
    ]


def detach_loops_below(folder: Path) -> list[str]:
    """Detach the loop devices of the volumes below ``folder``; returns what would not go."""
    failures = []
    for device, _backing in loops_below(folder):
        try:
            run_tool(["losetup", "--detach", device], f"detaching {device}")
        except DevFleetError as exc:
            failures.append(str(exc))
    return failures
