"""One ``pulumi up`` never replaces or stops the whole fleet: the guard that refuses it.

Pulumi has no rolling replace. A changed ``sshPublicKey`` (a new key pair forces new instances),
``instanceType`` (stop, modify, start), ``amiId``, network or user data would otherwise hit every
node in the same ``up``, and with ``delete_before_replace`` (needed so the replacement can take
over the data volume) every node would be down at once.

So each instance carries a ``cctview:spec`` tag: a short digest per input whose change replaces
or stops it (docs/infra.md, "What a config change does", has the table and its source). Before
declaring anything the program computes the same digests for every node and compares them with
the running instances' tags. More than ``maxDisruptedNodes`` (default 1) running nodes changing
at once stops the program with one line that names the nodes and the inputs and says what to do:
``cctview-fleet roll``, which runs ``pulumi up --target`` one node at a time with a health check
between (it sets ``CCTVIEW_ROLL`` so this guard lets each step through).

An instance without the tag (made before it existed) counts as changed: the guard cannot tell,
and the first ``up`` after it is safest rolled.

A second rule holds whatever ``maxDisruptedNodes`` allows: a plain ``up`` never *replaces* a
rotated node (:func:`check_rotated_replacements`). Its current volume is ``rotate-volumes``'s,
which the program does not attach, so its replacement would boot without it; ``roll`` attaches
it to the new instance (``cctview_fleet.rotation.handover``). A changed instance type stops and
starts a node in place, its volumes attached: that is not refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, fields

import pulumi

from cctview_agent.errors import ConfigError
from cctview_agent.fleetconstants import ROLL_ENV
from cctview_infra.fleet import FleetArgs, node_args
from cctview_infra.lookups import NodeVolumes, ObservedInstance
from cctview_infra.node import user_data_spec
from cctview_infra.userdata import render_user_data

__all__ = [
    "ROLL_ENV",
    "check_disruption",
    "check_rotated_replacements",
    "disruption",
    "fleet_specs",
]
PLACEHOLDER = "(output)"  # for values Pulumi only knows after `up`; stable from one up to the next


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """The inputs whose change replaces or stops a node's instance (user data: its text with a
    placeholder for the bucket, so a new template counts; a new agent is a boot tag, in place)."""

    ami: str
    instance_type: str
    ssh_key: str
    subnet: str
    zone: str
    user_data: str

    def digest(self) -> str:
        """``ami=1a2b3c;type=...``: six hex digits per input, short enough for a tag value."""
        return ";".join(
            f"{f.name}={hashlib.sha256(getattr(self, f.name).encode()).hexdigest()[:6]}"
            for f in fields(self)
        )


def changed_inputs(declared: str, running: str) -> list[str]:
    """Which inputs differ between two digests (all of them when ``running`` is untagged)."""
    old = dict(part.split("=", 1) for part in running.split(";") if "=" in part)
    new = dict(part.split("=", 1) for part in declared.split(";") if "=" in part)
    return [name for name, value in new.items() if old.get(name) != value]


def fleet_specs(args: FleetArgs) -> dict[str, NodeSpec]:
    """Every node's spec, from the same :func:`fleet.node_args` the fleet declares with."""
    specs: dict[str, NodeSpec] = {}
    for index in range(args.settings.node_count):
        node = node_args(
            args,
            index,
            key_name=PLACEHOLDER,
            security_group_id=PLACEHOLDER,
            instance_profile=PLACEHOLDER,
            bucket=PLACEHOLDER,
            agent_key=PLACEHOLDER,
        )
        # the wheel and the volume are boot tags, not user data: upgrades and rotations change
        # neither the text nor this digest
        text = render_user_data(user_data_spec(node, bucket=PLACEHOLDER), node.systemd_unit)
        specs[node.node] = NodeSpec(
            ami=node.ami_id,
            instance_type=node.instance_type,
            ssh_key=args.settings.ssh_public_key,
            subnet=node.subnet_id,
            zone=node.availability_zone,
            user_data=text,
        )
    return specs


@dataclass(frozen=True, slots=True)
class Disruption:
    """The running nodes this ``up`` would replace or stop, with what changed on each."""

    changes: Mapping[str, list[str]]

    def describe(self) -> str:
        inputs = sorted({name for names in self.changes.values() for name in names})
        return f"{', '.join(sorted(self.changes))} (changed: {', '.join(inputs)})"


def disruption(
    specs: Mapping[str, NodeSpec], running: Mapping[str, ObservedInstance]
) -> Disruption:
    changes = {
        node: changed_inputs(spec.digest(), running[node].spec)
        for node, spec in specs.items()
        if node in running and running[node].spec != spec.digest()
    }
    return Disruption(changes)


def check_disruption(found: Disruption, *, allowed: int, rolling: bool, running: int) -> None:
    """Refuse more than ``allowed`` disrupted nodes unless ``cctview-fleet roll`` is driving."""
    if not found.changes:
        return
    if rolling or len(found.changes) <= allowed:
        pulumi.log.warn(f"this update replaces or restarts {found.describe()}")
        return
    raise ConfigError(
        f"this update would replace or restart {len(found.changes)} of {running} running nodes "
        f"at once: {found.describe()}; apply it one node at a time with `cctview-fleet roll`, "
        f"or accept the outage with pulumi config set maxDisruptedNodes {len(found.changes)}",
        key="maxDisruptedNodes",
    )


# The NodeSpec inputs whose change replaces the instance (ForceNew in the provider; the user data
# through user_data_replace_on_change); instance_type alone stops and starts it in place.
REPLACING_INPUTS = frozenset({"ami", "ssh_key", "subnet", "zone", "user_data"})


def replaced_nodes(found: Disruption) -> list[str]:
    """The nodes whose instance this ``up`` replaces (not merely restarts)."""
    return sorted(node for node, names in found.changes.items() if REPLACING_INPUTS & set(names))


def check_rotated_replacements(
    found: Disruption, volumes: Mapping[str, NodeVolumes], *, rolling: bool
) -> None:
    """Refuse a plain ``up`` that replaces a node whose current volume ``rotate-volumes``
    attached: nothing in this ``up`` would attach it to the new instance. ``roll`` does."""
    if rolling:
        return
    stranded = [
        node
        for node in replaced_nodes(found)
        if node in volumes and not volumes[node].declare_attachment
    ]
    if not stranded:
        return
    names = " ".join(stranded)
    raise ConfigError(
        f"this update would replace {', '.join(stranded)}, whose data volume `rotate-volumes` "
        "attached; the program does not attach it, so the new instance would boot without it. "
        f"Replace {'it' if len(stranded) == 1 else 'them'} with `cctview-fleet roll {names}`, "
        "which attaches it to the new instance",
        key="maxDisruptedNodes",
    )
