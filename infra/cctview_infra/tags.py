"""The tags that identify a fleet's resources; the CLI finds nodes and volumes by them.

``cctview:fleet=<stack>`` on everything, ``cctview:node=node-NN`` on a node's instance and its
volumes, ``cctview:generation`` on data volumes (1 is Pulumi's; 2 and up are rotate-volumes'),
and on instances the boot tags the user data reads (``BOOT_KEYS``). The keys come from
:mod:`cctview_agent.fleetconstants`, which the CLI and the local fleet also import, so the program
and the CLI cannot drift apart (and the program loads no CLI module here).
"""

from __future__ import annotations

from cctview_agent.fleetconstants import AGENT_KEY_TAG as AGENT_KEY
from cctview_agent.fleetconstants import AGENT_TAG as AGENT_SHA256
from cctview_agent.fleetconstants import DATA_VOLUME_TAG as DATA_VOLUME
from cctview_agent.fleetconstants import FLEET_TAG as FLEET
from cctview_agent.fleetconstants import GENERATION_TAG as GENERATION
from cctview_agent.fleetconstants import NODE_TAG as NODE
from cctview_agent.fleetconstants import ROLE_TAG as ROLE
from cctview_agent.fleetconstants import SPEC_TAG as SPEC

__all__ = [
    "AGENT_KEY", "AGENT_SHA256", "BOOT_KEYS", "DATA_VOLUME", "FLEET", "GENERATION", "NODE",
    "ROLE", "SPEC", "fleet_tags", "node_name", "node_tags",
]  # fmt: skip

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
