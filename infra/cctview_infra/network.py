"""SSH access to the nodes: the operator's key pair and a security group for port 22.

The nodes need no inbound traffic except the operator's SSH (every CLI command reaches a node
that way), and outbound traffic to the cameras, PyPI (installing the agent) and S3. The allowed
source networks are required settings: nothing here defaults to 0.0.0.0/0.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
from pulumi_aws import ec2

SSH_PORT = 22


@dataclass(frozen=True, slots=True)
class SshAccessArgs:
    public_key: str
    allowed_cidrs: tuple[str, ...]
    tags: dict[str, str]
    vpc_id: str  # explicit: without it the group lands in the default VPC, nodes elsewhere


def ingress_rules(cidrs: tuple[str, ...]) -> list[ec2.SecurityGroupIngressArgsDict]:
    """One rule for the IPv4 and one for the IPv6 sources, port 22 only."""
    v4 = [c for c in cidrs if ipaddress.ip_network(c).version == 4]
    v6 = [c for c in cidrs if ipaddress.ip_network(c).version == 6]
    rules: list[ec2.SecurityGroupIngressArgsDict] = []
    if v4:
        rules.append({
            "description": "SSH from the operator",
            "protocol": "tcp", "from_port": SSH_PORT, "to_port": SSH_PORT, "cidr_blocks": v4,
        })  # fmt: skip
    if v6:
        rules.append({
            "description": "SSH from the operator (IPv6)",
            "protocol": "tcp", "from_port": SSH_PORT, "to_port": SSH_PORT, "ipv6_cidr_blocks": v6,
        })  # fmt: skip
    return rules


class SshAccess(pulumi.ComponentResource):
    """Key pair and security group; ``key_name`` and ``security_group_id`` go on every node."""

    key_name: pulumi.Output[str]
    security_group_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: SshAccessArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cctview:fleet:SshAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        key = ec2.KeyPair(f"{name}-key", public_key=args.public_key, tags=args.tags, opts=child)
        group = ec2.SecurityGroup(
            f"{name}-sg",
            description="cctview-fleet nodes: SSH from the operator only",
            vpc_id=args.vpc_id,
            ingress=ingress_rules(args.allowed_cidrs),
            egress=[
                {
                    "description": "cameras, PyPI, S3",
                    "protocol": "-1",
                    "from_port": 0,
                    "to_port": 0,
                    "cidr_blocks": ["0.0.0.0/0"],
                    "ipv6_cidr_blocks": ["::/0"],
                }
            ],
            tags=args.tags,
            opts=child,
        )
        self.key_name = key.key_name
        self.security_group_id = group.id
        self.register_outputs({"key_name": self.key_name, "security_group_id": group.id})
