"""One node: a t2.micro instance, its generation-1 data volume, and the attachment between them.

Three lifecycle rules keep a node's data safe through ``pulumi up``:

- the instance is replaced delete-before-replace: a replacement created first could never take
  over the data volume, which is still attached to the old instance (pulumi-aws issue 2769);
  the attachment is ``skip_destroy`` so removing it never detaches a mounted volume from a
  running node -- terminating the old instance detaches it;
- nothing is in ``ignore_changes`` (Pulumi would boot a *replacement* with the ignored old
  inputs: stale user data fetching a deleted wheel). The user data names neither the wheel nor
  the volume: it reads them at boot from the instance's own tags (:func:`boot_tags`, through the
  metadata service), which ``upgrade`` and ``rotate-volumes`` move and this program keeps, so
  neither changes the user data. The other inputs are kept stable (the AMI is the one the
  fleet runs: ``lookups.fleet_ami``), and :mod:`cctview_infra.disruption` refuses an ``up``
  that would replace or stop more than ``maxDisruptedNodes`` running nodes at once;
  ``cctview-fleet roll`` applies such a change one node at a time (docs/infra.md, "What a
  config change does");
- the data volume is ``protect``-ed and ``retain_on_delete``: no Pulumi operation deletes a
  volume of frames. Its tags, size and type are ignored after creation, because
  ``rotate-volumes`` keeps its progress in the tags and owns every later generation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
from pulumi_aws import ebs, ec2

from cctview_infra import tags
from cctview_infra.userdata import ATTACH_DEVICE, UserDataSpec, render_user_data

DATA_GENERATION = "1"  # Pulumi makes generation 1; rotate-volumes makes 2, 3, ...


@dataclass(frozen=True, slots=True)
class NodeArgs:
    node: str  # node-01
    stack: str
    region: str
    instance_type: str
    ami_id: str
    availability_zone: str
    subnet_id: str
    key_name: pulumi.Input[str]
    security_group_id: pulumi.Input[str]
    instance_profile: pulumi.Input[str]
    bucket: pulumi.Input[str]
    agent_key: pulumi.Input[str]
    prefix: str
    agent_sha256: str
    agent_filename: str
    systemd_unit: str  # the agent's unit file (userdata.shipped_systemd_unit)
    root_volume_gib: int = 8
    data_volume_gib: int = 8
    data_volume_type: str = "gp3"
    agent_period: int = 3600
    contact: str = ""  # into the agent's User-Agent (settings.FleetSettings.contact)
    declare_data_volume: bool = True
    declare_attachment: bool = True
    spec: str = ""  # disruption.NodeSpec's digest, tagged so the next `up` sees what it ran with
    # the boot tags (tags.BOOT_KEYS) the running instance has: kept, since `upgrade` and
    # `rotate-volumes` moved them past what this program made
    boot_tags: Mapping[str, str] = field(default_factory=dict)
    # resources the instance waits for: the node role (its policy and profile), so a first boot
    # never runs before its S3 permission exists
    boot_after: tuple[pulumi.Resource, ...] = ()


def user_data_spec(args: NodeArgs, *, bucket: str) -> UserDataSpec:
    """The node's first-boot inputs (also rendered with a placeholder for :mod:`disruption`).
    Nothing in them changes with an upgrade or a rotation: those are in :func:`boot_tags`."""
    return UserDataSpec(
        node=args.node,
        region=args.region,
        bucket=bucket,
        volume_size_gib=args.data_volume_gib,
        agent_period=args.agent_period,
        prefix=args.prefix,
        contact=args.contact,
    )


def boot_tags(args: NodeArgs, volume_id: pulumi.Input[str]) -> dict[str, pulumi.Input[str]]:
    """The instance tags the user data reads at boot: this program's wheel and generation-1
    volume for a new node; for a running one, what it has now (``upgrade`` and ``rotate-volumes``
    move them), so a replacement boots with its predecessor's agent and volume."""
    made: dict[str, pulumi.Input[str]] = {
        tags.AGENT_KEY: args.agent_key,
        tags.AGENT_SHA256: args.agent_sha256,
        tags.DATA_VOLUME: volume_id,
    }
    if args.boot_tags.get(tags.AGENT_KEY) and args.boot_tags.get(tags.AGENT_SHA256):
        made[tags.AGENT_KEY] = args.boot_tags[tags.AGENT_KEY]
        made[tags.AGENT_SHA256] = args.boot_tags[tags.AGENT_SHA256]
    if args.boot_tags.get(tags.DATA_VOLUME):
        made[tags.DATA_VOLUME] = args.boot_tags[tags.DATA_VOLUME]
    return made


