"""Node discovery: the fleet is whatever EC2 instances carry the tag ``cctview:fleet=<stack>``.

There is no hand-kept host list. A node's name is its ``cctview:node`` tag; its SSH address is
the ``cctview:ssh-host`` / ``cctview:ssh-port`` tags when present (bastions, the local fleet), else
its public DNS name or IP on port 22. Stopped and terminated instances are kept, with their state,
so ``status`` can say that a node was terminated on the cloud side instead of just "unreachable".
Tags are untrusted: a node name that two live instances claim is refused, never resolved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cctview_agent.fleetconstants import FLEET_TAG, NODE_TAG, SSH_HOST_TAG, SSH_PORT_TAG
from cctview_fleet.cloud import aws
from cctview_fleet.cloud.stacks import Stack
from cctview_fleet.errors import InventoryError

# States in which an instance can run the agent (or soon will).
LIVE_STATES = frozenset({"pending", "running"})
GONE_STATES = frozenset({"shutting-down", "terminated"})


@dataclass(frozen=True, slots=True)
class Node:
    """One fleet node as EC2 describes it, with the address the CLI uses for SSH."""

    name: str
    instance_id: str
    state: str
    public_ip: str | None = None
    public_dns: str | None = None
    private_ip: str | None = None
    az: str | None = None
    ssh_host: str | None = None
    ssh_port: int = 22
    tags: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def terminated(self) -> bool:
        return self.state in GONE_STATES

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "instance_id": self.instance_id,
            "state": self.state,
            "public_ip": self.public_ip,
            "public_dns": self.public_dns,
            "private_ip": self.private_ip,
            "az": self.az,
            "ssh_host": self.ssh_host,
            "ssh_port": self.ssh_port,
        }


def node_from_instance(instance: Mapping[str, Any]) -> Node | None:
    """A Node from one ``describe_instances`` record; None when it has no ``cctview:node`` tag."""
    tags = {t["Key"]: t.get("Value", "") for t in instance.get("Tags", []) or []}
    name = tags.get(NODE_TAG, "").strip()
    if not name:
        return None
    state = str(instance.get("State", {}).get("Name", "unknown"))
    public_ip = instance.get("PublicIpAddress") or None
    public_dns = instance.get("PublicDnsName") or None
    host = tags.get(SSH_HOST_TAG, "").strip() or public_dns or public_ip
    port_text = tags.get(SSH_PORT_TAG, "").strip()
    try:
        port = int(port_text) if port_text else 22
    except ValueError:
        raise InventoryError(
            f"node {name} ({instance.get('InstanceId')}) has {SSH_PORT_TAG}={port_text!r}, "
            "not a port number; fix the tag (e.g. 22)"
        ) from None
    if not 0 < port < 65536:
        raise InventoryError(
            f"node {name} ({instance.get('InstanceId')}) has {SSH_PORT_TAG}={port}, "
            "outside 1..65535; fix the tag"
        )
    return Node(
        name=name,
        instance_id=str(instance.get("InstanceId", "")),
        state=state,
        public_ip=public_ip,
        public_dns=public_dns,
        private_ip=instance.get("PrivateIpAddress") or None,
        az=instance.get("Placement", {}).get("AvailabilityZone"),
        ssh_host=host,
        ssh_port=port,
        tags=tags,
    )


def _one_per_name(name: str, instances: list[Node]) -> Node:
    """The instance that is node ``name``. A replaced node leaves terminated instances behind
    with its tags: the one not gone is the node. Two instances not gone with one name are
    refused: tags are anyone's to write, and picking one (by instance id, say) would let a
    stray instance take a node's place, its SSH address and its host key on ``trust``."""
    alive = [node for node in instances if not node.terminated]
    if len(alive) > 1:
        ids = ", ".join(f"{node.instance_id} ({node.state})" for node in alive)
        raise InventoryError(
            f"node {name} is claimed by {len(alive)} instances: {ids}; terminate the extra one "
            f"or change its {NODE_TAG} tag, then retry"
        )
    return alive[0] if alive else max(instances, key=lambda node: node.instance_id)


def nodes_from_reservations(reservations: Iterable[Mapping[str, Any]]) -> list[Node]:
    """Every tagged node in ``describe_instances`` pages, one per name, sorted by name; a name
    claimed by two instances that are not gone is an InventoryError."""
    by_name: dict[str, list[Node]] = {}
    for reservation in reservations:
        for instance in reservation.get("Instances", []):
            node = node_from_instance(instance)
            if node is not None:
                by_name.setdefault(node.name, []).append(node)
    return [_one_per_name(name, by_name[name]) for name in sorted(by_name)]


def discover(stack: Stack, names: Iterable[str] | None = None) -> list[Node]:
    """The stack's nodes from the EC2 API, sorted by name; ``names`` picks some of them.

    An unknown name is an error that lists the known ones; a fleet without nodes is an error that
    says how to create them. Both are one line.
    """
    ec2 = aws.ec2(stack)
    reservations: list[Mapping[str, Any]] = []
    with aws.translate_errors(stack, "ec2", f"listing the nodes of stack {stack.name!r}"):
        paginator = ec2.get_paginator("describe_instances")
        filters = [{"Name": f"tag:{FLEET_TAG}", "Values": [stack.name]}]
        for page in paginator.paginate(Filters=filters):
            reservations.extend(page.get("Reservations", []))
    nodes = nodes_from_reservations(reservations)
    if not nodes:
        where = stack.endpoint_url or stack.region
        hint = (
            "start it with `cctview-fleet dev up`"
            if stack.endpoint_url
            else "run `pulumi up` to create them"
        )
        raise InventoryError(f"no node carries the tag {FLEET_TAG}={stack.name} in {where}; {hint}")
    return select(nodes, names)


def select(nodes: list[Node], names: Iterable[str] | None) -> list[Node]:
    """The named nodes (in fleet order), or all when ``names`` is empty."""
    wanted = list(dict.fromkeys(names or []))
    if not wanted:
        return nodes
    known = {node.name for node in nodes}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        listed = ", ".join(node.name for node in nodes)
        noun = "node" if len(unknown) == 1 else "nodes"
        raise InventoryError(f"unknown {noun} {', '.join(unknown)}; the fleet has: {listed}")
    chosen = set(wanted)
    return [node for node in nodes if node.name in chosen]
