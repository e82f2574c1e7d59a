"""Rotating a node's EBS data volume without losing a frame: the resumable state machine.

For a node whose disk is over the threshold (or every named node with ``--force``):

    new volume:  created -> attached -> prepared -> switched ................... complete
    old volume:                         draining -> retired -> detached
                                        [-> snapshotted] -> deleted (or kept: --keep-old)

1. create the next generation (encrypted, tagged, the instance's AZ), 2. attach it, 3. have the
node find it by its EBS id and format (only if blank) and mount it, 4. switch the agent's data link
to it atomically (frames keep landing, now on the new volume), 5. drain the old volume: its open
periods are closed by the agent's closer after their end plus grace, ``cctview-agent sync``
uploads them and writes a receipt per verified object, 6. retire it on the node (which the node
refuses while any period lacks a receipt), 7. detach, 8. snapshot (``--snapshot``), 9. delete
(unless ``--keep-old``).

Each step first writes nothing but its effect, then records it in the ``cctview:rotation`` tag of
the volume it moved (:mod:`cctview_fleet.rotation.ebs`). A rerun reads the tags and goes on from
the last recorded step, repeating at most one step, and every step is idempotent. An old volume
is never deleted before every period on it is verified in S3: when draining cannot finish (sync
fails, periods still open at the deadline) the rotation stops with the old volume kept and says
how to resume.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cctview_agent.fleetconstants import (
    ROTATION_FROM_TAG,
    ROTATION_KEEP_TAG,
    ROTATION_SNAPSHOT_TAG,
    ROTATION_TAG,
    SNAPSHOT_TAG,
    RotationState,
)
from cctview_fleet.cloud.inventory import Node
from cctview_fleet.cloud.volumes import DataVolume
from cctview_fleet.defaults import DEFAULT_THRESHOLD
from cctview_fleet.errors import ConfigError, NodeError, VolumeError
from cctview_fleet.rotation.ebs import Ec2Volumes
from cctview_fleet.rotation.nodeside import NodeVolumes

NEW_SIDE = (
    RotationState.CREATED,
    RotationState.ATTACHED,
    RotationState.PREPARED,
    RotationState.SWITCHED,
)
OLD_SIDE = (
    RotationState.DRAINING,
    RotationState.RETIRED,
    RotationState.DETACHED,
    RotationState.SNAPSHOTTED,
)

OnStep = Callable[[str, str], None]  # (node, what is happening now)


def check_threshold(value: float) -> float:
    if not (math.isfinite(value) and 0 <= value <= 100):
        raise ConfigError(
            f"--threshold must be a disk use in percent between 0 and 100, not {value:g}; "
            "e.g. --threshold 80",
            key="threshold",
        )
    return value


@dataclass(frozen=True, slots=True)
class RotateOptions:
    threshold: float = DEFAULT_THRESHOLD
    force: bool = False
    keep_old: bool = False
    snapshot: bool = False
    drain_timeout: float = 900.0  # how long to wait for open periods before stopping
    poll: float = 2.0


class RotationOutcome(StrEnum):
    """What ``rotate-volumes`` did on a node (the ``outcome`` of ``--json``)."""

    SKIPPED = "skipped"  # disk use below the threshold
    ROTATED = "rotated"  # a new volume replaced the active one
    RESUMED = "resumed"  # an interrupted rotation was carried on from its tags


class OldFate(StrEnum):
    """What became of the replaced volume."""

    DELETED = "deleted"
    KEPT = "kept"  # --keep-old


@dataclass(frozen=True, slots=True)
class Rotation:
    """What ``rotate-volumes`` did on one node."""

    node: str
    outcome: RotationOutcome
    used_percent: float | None = None
    old_volume: str | None = None
    new_volume: str | None = None
    generation: int | None = None
    snapshot: str | None = None
    old_fate: OldFate | None = None
    verified: int | None = None  # periods of the old volume verified in S3 before it went
    steps: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "outcome": self.outcome,
            "used_percent": self.used_percent,
            "old_volume": self.old_volume,
            "new_volume": self.new_volume,
            "generation": self.generation,
            "snapshot": self.snapshot,
            "old_fate": self.old_fate or "",
            "verified": self.verified,
            "steps": list(self.steps),
        }


def _resume_hint(node: str) -> str:
    return f"rerun `cctview-fleet rotate-volumes {node}` to resume (the state is in the tags)"


class NodeRotation:
    """One node's rotation: decide, then walk the states from wherever the tags say it stands."""

    def __init__(
        self,
        node: Node,
        ec2: Ec2Volumes,
        agent: NodeVolumes,
        options: RotateOptions,
        on_step: OnStep | None = None,
    ) -> None:
        self.node = node
        self.ec2 = ec2
        self.agent = agent
        self.options = options
        self.on_step = on_step or (lambda _node, _text: None)
        self.steps: list[str] = []
        self.verified: int | None = None

    def _step(self, text: str, *, done: bool = True) -> None:
        self.on_step(self.node.name, text)
        if done:
            self.steps.append(text)

    def run(self) -> Rotation:
        volumes = self.ec2.node_volumes(self.node.name)
        pending = [v for v in volumes if v.rotation in NEW_SIDE]
        if len(pending) > 1:
            ids = ", ".join(v.volume_id for v in pending)
            raise VolumeError(
                f"{self.node.name}: two rotations are in progress ({ids}); delete the volume "
                "that is not attached in EC2 and rerun"
            )
        used: float | None = None
        if pending:
            new = pending[0]
            old_id = new.tags.get(ROTATION_FROM_TAG, "")
            outcome = RotationOutcome.RESUMED
            self._step(f"resuming at {new.rotation} ({new.volume_id})")
        else:
            used = self.agent.disk_used_percent()
            if not self.options.force and (used is None or used < self.options.threshold):
                shown = (
                    "use unknown (no active volume? --force)" if used is None else f"{used:g}% used"
                )
                return Rotation(
                    self.node.name, RotationOutcome.SKIPPED, used, steps=(f"disk {shown}",)
                )
            old = self._active(volumes)
            old_id = old.volume_id
            new = self._create(old)
            outcome = RotationOutcome.ROTATED
        new = self._advance_new(new, old_id)
        fate, snapshot = self._finish_old(old_id, new)
        self.ec2.tag(new.volume_id, rotation=RotationState.COMPLETE)
        self._step(f"{new.volume_id} complete")
        return Rotation(
            self.node.name,
            outcome,
            used,
            old_id,
            new.volume_id,
            new.generation,
            snapshot,
            fate,
            self.verified,
            tuple(self.steps),
        )

    # -- the new volume ----------------------------------------------------------------------

    def _active(self, volumes: list[DataVolume]) -> DataVolume:
        """The volume the agent writes to now: the one the rotation replaces."""
        active = self.agent.active_volume()
        if active is None:
            return self._adopt(volumes)
        for volume in volumes:
            if volume.volume_id == active:
                return volume
        raise VolumeError(
            f"{self.node.name}: the active volume {active} is not a data volume of stack "
            f"{self.ec2.stack.name!r} in EC2 (tags cctview:fleet/cctview:node); tag it first"
        )

    def _adopt(self, volumes: list[DataVolume]) -> DataVolume:
        """A node without an active volume: a replaced instance whose data volume (a later
        generation, which Pulumi does not attach) was left detached. It is attached and mounted
        again, and then replaced and drained like any old volume, so its frames reach S3."""
        name = self.node.name
        if not volumes:
            raise VolumeError(
                f"{name}: the node has no data volume in EC2; `pulumi up` gives it generation 1"
            )
        latest = volumes[-1]
        self._step(f"no active volume: attaching {latest.volume_id} to drain it", done=False)
        latest = self.ec2.attach(latest, self.node.instance_id)
        self.agent.prepare(
            latest.volume_id, attachment_device=latest.device, size_gib=latest.size_gib
        )
        self._step(f"re-attached and mounted {latest.volume_id} (no active volume)")
        return latest

    def _create(self, old: DataVolume) -> DataVolume:
        generation = old.generation + 1
        choices = {
            ROTATION_SNAPSHOT_TAG: "yes" if self.options.snapshot else "no",
            ROTATION_KEEP_TAG: "yes" if self.options.keep_old else "no",
        }
        self._step(f"creating generation {generation}", done=False)
        new = self.ec2.create(
            self.node.name,
            az=self.node.az or old.az,
            size_gib=old.size_gib,
            volume_type=old.volume_type,
            generation=generation,
            tags={ROTATION_TAG: "created", ROTATION_FROM_TAG: old.volume_id, **choices},
        )
        self._step(f"created {new.volume_id} (generation {generation}, {new.az})")
        return new

    def _advance_new(self, new: DataVolume, old_id: str) -> DataVolume:
        state = new.rotation
        if state == RotationState.CREATED:
            self._step(f"attaching {new.volume_id}", done=False)
            new = self.ec2.attach(new, self.node.instance_id)
            self.ec2.tag(new.volume_id, rotation=RotationState.ATTACHED)
            self._step(f"attached {new.volume_id} at {new.device}")
            state = RotationState.ATTACHED
        if state in (RotationState.ATTACHED, RotationState.PREPARED):
            # prepare again when resuming at "prepared": it is idempotent and remounts after a
            # reboot, and switch must never point the agent at an unmounted folder.
            new = self.ec2.get(new.volume_id) or new
            self._step(f"preparing {new.volume_id} on the node", done=False)
            self.agent.prepare(new.volume_id, attachment_device=new.device, size_gib=new.size_gib)
            if state == RotationState.ATTACHED:
                self.ec2.tag(new.volume_id, rotation=RotationState.PREPARED)
                self._step(f"prepared {new.volume_id}")
            self.agent.switch(new.volume_id)
            self.ec2.mark_active(self.node.instance_id, new.volume_id)
            # The old volume is marked first: a crash between the two tags resumes at
            # "prepared", and prepare and switch are safe to repeat.
            choices = {
                "snapshot_choice": new.tags.get(ROTATION_SNAPSHOT_TAG, "no"),
                "keep_choice": new.tags.get(ROTATION_KEEP_TAG, "no"),
            }
            if self.ec2.get(old_id) is not None:
                self.ec2.tag(
                    old_id, rotation=RotationState.DRAINING, rotation_to=new.volume_id, **choices
                )
            self.ec2.tag(new.volume_id, rotation=RotationState.SWITCHED)
            self._step(f"switched the agent to {new.volume_id}")
        return self.ec2.get(new.volume_id) or new

    # -- the old volume ----------------------------------------------------------------------

    def _finish_old(self, old_id: str, new: DataVolume) -> tuple[OldFate, str | None]:
        old = self.ec2.get(old_id) if old_id else None
        if old is None:
            return OldFate.DELETED, None
        snapshot = self.options.snapshot or old.tags.get(ROTATION_SNAPSHOT_TAG) == "yes"
        keep = self.options.keep_old or old.tags.get(ROTATION_KEEP_TAG) == "yes"
        state = old.rotation if old.rotation in OLD_SIDE else RotationState.DRAINING
        snapshot_id = old.tags.get(SNAPSHOT_TAG)
        if state == RotationState.DRAINING:
            self._drain(old_id)
            self.ec2.tag(old_id, rotation=RotationState.RETIRED)
            state = RotationState.RETIRED
        if state == RotationState.RETIRED:
            self._step(f"detaching {old_id}", done=False)
            old = self.ec2.detach(self.ec2.get(old_id) or old)
            self.ec2.tag(old_id, rotation=RotationState.DETACHED)
            self._step(f"detached {old_id}")
            state = RotationState.DETACHED
        if state == RotationState.DETACHED and snapshot:
            self._step(f"snapshotting {old_id}", done=False)
            snapshot_id = self.ec2.snapshot(self.ec2.get(old_id) or old)
            self.ec2.tag(old_id, rotation=RotationState.SNAPSHOTTED)
            self._step(f"snapshot {snapshot_id} of {old_id}")
        if keep:
            self.ec2.tag(old_id, rotation=RotationState.KEPT)
            self._step(f"kept {old_id} (--keep-old)")
            return OldFate.KEPT, snapshot_id
        self.ec2.delete(old_id)
        self._step(f"deleted {old_id}")
        return OldFate.DELETED, snapshot_id

    def _drain(self, old_id: str) -> None:
        """Wait for the old volume's periods to close and be verified in S3, then retire it.

        Complete but unverified periods are synced at once; open periods are waited for until
        the agent's closer closes them (end plus grace). ``drain_timeout`` bounds the waiting,
        never a sync: after it, the rotation stops with the old volume kept (draining).
        """
        name = self.node.name
        deadline = time.monotonic() + self.options.drain_timeout
        last_synced: list[str] | None = None
        while True:
            status = self.agent.drain_status(old_id)
            if status.get("drained"):
                self.verified = int(status.get("verified") or 0)
                self.agent.retire(old_id)
                self._step(f"retired {old_id} on the node ({status.get('verified', 0)} verified)")
                return
            if not status.get("exists"):
                raise VolumeError(
                    f"{name}: the old volume {old_id} is not mounted on the node, so its periods "
                    f"cannot be checked; it is kept. Mount it with `cctview-agent volume prepare "
                    f"--volume-id {old_id}` on the node, then {_resume_hint(name)}"
                )
            if status.get("active"):
                raise VolumeError(
                    f"{name}: {old_id} is the agent's active volume again (switched back by "
                    f"hand?); it is kept. Switch to the new volume, then {_resume_hint(name)}"
                )
            unverified = list(status.get("unverified") or [])
            open_periods = status.get("open") or []
            if unverified and unverified != last_synced:
                self._sync(old_id, len(unverified))
                last_synced = unverified
                continue
            if unverified and not open_periods:
                raise VolumeError(
                    f"{name}: sync ran but {len(unverified)} periods of {old_id} are still "
                    f"not verified in S3 (first: {unverified[0]}); the volume is kept. "
                    f"Check `cctview-agent sync` on the node, then {_resume_hint(name)}"
                )
            now = time.monotonic()
            if now >= deadline:
                raise VolumeError(
                    f"{name}: {old_id} is not drained after {self.options.drain_timeout:g} s: "
                    f"{status.get('reason') or 'periods still open'}; it is kept (draining). "
                    f"{_resume_hint(name)}"
                )
            closable = float(status.get("next_closable_at") or time.time())
            self._step(
                f"draining {old_id}: {len(open_periods)} open periods, closable at "
                f"{time.strftime('%H:%M:%S', time.gmtime(closable))} UTC",
                done=False,
            )
            time.sleep(min(max(self.options.poll, closable - time.time()), deadline - now))

    def _sync(self, old_id: str, count: int) -> None:
        name = self.node.name
        self._step(f"syncing {count} periods of {old_id}", done=False)
        try:
            self.agent.sync()
        except NodeError as exc:
            detail = str(exc).removeprefix(f"{name}: ")
            raise VolumeError(
                f"{name}: syncing the old volume {old_id} failed, so it is kept "
                f"(draining): {detail}; {_resume_hint(name)}"
            ) from exc
