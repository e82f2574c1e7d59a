"""One node: a t2.micro instance, its generation-1 data volume, and the attachment between them.

Three lifecycle rules keep a node's data safe through ``pulumi up``:

- the instance is replaced delete-before-replace: a replacement created first could never take
  over the data volume, which is still attached to the old instance (pulumi-aws issue 2769);
  the attachment is ``skip_destroy`` so removing it never detaches a mounted volume from a
  running node -- terminating the old instance detaches it;
- nothing is in ``ignore_changes`` (Pulumi would boot a *replacement* with the ignored old
  inputs: stale user data fetching a deleted wheel), except ``userData`` on a node rotated past
  its first volume, whose user data would otherwise change (and replace it) after a rotation.
  Instead the inputs are kept stable (the AMI is the one the fleet runs: ``lookups.fleet_ami``),
  and :mod:`cctview_infra.disruption` refuses an ``up`` that would replace or stop more than
  ``maxDisruptedNodes`` running nodes at once; ``cctview-fleet roll`` applies such a change
  one node at a time (docs/infra.md, "What a config change does");
- the data volume is ``protect``-ed and ``retain_on_delete``: no Pulumi operation deletes a
  volume of frames. Its tags, size and type are ignored after creation, because
  ``rotate-volumes`` keeps its progress in the tags and owns every later generation.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

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
    # resources the instance waits for: the node role (its policy and profile), so a first boot
    # never runs before its S3 permission exists
    boot_after: tuple[pulumi.Resource, ...] = ()


def user_data_spec(args: NodeArgs, *, bucket: str, agent_key: str, volume_id: str) -> UserDataSpec:
    """The node's first-boot inputs (also rendered with placeholders for :mod:`disruption`)."""
    return UserDataSpec(
        node=args.node,
        region=args.region,
        bucket=bucket,
        agent_key=agent_key,
        agent_sha256=args.agent_sha256,
        agent_filename=args.agent_filename,
        volume_id=volume_id or None,
        volume_size_gib=args.data_volume_gib,
        agent_period=args.agent_period,
        prefix=args.prefix,
        contact=args.contact,
    )


class Node(pulumi.ComponentResource):
    """A node; its outputs are what ``cctview-fleet`` needs to reach it."""

    instance_id: pulumi.Output[str]
    public_ip: pulumi.Output[str]
    public_dns: pulumi.Output[str]
    availability_zone: pulumi.Output[str]

    def __init__(self, name: str, args: NodeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cctview:fleet:Node", name, None, opts)
        volume: aws.ebs.Volume | None = None
        if args.declare_data_volume:
            volume = aws.ebs.Volume(
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
        volume_id: pulumi.Input[str] = volume.id if volume is not None else ""
        user_data = pulumi.Output.all(args.bucket, args.agent_key, volume_id).apply(
            lambda values: render_user_data(
                user_data_spec(args, bucket=values[0], agent_key=values[1], volume_id=values[2]),
                args.systemd_unit,
            )
        )
        instance = aws.ec2.Instance(
            f"{name}-instance",
            ami=args.ami_id,
            instance_type=args.instance_type,
            availability_zone=args.availability_zone,
            subnet_id=args.subnet_id,
            key_name=args.key_name,
            vpc_security_group_ids=[args.security_group_id],
            iam_instance_profile=args.instance_profile,
            # explicit, not the subnet's auto-assign setting: the CLI reaches nodes over SSH at
            # their public address (and pays $0.005/h for it: cctview_fleet.costs.ipv4_line)
            associate_public_ip_address=True,
            # t2 "unlimited" would bill CPU above the 10 % baseline; standard throttles instead.
            credit_specification={"cpu_credits": "standard"},
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",  # IMDSv2 only: no SSRF-able credential endpoint
                "http_put_response_hop_limit": 1,
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
            tags=tags.node_tags(
                args.stack, args.node, "node", **({tags.SPEC: args.spec} if args.spec else {})
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                delete_before_replace=True,
                depends_on=list(args.boot_after),
                # After rotate-volumes took over (generation 1 gone), the rendered user data
                # loses its volume id; that must not replace a running node (docs/infra.md).
                ignore_changes=[] if args.declare_data_volume else ["userData"],
            ),
        )
        if volume is not None and args.declare_attachment:
            aws.ec2.VolumeAttachment(
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
