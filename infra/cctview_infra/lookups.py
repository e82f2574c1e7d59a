"""What the program asks AWS before it declares anything: the AMI and the data volumes.

(The VPC, subnet and zone are :mod:`cctview_infra.placement`'s.)

Each is one function over Pulumi invokes, called from ``__main__`` only; the components get plain
values. Under the unit-test mocks these invokes are answered by the mocks' ``call``.

The volume lookup is how Pulumi and ``rotate-volumes`` share the data volumes without a fight
(docs/infra.md, "Who owns which volume"): Pulumi declares a node's generation-1 volume and its
attachment; once the EC2 API shows the node has a later generation (rotate-volumes made it), the
attachment is no longer declared, and once generation 1 is gone the volume is not declared
either. Nothing Pulumi does then touches a volume the CLI made or retired.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pulumi_aws import ebs, ec2

from cctview_infra import tags

LIVE_VOLUME_STATES = ("creating", "available", "in-use")


@dataclass(frozen=True, slots=True)
class ObservedVolume:
    """One data volume of the fleet as the EC2 API reports it."""

    volume_id: str
    node: str
    generation: int
    availability_zone: str = ""


@dataclass(frozen=True, slots=True)
class NodeVolumes:
    """What one node's volumes mean for the program."""

    generation_one_exists: bool = False
    later_generation_exists: bool = False

    @property
    def declare_volume(self) -> bool:
        """Pulumi keeps declaring generation 1 unless the CLI rotated past it and it is gone."""
        return not (self.later_generation_exists and not self.generation_one_exists)

    @property
    def declare_attachment(self) -> bool:
        """After a rotation the CLI owns what is attached; Pulumi must not re-attach gen 1."""
        return not self.later_generation_exists


def node_volumes(observed: Iterable[ObservedVolume]) -> dict[str, NodeVolumes]:
    """Group the fleet's live data volumes by node."""
    firsts: set[str] = set()
    laters: set[str] = set()
    for volume in observed:
        (firsts if volume.generation <= 1 else laters).add(volume.node)
    return {node: NodeVolumes(node in firsts, node in laters) for node in sorted(firsts | laters)}


def observe_volumes(stack: str) -> list[ObservedVolume]:
    """The fleet's live data volumes, by tag (the fleet tag, a node tag and a generation)."""
    found = ebs.get_ebs_volumes(
        filters=[
            {"name": f"tag:{tags.FLEET}", "values": [stack]},
            # data volumes carry a generation (root volumes do not), whoever made them
            {"name": "tag-key", "values": [tags.GENERATION]},
            {"name": "status", "values": list(LIVE_VOLUME_STATES)},
        ]
    )
    observed: list[ObservedVolume] = []
    for volume_id in sorted(found.ids or []):
        volume = ebs.get_volume(filters=[{"name": "volume-id", "values": [volume_id]}])
        volume_tags: Mapping[str, str] = volume.tags or {}
        node = volume_tags.get(tags.NODE)
        if not node:
            continue
        try:
            generation = int(volume_tags.get(tags.GENERATION, "1"))
        except ValueError:
            generation = 1
        observed.append(ObservedVolume(volume_id, node, generation, volume.availability_zone or ""))
    return observed


def newest_ami(owner: str, name_filter: str) -> str:
    """The newest x86_64 HVM image matching ``name_filter`` from ``owner``: for a new fleet
    only (an existing one keeps the image it runs: :func:`fleet_ami`)."""
    image = ec2.get_ami(
        most_recent=True,
        owners=[owner],
        filters=[
            {"name": "name", "values": [name_filter]},
            {"name": "architecture", "values": ["x86_64"]},
            {"name": "virtualization-type", "values": ["hvm"]},
            {"name": "root-device-type", "values": ["ebs"]},
        ],
    )
    return image.id


def fleet_zone(observed: Iterable[ObservedVolume]) -> str | None:
    """The zone the fleet's volumes already live in: an existing fleet stays where its data is,
    even if the region's list of zones changes (a new zone would replace every node)."""
    zones = sorted({v.availability_zone for v in observed if v.availability_zone})
    return zones[0] if zones else None


@dataclass(frozen=True, slots=True)
class ObservedInstance:
    """One of the fleet's instances as the EC2 API reports it."""

    instance_id: str
    node: str
    ami_id: str
    spec: str  # the cctview:spec tag ("" on instances made before it existed)
    # the tags its user data reads at boot (userdata.BOOT_TAGS) as the instance has them now
    boot_tags: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)


def observe_instances(stack: str) -> dict[str, ObservedInstance]:
    """The fleet's live instances by node name (DescribeInstances by the fleet tag)."""
    found = ec2.get_instances(
        filters=[{"name": f"tag:{tags.FLEET}", "values": [stack]}],
        instance_state_names=["pending", "running", "stopping", "stopped"],
    )
    observed: dict[str, ObservedInstance] = {}
    for instance_id in sorted(found.ids or []):
        instance = ec2.get_instance(instance_id=instance_id)
        instance_tags: Mapping[str, str] = instance.tags or {}
        node = instance_tags.get(tags.NODE)
        if node:
            observed[node] = ObservedInstance(
                instance_id,
                node,
                instance.ami or "",
                instance_tags.get(tags.SPEC, ""),
                {k: instance_tags[k] for k in tags.BOOT_KEYS if instance_tags.get(k)},
            )
    return observed


def fleet_ami(instances: Mapping[str, ObservedInstance]) -> str | None:
    """The image most of the fleet runs (ties: the first by id). Declaring it again keeps a
    new Debian image from replacing running nodes; new nodes match the fleet."""
    counts = Counter(i.ami_id for i in instances.values() if i.ami_id)
    if not counts:
        return None
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[0][0]
