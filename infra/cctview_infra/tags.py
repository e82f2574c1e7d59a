"""The tags that identify a fleet's resources; the CLI finds nodes and volumes by them.

``cctview:fleet=<stack>`` on everything, ``cctview:node=node-NN`` on a node's instance and its
volumes, ``cctview:generation`` on data volumes (1 is Pulumi's; 2 and up are rotate-volumes').
The keys are the CLI's own constants, so the program and the CLI cannot drift apart.
"""

from __future__ import annotations

from cctview_fleet.ebsvolumes import GENERATION_TAG as GENERATION
from cctview_fleet.inventory import FLEET_TAG as FLEET
from cctview_fleet.inventory import NODE_TAG as NODE

__all__ = ["FLEET", "GENERATION", "NODE", "ROLE", "SPEC", "fleet_tags", "node_name", "node_tags"]

ROLE = "cctview:role"  # "node", "data", "root", "bucket", ... for people reading the console
SPEC = "cctview:spec"  # on instances: digests of the inputs a change of which replaces or stops it
REQUIRED = (FLEET,)  # every taggable resource carries these (a policy checks it)


def node_name(index: int) -> str:
    """``node-01`` for index 0: two digits so names sort the way people count."""
    return f"node-{index + 1:02d}"


def fleet_tags(stack: str, role: str, **extra: str) -> dict[str, str]:
    """Tags for a fleet resource; ``Name`` makes the EC2 console readable."""
    tags = {FLEET: stack, ROLE: role}
    tags.update(extra)
    return tags


def node_tags(stack: str, node: str, role: str, **extra: str) -> dict[str, str]:
    return fleet_tags(stack, role, **{NODE: node, "Name": f"cctview-{stack}-{node}", **extra})
