"""A fleet's EBS data volume as EC2 describes it: size, state, attachment and tags.

What both the rotation (:mod:`cctview_fleet.rotation.ebs`) and ``teardown``
(:mod:`cctview_fleet.cloud.teardown`) read of a volume; only the rotation changes volumes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cctview_agent.fleetconstants import GENERATION_TAG, ROTATION_TAG


@dataclass(frozen=True, slots=True)
class DataVolume:
    """One EBS data volume as EC2 describes it."""

    volume_id: str
    state: str  # creating | available | in-use | deleting | deleted | error
    size_gib: int
    az: str
    volume_type: str = "gp3"
    encrypted: bool = False
    instance_id: str | None = None  # attached to
    device: str | None = None  # the attachment's device name
    attachment_state: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def generation(self) -> int:
        text = self.tags.get(GENERATION_TAG, "1")
        return int(text) if text.isdigit() else 1

    @property
    def rotation(self) -> str:
        return self.tags.get(ROTATION_TAG, "")

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> DataVolume:
        attachments = [a for a in data.get("Attachments") or [] if a.get("State") != "detached"]
        attachment = attachments[0] if attachments else {}
        return cls(
            volume_id=str(data["VolumeId"]),
            state=str(data.get("State", "")),
            size_gib=int(data.get("Size", 0)),
            az=str(data.get("AvailabilityZone", "")),
            volume_type=str(data.get("VolumeType") or "gp3"),
            encrypted=bool(data.get("Encrypted")),
            instance_id=attachment.get("InstanceId"),
            device=attachment.get("Device"),
            attachment_state=attachment.get("State"),
            tags={t["Key"]: t.get("Value", "") for t in data.get("Tags") or []},
        )
