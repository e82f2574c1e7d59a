"""EC2's part of an EBS attachment, for the first-booted local nodes: a loop device per volume.

On EC2, attaching a volume makes a block device appear in the instance; on a Nitro instance
udev links it as ``/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123...``, which is how
``cctview-agent volume prepare`` finds it. This process watches the emulator's volumes of the
fleet: for each one attached to a node's instance it backs the volume with a sparse file of the
volume's size (kept while the volume exists, as EBS keeps data across detach), sets up a loop
device on it and makes the device and its by-id link in that node's own /dev; when EC2 says the
volume is detached, it removes them and detaches the loop device; a deleted volume's file goes.
The kernel's loop device number is the only part of the device path that differs from EC2's
(``/dev/loopN``, not ``/dev/nvmeNn1``): nothing in the agent relies on the name.

    python -m cctview_fleet.devfleet.ebsattacher --state <fleet>/state.json
"""

from __future__ import annotations

import argparse
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from botocore.exceptions import ClientError

from cctview_agent.volumes.blockdevices import BY_ID_PREFIX, ebs_serial
from cctview_fleet.cloud import aws
from cctview_fleet.devfleet.errors import DevFleetError
from cctview_fleet.devfleet.noderoots import loops_below, run_tool
from cctview_fleet.devfleet.state import FleetState, load_state_file
from cctview_fleet.errors import FleetError

POLL_S = 0.5
LOOP_MAJOR = 7


def volumes_folder(state: FleetState) -> Path:
    """Where the volumes' backing files live: beside the node roots (reachable, not the repo)."""
    return Path(state.roots) / "volumes"


def _say(message: str) -> None:
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    print(f"{stamp} ebs: {message}", flush=True)


def attached_volumes(state: FleetState) -> dict[str, tuple[str, int]]:
    """volume id -> (node root, size in GiB) for every fleet volume attached to a node."""
    from cctview_fleet.devfleet.fleet import local_stack

    roots = {node.instance_id: node.root for node in state.nodes if node.instance_id}
    stack = local_stack(state, "admin")
    with aws.translate_errors(stack, "ec2", "listing the fleet's volumes", error=DevFleetError):
        pages = (
            aws.ec2(stack)
            .get_paginator("describe_volumes")
            .paginate(Filters=[{"Name": "tag:cctview:fleet", "Values": [stack.name]}])
        )
        volumes = [volume for page in pages for volume in page["Volumes"]]
    found: dict[str, tuple[str, int]] = {}
    for volume in volumes:
        for attachment in volume.get("Attachments", []):
            root = roots.get(attachment.get("InstanceId", ""))
            if root and attachment.get("State") in ("attaching", "attached"):
                found[volume["VolumeId"]] = (root, int(volume["Size"]))
    return found


class Attacher:
    """Keeps each node's loop devices in step with the emulator's attachments."""

    def __init__(self, state_file: Path) -> None:
        self.state_file = state_file
        self.attached: dict[str, tuple[str, str]] = {}  # volume -> (node root, /dev/loopN)
        self.stopping = False

    def _stop(self, _signum: int, _frame: FrameType | None) -> None:
        self.stopping = True

    def attach(self, volume_id: str, root: str, size_gib: int, folder: Path) -> None:
        backing = folder / f"{volume_id}.img"
        if not backing.exists():
            folder.mkdir(parents=True, exist_ok=True)
            with open(backing, "wb") as sparse:
                sparse.truncate(size_gib * 1024**3)
        known = {str(path): device for device, path in loops_below(folder)}
        device = known.get(str(backing))
        if device is None:
            result = subprocess.run(
                ["losetup", "--find", "--show", str(backing)],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            if result.returncode != 0:
                raise DevFleetError(f"losetup for {volume_id} failed: {result.stderr.strip()}")
            device = result.stdout.strip()
        minor = int(device.removeprefix("/dev/loop"))
        dev = Path(root) / "dev"
        node = dev / Path(device).name
        if not node.exists():
            os.mknod(node, 0o660 | stat.S_IFBLK, os.makedev(LOOP_MAJOR, minor))
        link = dev / "disk" / "by-id" / f"{BY_ID_PREFIX}{ebs_serial(volume_id)}"
        if not link.is_symlink():
            link.symlink_to(f"../../{node.name}")
        self.attached[volume_id] = (root, device)
        _say(f"{volume_id} attached to {Path(root).parent.name} as {device}")

    def detach(self, volume_id: str) -> None:
        root, device = self.attached.pop(volume_id)
        dev = Path(root) / "dev"
        (dev / "disk" / "by-id" / f"{BY_ID_PREFIX}{ebs_serial(volume_id)}").unlink(missing_ok=True)
        (dev / Path(device).name).unlink(missing_ok=True)
        try:
            run_tool(["losetup", "--detach", device], f"detaching {device}")
        except DevFleetError as exc:
            _say(f"{volume_id}: {exc}")
        _say(f"{volume_id} detached from {Path(root).parent.name}")

    def step(self) -> None:
        state = load_state_file(self.state_file)
        if state is None:
            return
        folder = volumes_folder(state)
        wanted = attached_volumes(state)
        for volume_id in [v for v in self.attached if v not in wanted]:
            self.detach(volume_id)
        for volume_id, (root, size) in wanted.items():
            # Only into a node whose own /dev is mounted (never into the image underneath it).
            if volume_id not in self.attached and os.path.ismount(Path(root) / "dev"):
                self.attach(volume_id, root, size, folder)
        live = set(wanted) | set(self.attached)
        for backing in folder.glob("vol-*.img") if folder.exists() else []:
            if backing.stem not in live and not _volume_exists(state, backing.stem):
                backing.unlink(missing_ok=True)  # the volume was deleted in EC2

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        _say(f"watching the attachments of {self.state_file.parent}")
        while not self.stopping:
            try:
                self.step()
            except FleetError as exc:
                _say(f"error: {exc}")
            deadline = time.monotonic() + POLL_S
            while time.monotonic() < deadline and not self.stopping:
                time.sleep(0.05)
        return 0  # loop devices stay: `dev down` detaches them once the nodes' mounts are gone


def _volume_exists(state: FleetState, volume_id: str) -> bool:
    from cctview_fleet.devfleet.fleet import local_stack

    stack = local_stack(state, "admin")
    try:
        aws.ec2(stack).describe_volumes(VolumeIds=[volume_id])
    except ClientError as exc:
        return bool(exc.response.get("Error", {}).get("Code") != "InvalidVolume.NotFound")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cctview-fleet-ebs", description=__doc__)
    parser.add_argument("--state", type=Path, required=True, help="the fleet's state.json")
    args = parser.parse_args(argv)
    return Attacher(args.state).run()


if __name__ == "__main__":
    sys.exit(main())
