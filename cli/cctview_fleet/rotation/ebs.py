"""A node's EBS data volumes through the EC2 API: find them by tag, create, attach, detach,
snapshot, delete, and the rotation tags that make every step of a rotation resumable.

    cctview:fleet=<stack>  cctview:node=<node>  cctview:generation=<N>   (every data volume)
    cctview:rotation=<state>              where this volume stands in a rotation
    cctview:rotation-from=<old vol-id>    on the new volume: the volume it replaces
    cctview:rotation-to=<new vol-id>      on the old volume: the volume that replaced it
    cctview:rotation-snapshot=yes|no, cctview:rotation-keep=yes|no   the operator's choices,
                                           kept so that a resumed rotation honours them
    cctview:snapshot=<snap-id>             on the old volume once its snapshot was started

Tags live with the volume, so the state survives the operator's laptop, a killed command and a
second operator; every EC2 call below is safe to repeat. botocore errors leave as VolumeError.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import botocore.exceptions

from cctview_agent.fleetconstants import (
    DATA_VOLUME_TAG,
    FLEET_TAG,
    GENERATION_TAG,
    NODE_TAG,
    ROTATION_FROM_TAG,
    ROTATION_KEEP_TAG,
    ROTATION_SNAPSHOT_TAG,
    ROTATION_TAG,
    ROTATION_TO_TAG,
    SNAPSHOT_TAG,
    VOLUME_TAG,
)
from cctview_fleet.cloud import aws
from cctview_fleet.cloud.stacks import Stack
from cctview_fleet.cloud.volumes import DataVolume
from cctview_fleet.errors import CredentialsError, VolumeError

# Device names EC2 accepts for data volumes on both Xen and Nitro; the instance may show them
# under other names, which is why the node finds the device by volume id, not by this name.
DEVICE_NAMES = tuple(f"/dev/sd{letter}" for letter in "fghijklmnop")


class Ec2Volumes:
    """The EC2 calls of a rotation for one stack, each translated to VolumeError on failure."""

    def __init__(
        self, stack: Stack, *, poll: float = 1.0, timeout: float = 300.0, ec2: Any = None
    ) -> None:
        self.stack = stack
        self.poll = poll
        self.timeout = timeout
        self.ec2 = ec2 if ec2 is not None else aws.ec2(stack)

    def _call(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        with aws.translate_errors(self.stack, "ec2", what, error=VolumeError):
            return fn(**kwargs)

    def node_volumes(self, node: str) -> list[DataVolume]:
        """The node's data volumes that still exist, oldest generation first."""
        filters = [
            {"Name": f"tag:{FLEET_TAG}", "Values": [self.stack.name]},
            {"Name": f"tag:{NODE_TAG}", "Values": [node]},
        ]
        pages = self._call(
            f"listing the volumes of {node}",
            lambda: list(self.ec2.get_paginator("describe_volumes").paginate(Filters=filters)),
        )
        volumes = [DataVolume.from_api(v) for page in pages for v in page.get("Volumes", [])]
        live = [v for v in volumes if v.state not in ("deleting", "deleted")]
        return sorted(live, key=lambda v: (v.generation, v.volume_id))

    def _described(self, what: str, missing: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """``fn(**kwargs)``'s answer, or None when EC2 answers ``missing`` (it no longer knows
        the thing described)."""
        try:
            return fn(**kwargs)
        except botocore.exceptions.ClientError as exc:
            if aws.error_code(exc) == missing:
                return None
            raise self._translated(exc, what) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise self._translated(exc, what) from exc

    def get(self, volume_id: str) -> DataVolume | None:
        """The volume, or None when EC2 no longer knows it (deleted)."""
        data = self._described(
            f"describing {volume_id}",
            "InvalidVolume.NotFound",
            self.ec2.describe_volumes,
            VolumeIds=[volume_id],
        )
        found = data["Volumes"] if data else []
        return DataVolume.from_api(found[0]) if found else None

    def _translated(self, exc: Exception, what: str) -> Exception:
        error = aws.translate(exc, self.stack, "ec2", what)
        return error if isinstance(error, CredentialsError) else VolumeError(str(error))

    def create(
        self,
        node: str,
        *,
        az: str,
        size_gib: int,
        volume_type: str,
        generation: int,
        tags: Mapping[str, str],
    ) -> DataVolume:
        """An encrypted volume of the next generation; the client token makes a retry idempotent."""
        all_tags = {
            "Name": f"cctview-{self.stack.name}-{node}-data-{generation}",
            FLEET_TAG: self.stack.name,
            NODE_TAG: node,
            GENERATION_TAG: str(generation),
            **tags,
        }
        # One token per (replaced volume, generation): a retried call after a lost answer gets
        # the same volume back instead of a second one.
        token = f"cctview-{tags.get(ROTATION_FROM_TAG, node)}-gen{generation}"[:64]
        data = self._call(
            f"creating generation {generation} of the data volume of {node}",
            self.ec2.create_volume,
            AvailabilityZone=az,
            Size=size_gib,
            VolumeType=volume_type,
            Encrypted=True,
            ClientToken=token,
            TagSpecifications=[
                {
                    "ResourceType": "volume",
                    "Tags": [{"Key": k, "Value": v} for k, v in all_tags.items()],
                }
            ],
        )
        return self.wait(str(data["VolumeId"]), "available")

    def tag(self, volume_id: str, **pairs: str) -> None:
        """Set tags given as python names: rotation='attached' -> cctview:rotation=attached."""
        names = {
            "rotation": ROTATION_TAG,
            "rotation_from": ROTATION_FROM_TAG,
            "rotation_to": ROTATION_TO_TAG,
            "snapshot_choice": ROTATION_SNAPSHOT_TAG,
            "keep_choice": ROTATION_KEEP_TAG,
            "snapshot": SNAPSHOT_TAG,
        }
        tags = [{"Key": names[key], "Value": str(value)} for key, value in pairs.items()]
        self._call(f"tagging {volume_id}", self.ec2.create_tags, Resources=[volume_id], Tags=tags)

    def mark_active(self, instance_id: str, volume_id: str) -> None:
        """Tag the instance with the volume its agent now writes to: a replacement's first boot
        reads it (``DATA_VOLUME_TAG``) instead of the volume the program first made."""
        self._call(
            f"tagging {instance_id}",
            self.ec2.create_tags,
            Resources=[instance_id],
            Tags=[{"Key": DATA_VOLUME_TAG, "Value": volume_id}],
        )

    def free_device(self, instance_id: str) -> str:
        """A device name no volume of the instance uses yet."""
        data = self._call(
            f"describing instance {instance_id}",
            self.ec2.describe_instances,
            InstanceIds=[instance_id],
        )
        used = {
            mapping.get("DeviceName")
            for reservation in data.get("Reservations", [])
            for instance in reservation.get("Instances", [])
            for mapping in instance.get("BlockDeviceMappings", [])
        }
        attached = self._call(
            f"listing the volumes of {instance_id}",
            self.ec2.describe_volumes,
            Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}],
        )
        used |= {a.get("Device") for v in attached["Volumes"] for a in v.get("Attachments", [])}
        for name in DEVICE_NAMES:
            if name not in used:
                return name
        raise VolumeError(
            f"instance {instance_id} has no free device name among {DEVICE_NAMES[0]}.."
            f"{DEVICE_NAMES[-1]}; detach volumes it no longer needs"
        )

    def instance_state(self, instance_id: str) -> str | None:
        """The instance's state name (running, shutting-down, ...), or None when EC2 no longer
        lists it."""
        data = self._described(
            f"describing instance {instance_id}",
            "InvalidInstanceID.NotFound",
            self.ec2.describe_instances,
            InstanceIds=[instance_id],
        )
        for reservation in (data or {}).get("Reservations", []):
            for instance in reservation.get("Instances", []):
                return str(instance.get("State", {}).get("Name", "unknown"))
        return None

    def attach(
        self, volume: DataVolume, instance_id: str, *, device: str | None = None
    ) -> DataVolume:
        """Attach ``volume`` to ``instance_id`` at ``device`` (else a free device name) and wait
        until it is attached; already attached there is done."""
        if volume.instance_id == instance_id and volume.attachment_state == "attached":
            return volume
        if volume.instance_id not in (None, instance_id):
            raise VolumeError(
                f"{volume.volume_id} is attached to {volume.instance_id}, not {instance_id}; "
                "detach it there first"
            )
        if volume.instance_id is None:
            device = device or self.free_device(instance_id)
            self._call(
                f"attaching {volume.volume_id} to {instance_id}",
                self.ec2.attach_volume,
                VolumeId=volume.volume_id,
                InstanceId=instance_id,
                Device=device,
            )
        return self.wait(volume.volume_id, "in-use", attached_to=instance_id)

    def detach(self, volume: DataVolume) -> DataVolume:
        if volume.instance_id is not None:
            self._call(
                f"detaching {volume.volume_id}",
                self.ec2.detach_volume,
                VolumeId=volume.volume_id,
                InstanceId=volume.instance_id,
            )
        return self.wait(volume.volume_id, "available")

    def snapshot(self, volume: DataVolume) -> str:
        """The snapshot of ``volume`` (started now unless one was already), once completed."""
        snapshot_id = volume.tags.get(SNAPSHOT_TAG)
        if not snapshot_id:
            found = self._call(
                f"listing snapshots of {volume.volume_id}",
                self.ec2.describe_snapshots,
                Filters=[{"Name": f"tag:{VOLUME_TAG}", "Values": [volume.volume_id]}],
            )["Snapshots"]
            if found:
                snapshot_id = str(found[0]["SnapshotId"])
            else:
                tags = {
                    FLEET_TAG: self.stack.name,
                    NODE_TAG: volume.tags.get(NODE_TAG, ""),
                    GENERATION_TAG: str(volume.generation),
                    VOLUME_TAG: volume.volume_id,
                }
                snapshot_id = str(
                    self._call(
                        f"snapshotting {volume.volume_id}",
                        self.ec2.create_snapshot,
                        VolumeId=volume.volume_id,
                        Description=f"cctview {self.stack.name} retired data volume",
                        TagSpecifications=[
                            {
                                "ResourceType": "snapshot",
                                "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                            }
                        ],
                    )["SnapshotId"]
                )
            self.tag(volume.volume_id, snapshot=snapshot_id)
        self._wait_snapshot(snapshot_id)
        return snapshot_id

    def delete(self, volume_id: str) -> None:
        if self.get(volume_id) is None:
            return
        self._call(f"deleting {volume_id}", self.ec2.delete_volume, VolumeId=volume_id)

    def wait(self, volume_id: str, state: str, *, attached_to: str | None = None) -> DataVolume:
        """Poll until the volume reaches ``state`` (and the attachment, when given)."""
        deadline = time.monotonic() + self.timeout
        while True:
            volume = self.get(volume_id)
            if volume is None:
                raise VolumeError(f"{volume_id} disappeared while waiting for it to be {state}")
            ready = volume.state == state
            if attached_to is not None:
                ready = ready and (volume.instance_id, volume.attachment_state) == (
                    attached_to,
                    "attached",
                )
            if ready:
                return volume
            if volume.state == "error":
                raise VolumeError(f"{volume_id} is in state 'error' in EC2; look at it there")
            if time.monotonic() > deadline:
                raise VolumeError(
                    f"{volume_id} is still {volume.state} after {self.timeout:g} s "
                    f"(waiting for {state})"
                )
            time.sleep(self.poll)

    def _wait_snapshot(self, snapshot_id: str) -> None:
        deadline = time.monotonic() + max(self.timeout, 3600.0)  # snapshots take minutes
        while True:
            snapshots = self._call(
                f"describing {snapshot_id}", self.ec2.describe_snapshots, SnapshotIds=[snapshot_id]
            )["Snapshots"]
            state = snapshots[0]["State"] if snapshots else "missing"
            if state == "completed":
                return
            if state in ("error", "missing"):
                raise VolumeError(f"snapshot {snapshot_id} is {state}; the volume is kept")
            if time.monotonic() > deadline:
                raise VolumeError(f"snapshot {snapshot_id} is still {state}; rerun to go on")
            time.sleep(self.poll)
