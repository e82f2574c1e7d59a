"""A replaced node's data volume, handed over to its new instance after ``roll``'s ``pulumi up``.

Pulumi attaches a node's generation-1 volume: its ``VolumeAttachment`` follows a replaced
instance. After ``rotate-volumes`` the node's current volume (generation 2 and up) is the CLI's,
and the program declares no attachment for it (docs/infra.md, "Who owns which volume"). When
such a node's instance is replaced (delete-before-replace), terminating the old instance detaches
the volume and nothing attaches it to the new one: the new first boot waits 15 minutes for it
(``userdata.ATTACH_WAIT_S``), then fails at its volume step.

So ``roll`` calls :func:`hand_over` after each node's ``up``, before the health check. The new
instance carries its predecessor's ``cctview:data-volume`` tag (the program's ``boot_tags``);
when that volume is not attached to it, :func:`hand_over` waits for it to come free of the old
instance and attaches it at :data:`DATA_VOLUME_DEVICE`, the device the user data passes to
``volume prepare``. A node that was not replaced, or never rotated, has its volume attached
already: nothing is done. :func:`decide` is the whole judgement, a pure function of what EC2
reports; anything it cannot fix by waiting or attaching is a :class:`VolumeError` that names the
volume and says what to do, and ``roll`` stops there as it does for an unhealthy node.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from cctview_agent.fleetconstants import DATA_VOLUME_DEVICE, DATA_VOLUME_TAG
from cctview_fleet.cloud.inventory import Node, discover
from cctview_fleet.cloud.stacks import Stack
from cctview_fleet.cloud.volumes import DataVolume
from cctview_fleet.errors import VolumeError
from cctview_fleet.rotation.ebs import Ec2Volumes

# instance states whose volumes EC2 is detaching or has detached: wait, they come free
GOING = frozenset({"shutting-down", "terminated"})
DEFAULT_HANDOVER_INTERVAL = 5.0


class Action(StrEnum):
    """What :func:`decide` says to do with the node's tagged volume now."""

    NONE = "none"  # no volume tagged (the first boot says so) or no live instance: nothing to do
    ATTACHED = "attached"  # attached to the node's instance already
    WAIT = "wait"  # coming free of the old instance, or the new one is still pending
    ATTACH = "attach"  # available, in the instance's zone: attach it


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do now, and (for WAIT) what is being waited for."""

    action: Action
    why: str = ""


@dataclass(frozen=True, slots=True)
class Handover:
    """What :func:`hand_over` did for one node (``attached``: it attached the volume)."""

    node: str
    instance_id: str
    volume_id: str
    attached: bool = False
    waited_s: float = 0.0

    def describe(self) -> str:
        """The progress line ``roll`` prints; "" when there was nothing to do."""
        if not self.attached:
            return ""
        waited = f", after {self.waited_s:.0f} s for it to come free" if self.waited_s >= 1 else ""
        return (
            f"{self.node}: attached its data volume {self.volume_id} to {self.instance_id} at "
            f"{DATA_VOLUME_DEVICE} (a rotated volume Pulumi does not attach{waited})"
        )


def _refused(node: str, volume_id: str, problem: str, fix: str) -> VolumeError:
    """One line: the node, its volume, what is wrong with it, what to do, how to resume."""
    return VolumeError(
        f"{node}: its data volume {volume_id} {problem}; {fix}, "
        f"then run `cctview-fleet roll {node}` again"
    )


def decide(node: Node, volume: DataVolume | None, holder_state: str | None = None) -> Decision:
    """What to do with the volume ``node``'s instance is tagged with (``volume`` as EC2 shows it,
    None when EC2 no longer knows it); ``holder_state`` is the state of the instance it is
    attached to when that is not the node's (None: EC2 no longer lists that instance)."""
    volume_id = node.tags.get(DATA_VOLUME_TAG, "")
    if not volume_id or node.state in GOING:
        return Decision(Action.NONE)
    instance = node.instance_id
    if volume is None or volume.state in ("deleting", "deleted"):
        raise _refused(
            node.name,
            volume_id,
            f"(the {DATA_VOLUME_TAG} tag of {instance}) no longer exists in EC2",
            f"tag {instance} with the node's current volume (`aws ec2 create-tags --resources "
            f"{instance} --tags Key={DATA_VOLUME_TAG},Value=vol-...`)",
        )
    if volume.state == "error":
        raise _refused(
            node.name,
            volume_id,
            "is in state 'error' in EC2",
            "look at it there (its periods may need a snapshot)",
        )
    if node.az and volume.az and node.az != volume.az:
        raise _refused(
            node.name,
            volume_id,
            f"is in {volume.az} but its new instance {instance} is in {node.az}, and a volume "
            "cannot change zones",
            f"put the fleet back (`pulumi config set availabilityZone {volume.az}`)",
        )
    if volume.instance_id == instance:
        if volume.attachment_state == "attached":
            return Decision(Action.ATTACHED)
        return Decision(Action.WAIT, f"{volume.attachment_state or volume.state} to {instance}")
    if volume.instance_id is not None:
        if volume.attachment_state == "detaching" or holder_state is None:
            return Decision(Action.WAIT, f"detaching from {volume.instance_id}")
        if holder_state in GOING:
            return Decision(Action.WAIT, f"still on {volume.instance_id} ({holder_state})")
        raise _refused(
            node.name,
            volume_id,
            f"is attached to {volume.instance_id} ({holder_state}), not to the node's instance "
            f"{instance}",
            "if that instance is not this node's, detach it there (`aws ec2 detach-volume "
            f"--volume-id {volume_id}`)",
        )
    if volume.state == "creating":
        return Decision(Action.WAIT, "being created")
    if node.state == "pending":
        return Decision(Action.WAIT, f"{instance} is pending")
    return Decision(Action.ATTACH)


def hand_over(
    stack: Stack,
    name: str,
    *,
    timeout: float,
    interval: float = DEFAULT_HANDOVER_INTERVAL,
    volumes: Ec2Volumes | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Handover:
    """Make sure node ``name``'s instance has its tagged data volume attached: wait up to
    ``timeout`` seconds for it to come free, attach it, and wait until EC2 says attached."""
    ec2 = volumes or Ec2Volumes(stack, poll=interval, timeout=timeout)
    deadline = clock() + timeout
    waited = 0.0  # time spent waiting for the volume (what the report says), not EC2's answers
    while True:
        (node,) = discover(stack, [name])
        volume_id = node.tags.get(DATA_VOLUME_TAG, "")
        volume = ec2.get(volume_id) if volume_id else None
        holder_id = volume.instance_id if volume is not None else None
        holder = None
        if holder_id is not None and holder_id != node.instance_id:
            holder = ec2.instance_state(holder_id)
        decision = decide(node, volume, holder)
        if decision.action in (Action.NONE, Action.ATTACHED):
            return Handover(name, node.instance_id, volume_id, False, waited)
        if decision.action is Action.ATTACH and volume is not None:
            ec2.attach(volume, node.instance_id, device=DATA_VOLUME_DEVICE)
            return Handover(name, node.instance_id, volume_id, True, waited)
        if clock() >= deadline:
            raise _refused(
                name,
                volume_id,
                f"is still {decision.why} after {timeout:g} s",
                f"attach it to {node.instance_id} at {DATA_VOLUME_DEVICE} when it is free",
            )
        pause = min(interval, max(0.0, deadline - clock()))
        sleep(pause)
        waited += pause
