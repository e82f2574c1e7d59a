"""The fleet: the bucket, the nodes' role, SSH access, the shipped agent, and ``nodeCount`` nodes.

Everything comes in through :class:`FleetArgs` (settings parsed by ``__main__`` plus the values
it looked up), so the component runs the same under ``pulumi up`` and under the unit-test mocks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi

from cctview_infra import tags
from cctview_infra.agentpackage import AgentPackage, AgentPackageArgs, AgentWheel
from cctview_infra.bucket import DataBucket, DataBucketArgs
from cctview_infra.iam.noderole import NodeRole, NodeRoleArgs
from cctview_infra.lookups import NodeVolumes
from cctview_infra.network import SshAccess, SshAccessArgs
from cctview_infra.node import Node, NodeArgs
from cctview_infra.placement import Placement
from cctview_infra.settings import FleetSettings


@dataclass(frozen=True, slots=True)
class FleetArgs:
    settings: FleetSettings
    ami_id: str
    placement: Placement
    agent_wheel: AgentWheel
    systemd_unit: str  # the agent's unit file (userdata.shipped_systemd_unit)
    # node name -> what the EC2 API says about its data volumes (empty on the first `up`)
    volumes: Mapping[str, NodeVolumes] = field(default_factory=dict)
    # node name -> the digest of its disruptive inputs (disruption.NodeSpec), tagged on the instance
    specs: Mapping[str, str] = field(default_factory=dict)
    # node name -> the boot tags its running instance has (lookups.ObservedInstance.boot_tags)
    boot_tags: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def node_args(
    args: FleetArgs,
    index: int,
    *,
    key_name: pulumi.Input[str],
    security_group_id: pulumi.Input[str],
    instance_profile: pulumi.Input[str],
    bucket: pulumi.Input[str],
    agent_key: pulumi.Input[str],
    boot_after: tuple[pulumi.Resource, ...] = (),
) -> NodeArgs:
    """Node ``index``'s arguments; :mod:`disruption` calls it with placeholders for the outputs."""
    s = args.settings
    node = tags.node_name(index)
    volumes = args.volumes.get(node, NodeVolumes())
    return NodeArgs(
        node=node,
        stack=s.stack,
        region=s.region,
        instance_type=s.instance_type,
        ami_id=args.ami_id,
        availability_zone=args.placement.availability_zone,
        subnet_id=args.placement.subnet_id,
        key_name=key_name,
        security_group_id=security_group_id,
        instance_profile=instance_profile,
        bucket=bucket,
        prefix=s.bucket_prefix,
        agent_key=agent_key,
        agent_sha256=args.agent_wheel.sha256,
        agent_filename=args.agent_wheel.filename,
        root_volume_gib=s.root_volume_gib,
        data_volume_gib=s.data_volume_gib,
        data_volume_type=s.data_volume_type,
        agent_period=s.agent_period,
        contact=s.contact,
        declare_data_volume=volumes.declare_volume,
        declare_attachment=volumes.declare_attachment,
        systemd_unit=args.systemd_unit,
        spec=args.specs.get(node, ""),
        boot_tags=args.boot_tags.get(node, {}),
        boot_after=boot_after,
    )


class Fleet(pulumi.ComponentResource):
    """The whole fleet; ``nodes`` in node order, ``node_list`` as the stack outputs show it."""

    nodes: list[Node]

    def __init__(self, name: str, args: FleetArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cctview:fleet:Fleet", name, None, opts)
        s = args.settings
        child = pulumi.ResourceOptions(parent=self)
        self.data = DataBucket(
            f"{name}-data",
            DataBucketArgs(
                prefix=s.bucket_prefix,
                tags=tags.fleet_tags(s.stack, "bucket"),
                bucket_name=s.bucket_name,
                lifecycle_days=s.lifecycle_days,
            ),
            opts=child,
        )
        self.role = NodeRole(
            f"{name}-nodes",
            NodeRoleArgs(
                bucket_arn=self.data.arn,
                prefix=s.bucket_prefix,
                tags=tags.fleet_tags(s.stack, "node-role"),
            ),
            opts=child,
        )
        self.access = SshAccess(
            f"{name}-ssh",
            SshAccessArgs(
                public_key=s.ssh_public_key,
                allowed_cidrs=s.ssh_allowed_cidrs,
                vpc_id=args.placement.vpc_id,
                tags=tags.fleet_tags(s.stack, "ssh"),
            ),
            opts=child,
        )
        self.agent = AgentPackage(
            f"{name}-agent",
            AgentPackageArgs(
                bucket=self.data.bucket,
                wheel=args.agent_wheel,
                tags=tags.fleet_tags(s.stack, "agent"),
            ),
            opts=child,
        )
        self.nodes = [
            Node(
                f"{name}-{tags.node_name(index)}",
                node_args(
                    args,
                    index,
                    key_name=self.access.key_name,
                    security_group_id=self.access.security_group_id,
                    instance_profile=self.role.profile_name,
                    bucket=self.data.bucket,
                    agent_key=self.agent.key,
                    boot_after=(self.role,),
                ),
                opts=child,
            )
            for index in range(s.node_count)
        ]
        self.node_list = pulumi.Output.all(
            *[
                pulumi.Output.all(
                    n.node, n.instance_id, n.public_ip, n.public_dns, n.availability_zone
                ).apply(
                    lambda v: {
                        "name": v[0],
                        "instanceId": v[1],
                        "publicIp": v[2],
                        "publicDns": v[3],
                        "availabilityZone": v[4],
                    }
                )
                for n in self.nodes
            ]
        )
        self.register_outputs(
            {"bucket": self.data.bucket, "prefix": s.bucket_prefix, "nodes": self.node_list}
        )
