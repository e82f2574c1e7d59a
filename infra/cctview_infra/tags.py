"""The tags that identify a fleet's resources; the CLI finds nodes and volumes by them.

``cctview:fleet=<stack>`` on everything, ``cctview:node=node-NN`` on a node's instance and its
volumes, ``cctview:generation`` on data volumes (1 is Pulumi's; 2 and up are rotate-volumes'),
and on instances the boot tags the user data reads (``BOOT_KEYS``).
The keys are the CLI's own constants, so the program and the CLI cannot drift apart.
"""

from __future__ import annotations

from cctview_fleet.agentwheels import AGENT_KEY_TAG as AGENT_KEY
from cctview_fleet.agentwheels import AGENT_TAG as AGENT_SHA256
from cctview_fleet.ebsvolumes import DATA_VOLUME_TAG as DATA_VOLUME
from cctview_fleet.ebsvolumes import GENERATION_TAG as GENERATION
from cctview_fleet.inventory import FLEET_TAG as FLEET
from cctview_fleet.inventory import NODE_TAG as NODE

__all__ = [
    "AGENT_KEY", "AGENT_SHA256", "BOOT_KEYS", "DATA_VOLUME", "FLEET", "GENERATION", "NODE",
    "ROLE", "SPEC", "fleet_tags", "node_name", "node_tags",
]  # fmt: skip

ROLE = "cctview:role"  # "node", "data", "root", "bucket", ... for people reading the console
SPEC = "cctview:spec"  # on instances: digests of the inputs a change of which replaces or stops it
# On instances: what the user data reads at boot through the metadata service (the wheel and the
# active data volume). `upgrade` and `rotate-volumes` move them; the program keeps what it finds.
BOOT_KEYS = (AGENT_KEY, AGENT_SHA256, DATA_VOLUME)
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