class Node(pulumi.ComponentResource):
    """A node; its outputs are what ``cctview-fleet`` needs to reach it."""

    instance_id: pulumi.Output[str]
    public_ip: pulumi.Output[str]
    public_dns: pulumi.Output[str]
    availability_zone: pulumi.Output[str]

    def __init__(self, name: str, args: NodeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cctview:fleet:Node", name, None, opts)
        volume: ebs.Volume | None = None
        if args.declare_data_volume:
            volume = ebs.Volume(
                f"{name}-data",
                availability_zone=args.availability_zone,
                size=args.data_volume_gib,
                type=args.data_volume_type,
                encrypted=True,
                tags=tags.node_tags(
                    args.stack, args.node, "data", **{tags.GENERATION: DATA_GENERATION}
                ),
                opts=pulumi.ResourceOptions(
                    parent=self,
                    protect=True,
                    retain_on_delete=True,
                    ignore_changes=["tags", "tagsAll", "size", "type", "iops", "throughput"],
                ),
            )
        # generation 1, while the program still attaches it; after a rotation the CLI's tag says
        volume_id: pulumi.Input[str] = (
            volume.id if volume is not None and args.declare_attachment else ""
        )
        user_data = pulumi.Output.from_input(args.bucket).apply(
            lambda bucket: render_user_data(user_data_spec(args, bucket=bucket), args.systemd_unit)
        )
        instance = ec2.Instance(
            f"{name}-instance",
            ami=args.ami_id,
            instance_type=args.instance_type,
            availability_zone=args.availability_zone,
            subnet_id=args.subnet_id,
            key_name=args.key_name,
            vpc_security_group_ids=[args.security_group_id],
            iam_instance_profile=args.instance_profile,
            # explicit, not the subnet's auto-assign setting: the CLI reaches nodes over SSH at
            # their public address (and pays $0.005/h for it: planning/costs.py's ipv4_line)
            associate_public_ip_address=True,
            # t2 "unlimited" would bill CPU above the 10 % baseline; standard throttles instead.
            credit_specification={"cpu_credits": "standard"},
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",  # IMDSv2 only: no SSRF-able credential endpoint
                "http_put_response_hop_limit": 1,
                # the user data reads its wheel and volume from the instance's own tags here:
                # no EC2 rights on the node
                "instance_metadata_tags": "enabled",
            },
            root_block_device={
                "volume_size": args.root_volume_gib,
                "volume_type": "gp3",
                "encrypted": True,
                "delete_on_termination": True,
                "tags": tags.node_tags(args.stack, args.node, "root"),
            },
            user_data=user_data,
            # cloud-init runs user data at first boot only: an in-place change would stop and
            # start the node for nothing. A replaced node boots with the current user data.
            user_data_replace_on_change=True,
            tags={
                **tags.node_tags(
                    args.stack, args.node, "node", **({tags.SPEC: args.spec} if args.spec else {})
                ),
                **boot_tags(args, volume_id),
            },
            opts=pulumi.ResourceOptions(
                parent=self, delete_before_replace=True, depends_on=list(args.boot_after)
            ),
        )
        if volume is not None and args.declare_attachment:
            ec2.VolumeAttachment(
                f"{name}-data-attachment",
                device_name=ATTACH_DEVICE,
                instance_id=instance.id,
                volume_id=volume.id,
                skip_destroy=True,
                opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
            )
        self.node = args.node
        self.instance_id = instance.id
        self.public_ip = instance.public_ip
        self.public_dns = instance.public_dns
        self.availability_zone = instance.availability_zone
        self.data_volume_id = volume.id if volume is not None else None
        self.register_outputs(
            {
                "node": args.node,
                "instance_id": instance.id,
                "public_ip": instance.public_ip,
                "public_dns": instance.public_dns,
                "availability_zone": instance.availability_zone,
            }
        )
