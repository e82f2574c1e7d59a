"""What the fleet leaves billing after (or instead of) ``pulumi destroy``, and deleting it.

Pulumi's state never holds what the CLI made or what Pulumi lets go: data volumes of generation 2
and up (rotate-volumes), retired or kept volumes, first volumes retained when their instance went
(``retain_on_delete``), snapshots of retired volumes, and multipart uploads a killed sync left
unfinished under ``<prefix>/frames/``. They are found by the fleet's tag (volumes, snapshots)
and in the fleet's bucket (uploads), each with its size and monthly cost at the table's rates.

A volume is deleted only when nothing can be lost: never while attached, and, unless the
operator says ``include_unsynced``, only when its rotation tag says its periods were verified in
S3 (``retired``, ``detached``, ``snapshotted``, ``kept``). A volume without that proof (a first
volume whose instance was terminated, a rotation stopped while draining) may hold periods no
sync shipped: it is listed, marked, and left alone.

Also reported: what ``pulumi destroy`` will stop at (the protected first volumes, a bucket that
is not empty), so the operator knows the next step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cctview_agent.fleetconstants import (
    FLEET_TAG,
    GB,
    GENERATION_TAG,
    GIB,
    NODE_TAG,
    Prices,
    RotationState,
)
from cctview_agent.s3layout import FRAMES_FOLDER
from cctview_fleet.cloud import aws
from cctview_fleet.cloud.stacks import Stack
from cctview_fleet.cloud.volumes import DataVolume
from cctview_fleet.errors import FleetError

# Rotation states in which the old volume's periods are verified in S3.
DRAINED = (
    RotationState.RETIRED,
    RotationState.DETACHED,
    RotationState.SNAPSHOTTED,
    RotationState.KEPT,
)
BUCKET_COUNT_LIMIT = 100_000  # objects counted for the destroy advice; beyond: "at least"


class Kind(StrEnum):
    VOLUME = "volume"
    SNAPSHOT = "snapshot"
    UPLOAD = "upload"


@dataclass(frozen=True, slots=True)
class Leftover:
    """One billable thing; ``blocked`` says why it is not deleted ("" when it will be)."""

    kind: Kind
    id: str
    size_bytes: int
    monthly_usd: float
    detail: str
    blocked: str = ""
    key: str = ""  # uploads: the object key the upload was for

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind.value, "id": self.id, "size_bytes": self.size_bytes,
                "monthly_usd": round(self.monthly_usd, 2), "detail": self.detail,
                "blocked": self.blocked, "key": self.key}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Survey:
    leftovers: tuple[Leftover, ...]
    destroy_needs: tuple[str, ...]  # what `pulumi destroy` will stop at, one sentence each

    @property
    def deletable(self) -> list[Leftover]:
        return [item for item in self.leftovers if not item.blocked]

    @property
    def monthly_usd(self) -> float:
        return sum(item.monthly_usd for item in self.leftovers)


def _volume_blocked(volume: DataVolume, include_unsynced: bool) -> str:
    if volume.instance_id:
        return f"attached to {volume.instance_id}: run teardown again after `pulumi destroy`"
    if volume.state not in ("available", "error"):
        return f"is {volume.state}"
    if volume.rotation in DRAINED or include_unsynced:
        return ""
    return (
        "may hold periods no sync shipped (no drained rotation tag); run sync-s3 or "
        "rotate-volumes first, or pass --include-unsynced"
    )


def _volumes(stack: Stack) -> list[DataVolume]:
    ec2 = aws.ec2(stack)
    filters = [
        {"Name": f"tag:{FLEET_TAG}", "Values": [stack.name]},
        {"Name": "tag-key", "Values": [GENERATION_TAG]},  # data volumes, not root volumes
    ]
    with aws.translate_errors(stack, "ec2", "listing the fleet's volumes"):
        pages = list(ec2.get_paginator("describe_volumes").paginate(Filters=filters))
    volumes = [DataVolume.from_api(v) for page in pages for v in page.get("Volumes", [])]
    return sorted(
        (v for v in volumes if v.state not in ("deleting", "deleted")),
        key=lambda v: (v.tags.get(NODE_TAG, ""), v.generation, v.volume_id),
    )


def _volume_leftover(volume: DataVolume, prices: Prices, include_unsynced: bool) -> Leftover:
    node = volume.tags.get(NODE_TAG, "?")
    state = volume.rotation or ("in use" if volume.instance_id else "no rotation tag")
    return Leftover(
        Kind.VOLUME,
        volume.volume_id,
        volume.size_gib * GIB,
        volume.size_gib * prices.ebs_gb_month_usd,
        f"{node} generation {volume.generation}, {volume.size_gib} GiB {volume.volume_type}, "
        f"{state}",
        _volume_blocked(volume, include_unsynced),
    )


def _snapshots(stack: Stack, prices: Prices) -> list[Leftover]:
    ec2 = aws.ec2(stack)
    filters = [{"Name": f"tag:{FLEET_TAG}", "Values": [stack.name]}]
    with aws.translate_errors(stack, "ec2", "listing the fleet's snapshots"):
        pages = list(
            ec2.get_paginator("describe_snapshots").paginate(OwnerIds=["self"], Filters=filters)
        )
    found = sorted((s for page in pages for s in page.get("Snapshots", [])),
                   key=lambda s: str(s["SnapshotId"]))  # fmt: skip
    leftovers = []
    for snap in found:
        size_gib = int(snap.get("VolumeSize") or 0)
        tags = {t["Key"]: t.get("Value", "") for t in snap.get("Tags") or []}
        leftovers.append(
            Leftover(
                Kind.SNAPSHOT,
                str(snap["SnapshotId"]),
                size_gib * GIB,
                # billed by the blocks stored, at most the volume's size: an upper bound
                size_gib * prices.snapshot_gb_month_usd,
                f"of {snap.get('VolumeId') or tags.get('cctview:volume', '?')} "
                f"({tags.get('cctview:node', '?')}), at most {size_gib} GiB, "
                f"{snap.get('State', '?')}",
                "" if snap.get("State") != "pending" else "still being taken",
            )
        )
    return leftovers


def _uploads(stack: Stack, prices: Prices) -> list[Leftover]:
    if not stack.bucket:
        return []
    s3 = aws.s3(stack)
    # only sync makes multipart uploads, and only under <prefix>/frames/ (all the operator
    # policy lets the CLI list parts of and abort)
    frames = f"{stack.prefix.strip('/')}/{FRAMES_FOLDER}/" if stack.prefix else f"{FRAMES_FOLDER}/"
    with aws.translate_errors(stack, "s3", f"listing unfinished uploads in {stack.bucket}"):
        pages = list(
            s3.get_paginator("list_multipart_uploads").paginate(Bucket=stack.bucket, Prefix=frames)
        )
        leftovers = []
        for upload in (u for page in pages for u in page.get("Uploads") or []):
            parts = s3.get_paginator("list_parts").paginate(
                Bucket=stack.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
            size = sum(int(p.get("Size", 0)) for page in parts for p in page.get("Parts") or [])
            started = upload.get("Initiated")
            leftovers.append(
                Leftover(
                    Kind.UPLOAD,
                    str(upload["UploadId"]),
                    size,
                    size / GB * prices.s3_gb_month_usd,
                    f"s3://{stack.bucket}/{upload['Key']}, started {started:%Y-%m-%d %H:%M}"
                    if started
                    else f"s3://{stack.bucket}/{upload['Key']}",
                    key=str(upload["Key"]),
                )
            )
    return sorted(leftovers, key=lambda item: (item.key, item.id))


def _bucket_advice(stack: Stack) -> list[str]:
    if not stack.bucket:
        return []
    s3 = aws.s3(stack)
    count = size = 0
    with aws.translate_errors(stack, "s3", f"counting the objects in {stack.bucket}"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.bucket):
            for obj in page.get("Contents") or []:
                count += 1
                size += int(obj.get("Size", 0))
            if count >= BUCKET_COUNT_LIMIT:
                break
    if not count:
        return []
    many = "at least " if count >= BUCKET_COUNT_LIMIT else ""
    return [
        f"the bucket {stack.bucket} holds {many}{count:,} objects ({size / GB:,.3f} GB) and "
        "Pulumi never empties it (force_destroy is off): keep the data set with "
        "`pulumi state delete` on the bucket's URN, or empty it "
        f"(`aws s3 rm s3://{stack.bucket} --recursive`) before `pulumi destroy`"
    ]


def survey(stack: Stack, prices: Prices, *, include_unsynced: bool = False) -> Survey:
    """Everything the fleet owns that Pulumi does not, and what `pulumi destroy` needs next."""
    volumes = _volumes(stack)
    leftovers = [
        _volume_leftover(v, prices, include_unsynced)
        for v in volumes
        # Pulumi's own first volumes while attached are not leftovers, they are the fleet
        if not (v.generation <= 1 and v.instance_id)
    ]
    leftovers += _snapshots(stack, prices) + _uploads(stack, prices)
    needs: list[str] = []
    firsts = [v for v in volumes if v.generation <= 1]
    if firsts:
        needs.append(
            f"{len(firsts)} first data volumes are protected in Pulumi's state: "
            "`pulumi destroy` stops at them until `pulumi state unprotect --all`; they are "
            "retained in EC2 (retain_on_delete), so run `cctview-fleet teardown` again after it"
        )
    needs += _bucket_advice(stack)
    return Survey(tuple(leftovers), tuple(needs))


@dataclass(frozen=True, slots=True)
class Outcome:
    item: Leftover
    error: str = ""


def delete(
    stack: Stack, items: Iterable[Leftover], *, report: Callable[[Outcome], None] = lambda o: None
) -> list[Outcome]:
    """Delete ``items`` one by one; a failure is recorded and the rest still run."""
    outcomes = []
    for item in items:
        try:
            _delete_one(stack, item)
            outcome = Outcome(item)
        except FleetError as exc:
            outcome = Outcome(item, str(exc))
        report(outcome)
        outcomes.append(outcome)
    return outcomes


def _delete_one(stack: Stack, item: Leftover) -> None:
    if item.blocked:
        raise FleetError(f"{item.id} {item.blocked}")
    calls: dict[Kind, tuple[str, Callable[[], Any]]] = {
        Kind.VOLUME: ("ec2", lambda: aws.ec2(stack).delete_volume(VolumeId=item.id)),
        Kind.SNAPSHOT: ("ec2", lambda: aws.ec2(stack).delete_snapshot(SnapshotId=item.id)),
        Kind.UPLOAD: ("s3", lambda: aws.s3(stack).abort_multipart_upload(
            Bucket=stack.bucket, Key=item.key, UploadId=item.id)),
    }  # fmt: skip
    service, call = calls[item.kind]
    with aws.translate_errors(stack, service, f"deleting {item.kind.value} {item.id}"):
        call()
