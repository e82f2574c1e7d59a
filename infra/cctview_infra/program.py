"""The program's body: from validated settings to a declared fleet and its stack outputs.

``infra/__main__.py`` reads the config and calls :func:`declare_fleet`; tests call it under the
unit-test mocks with settings of their own. It installs the policy guard before the first
resource, warns when the fleet leaves the free tier (the same cost model as ``plan``), looks up
the AMI, the zone and the fleet's existing data volumes, declares the :class:`Fleet`, runs the
stack policies, and returns the outputs ``cctview-fleet stack import`` reads.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pulumi

from cctview_agent.fleetconstants import FreeTier, Prices
from cctview_fleet.planning.costs import for_free_tier, free_tier_warnings
from cctview_infra import tags
from cctview_infra.agentpackage import AgentWheel, build_agent_wheel
from cctview_infra.disruption import (
    check_disruption,
    check_rotated_replacements,
    disruption,
    fleet_specs,
)
from cctview_infra.fleet import Fleet, FleetArgs
from cctview_infra.lookups import (
    fleet_ami,
    fleet_zone,
    newest_ami,
    node_volumes,
    observe_instances,
    observe_volumes,
)
from cctview_infra.placement import PlacementRequest, place_fleet
from cctview_infra.policies import PolicyContext, PolicyGuard
from cctview_infra.settings import FleetSettings
from cctview_infra.userdata import shipped_systemd_unit


def declare_fleet(
    settings: FleetSettings,
    *,
    agent_dir: Path,
    wheel_dir: Path,
    prices: Prices,
    agent_wheel: AgentWheel | None = None,
    systemd_unit: str | None = None,
    rolling: bool = False,
) -> dict[str, Any]:
    """Declare everything; return the stack outputs by name. ``rolling``: ``cctview-fleet
    roll`` is driving this ``up`` (one targeted node at a time), so disruption is allowed."""
    guard = PolicyGuard(
        PolicyContext(ebs_budget_gib=settings.ebs_budget_gib), settings.policy_enforcement
    ).install()
    billed = for_free_tier(prices, FreeTier(settings.free_tier))
    for warning in free_tier_warnings(settings.node_count, settings.ebs_total_gib, billed):
        pulumi.log.warn(warning)
    observed = observe_volumes(settings.stack)
    placement = place_fleet(
        PlacementRequest(
            instance_type=settings.instance_type,
            vpc_id=settings.vpc_id,
            subnet_ids=settings.subnet_ids,
            availability_zone=settings.availability_zone or fleet_zone(observed),
        )
    )
    running = observe_instances(settings.stack)
    fleet_args = FleetArgs(
        settings=settings,
        ami_id=settings.ami_id
        or fleet_ami(running)
        or newest_ami(settings.ami_owner, settings.ami_name_filter),
        placement=placement,
        agent_wheel=agent_wheel or build_agent_wheel(agent_dir, wheel_dir),
        volumes=node_volumes(observed),
        systemd_unit=systemd_unit or shipped_systemd_unit(agent_dir),
        boot_tags={node: instance.boot_tags for node, instance in running.items()},
    )
    specs = fleet_specs(fleet_args)
    disrupted = disruption(specs, running)
    check_disruption(
        disrupted,
        allowed=settings.max_disrupted_nodes,
        rolling=rolling,
        running=len(running),
    )
    check_rotated_replacements(disrupted, fleet_args.volumes, rolling=rolling)
    fleet = Fleet(
        f"cctview-{settings.stack}",
        replace(fleet_args, specs={node: spec.digest() for node, spec in specs.items()}),
    )
    guard.finish()
    return {
        "region": settings.region,
        "bucket": fleet.data.bucket,
        "prefix": settings.bucket_prefix,
        "sshUser": settings.ssh_user,
        "fleetTag": {"key": tags.FLEET, "value": settings.fleet_tag},
        "camerasPerNode": settings.cameras_per_node,
        "capacity": settings.capacity,
        "network": {
            "vpcId": placement.vpc_id,
            "subnetId": placement.subnet_id,
            "availabilityZone": placement.availability_zone,
        },
        "agentPackage": {"key": fleet.agent.key, "sha256": fleet.agent.sha256},
        "nodes": fleet.node_list,
    }
