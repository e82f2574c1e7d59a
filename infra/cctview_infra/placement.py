"""Where the fleet goes: its VPC, its zone and the one subnet every node is placed in.

Nothing here assumes a default VPC. With ``vpcId``/``subnetIds`` set, they are used (and checked:
every subnet in the VPC, the zone served by one of them); without them the region's default VPC
and its default subnet in the zone are looked up, and an account without one gets a one-line
error naming ``vpcId``. The instance type is checked against the zone's offerings before anything
is declared (t2.micro is not offered in every zone, e.g. us-east-1e), and a zone is only picked
by default if it offers the type.

All nodes and their volumes share one zone: an EBS volume attaches only to an instance in its
own zone, and rotate-volumes creates every later generation in the node's zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pulumi_aws import ec2

from cctview_agent.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Subnet:
    subnet_id: str
    vpc_id: str
    availability_zone: str


@dataclass(frozen=True, slots=True)
class Placement:
    """The network every node of the fleet is created in."""

    vpc_id: str
    subnet_id: str
    availability_zone: str


@dataclass(frozen=True, slots=True)
class PlacementRequest:
    """What the settings and the fleet's existing volumes say about placement."""

    instance_type: str
    vpc_id: str | None = None
    subnet_ids: tuple[str, ...] = ()
    availability_zone: str | None = None  # the setting, else the zone of the fleet's volumes


def _error(key: str, why: str, example: str) -> ConfigError:
    return ConfigError(
        f"config cctview-fleet:{key} {why}; e.g. pulumi config set {example}", key=key
    )


def offered_zones(instance_type: str) -> list[str]:
    """The region's zones that offer ``instance_type`` (DescribeInstanceTypeOfferings)."""
    offers = ec2.get_instance_type_offerings(
        filters=[{"name": "instance-type", "values": [instance_type]}],
        location_type="availability-zone",
    )
    return sorted(set(offers.locations or []))


def describe_subnet(subnet_id: str) -> Subnet:
    subnet = ec2.get_subnet(id=subnet_id)
    return Subnet(subnet_id, subnet.vpc_id, subnet.availability_zone)


def default_vpc() -> str | None:
    found = ec2.get_vpcs(filters=[{"name": "is-default", "values": ["true"]}])
    ids = sorted(found.ids or [])
    return ids[0] if ids else None


def zone_subnet(vpc_id: str, zone: str) -> str | None:
    """The VPC's subnet in ``zone``: its default subnet if it has one, else the first by id."""
    for default_only in (True, False):
        filters: list[ec2.GetSubnetsFilterArgsDict] = [
            {"name": "vpc-id", "values": [vpc_id]},
            {"name": "availability-zone", "values": [zone]},
        ]
        if default_only:
            filters.append({"name": "default-for-az", "values": ["true"]})
        ids = sorted(ec2.get_subnets(filters=filters).ids or [])
        if ids:
            return ids[0]
    return None


def place_fleet(request: PlacementRequest) -> Placement:
    """Resolve the VPC, zone and subnet; every problem is a ConfigError naming the key."""
    offered = offered_zones(request.instance_type)
    if not offered:
        raise _error(
            "instanceType",
            f"= {request.instance_type!r} is offered in no zone of this region",
            "instanceType t2.micro",
        )
    subnets = [describe_subnet(subnet_id) for subnet_id in request.subnet_ids]
    vpc_id = request.vpc_id or (subnets[0].vpc_id if subnets else default_vpc())
    if vpc_id is None:
        raise _error(
            "vpcId",
            "is required: this account has no default VPC in the region (or run "
            "aws ec2 create-default-vpc)",
            "vpcId vpc-0123456789abcdef0",
        )
    strays = [s.subnet_id for s in subnets if s.vpc_id != vpc_id]
    if strays:
        raise _error(
            "subnetIds",
            f"has {strays[0]}, which is not in {vpc_id}",
            "--path 'subnetIds[0]' subnet-0123456789abcdef0",
        )
    zone = request.availability_zone or _first_zone(subnets, offered)
    if zone not in offered:
        raise _error(
            "instanceType",
            f"= {request.instance_type!r} is not offered in {zone}; it is in "
            f"{', '.join(offered)} (set availabilityZone to one of them)",
            f"availabilityZone {offered[0]}",
        )
    return Placement(vpc_id, _subnet_in(zone, vpc_id, subnets), zone)


def _first_zone(subnets: Sequence[Subnet], offered: Sequence[str]) -> str:
    """With subnets: the first zone one of them serves and that offers the type; else the first
    zone that offers it."""
    served = sorted({s.availability_zone for s in subnets})
    candidates = [zone for zone in served if zone in offered] if subnets else list(offered)
    return candidates[0] if candidates else served[0]


def _subnet_in(zone: str, vpc_id: str, subnets: Sequence[Subnet]) -> str:
    if subnets:
        for subnet in subnets:
            if subnet.availability_zone == zone:
                return subnet.subnet_id
        raise _error(
            "subnetIds",
            f"has no subnet in {zone}, the fleet's zone "
            f"(its subnets are in {', '.join(sorted({s.availability_zone for s in subnets}))})",
            "--path 'subnetIds[0]' subnet-0123456789abcdef0",
        )
    subnet_id = zone_subnet(vpc_id, zone)
    if subnet_id is None:
        raise _error(
            "subnetIds",
            f"is required: {vpc_id} has no subnet in {zone}",
            "--path 'subnetIds[0]' subnet-0123456789abcdef0",
        )
    return subnet_id
