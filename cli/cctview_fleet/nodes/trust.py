"""First contact with a node: which host key it presents, and what vouches for it.

EC2 prints a new instance's host-key fingerprints to its console output at first boot
(cloud-init's "BEGIN SSH HOST KEY FINGERPRINTS" block). That output comes through the EC2 API,
authenticated, not through the network path to the node, so a key whose fingerprint matches it
can be trusted without asking. Without it (an image that does not print them, the emulator), the
operator must confirm the fingerprint. A key that contradicts the console is never trusted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from cctview_fleet.cloud import aws
from cctview_fleet.cloud.inventory import Node
from cctview_fleet.cloud.stacks import Stack
from cctview_fleet.errors import HostKeyError, NodeError
from cctview_fleet.nodes.bootoutcome import FirstBoot, from_console
from cctview_fleet.nodes.status import cloud_side_problem
from cctview_fleet.remote.hostkeys import (
    ConsoleFingerprint,
    add_known_host,
    fetch_host_key,
    fingerprint,
    host_key_name,
    key_type_label,
    known_key,
    load_known_hosts,
    parse_console_fingerprints,
)
from cctview_fleet.results import FleetResult

if TYPE_CHECKING:
    import paramiko


class Known(StrEnum):
    SAME = "already trusted"
    DIFFERENT = "a DIFFERENT key is recorded"
    UNKNOWN = "new"


class Console(StrEnum):
    MATCH = "matches console"
    MISMATCH = "CONTRADICTS console"
    ABSENT = "no console fingerprints"


@dataclass(frozen=True, slots=True)
class HostKeyCheck:
    """What was found for one node, before anything is written."""

    node: str
    address: str  # as known_hosts spells it
    host: str
    port: int
    key_type: str
    fingerprint: str
    known: Known
    console: Console
    console_fingerprints: tuple[str, ...] = ()
    key: paramiko.PKey | None = field(default=None, compare=False, repr=False)
    first_boot: FirstBoot | None = None  # the first-boot line of the console, if printed yet

    @property
    def may_add_without_asking(self) -> bool:
        return self.known is not Known.SAME and self.console is Console.MATCH

    @property
    def refused(self) -> bool:
        return self.console is Console.MISMATCH


@dataclass(frozen=True, slots=True)
class ConsoleRecord:
    """What the instance printed at first boot: host-key fingerprints and how the boot ended."""

    fingerprints: list[ConsoleFingerprint]
    first_boot: FirstBoot | None = None


def console_record(stack: Stack, node: Node) -> ConsoleRecord:
    """The instance's console output, read once; empty when nothing can be found."""
    client = aws.ec2(stack)
    with aws.translate_errors(stack, "ec2", f"reading the console output of {node.name}"):
        response = client.get_console_output(InstanceId=node.instance_id)
    output = response.get("Output") or ""
    return ConsoleRecord(parse_console_fingerprints(output), from_console(output))


def inspect_node(
    stack: Stack, node: Node, known_hosts: Path, *, timeout: float = 5.0
) -> HostKeyCheck:
    problem = cloud_side_problem(node)
    if problem is not None:
        raise problem
    if not node.ssh_host:
        raise NodeError(node.name, "has no SSH address (no public address, no cctview:ssh-host)")
    key = fetch_host_key(node.name, node.ssh_host, node.ssh_port, timeout=timeout)
    printed = fingerprint(key)
    label = key_type_label(key)
    recorded = known_key(known_hosts, node.ssh_host, node.ssh_port, key.get_name())
    if recorded is None:
        entry = load_known_hosts(known_hosts).lookup(host_key_name(node.ssh_host, node.ssh_port))
        known = Known.DIFFERENT if entry else Known.UNKNOWN
    else:
        known = Known.SAME if recorded.asbytes() == key.asbytes() else Known.DIFFERENT
    record = console_record(stack, node)
    printed_there = [f for f in record.fingerprints if f.key_type == label]
    if not printed_there:
        console = Console.ABSENT
    elif any(f.fingerprint == printed for f in printed_there):
        console = Console.MATCH
    else:
        console = Console.MISMATCH
    return HostKeyCheck(
        node=node.name,
        address=host_key_name(node.ssh_host, node.ssh_port),
        host=node.ssh_host,
        port=node.ssh_port,
        key_type=label,
        fingerprint=printed,
        known=known,
        console=console,
        console_fingerprints=tuple(f.fingerprint for f in printed_there),
        key=key,
        first_boot=record.first_boot,
    )


def refuse(check: HostKeyCheck) -> HostKeyError:
    return HostKeyError(
        check.node,
        f"presents {check.key_type} {check.fingerprint}, but its console output printed "
        f"{', '.join(check.console_fingerprints)}: the connection may be intercepted; "
        "not trusted",
    )


def record(check: HostKeyCheck, known_hosts: Path) -> None:
    """Write the checked key into the fleet's known_hosts (replacing the address's old keys)."""
    if check.key is None:
        raise HostKeyError(check.node, "no key was fetched; run `cctview-fleet trust` again")
    add_known_host(known_hosts, check.host, check.port, check.key)


NOT_CONFIRMED = "not trusted (confirm, or pass --yes)"


@dataclass(frozen=True, slots=True)
class TrustDecision:
    """The policy's answer for one node: what to tell the operator, and whether to write the key."""

    result: str
    trusted: bool
    write: bool = False


def decide(
    check: HostKeyCheck, *, yes: bool, confirm: Callable[[HostKeyCheck], bool] | None
) -> TrustDecision:
    """Whether to trust one node's key. The security policy of ``cctview-fleet trust``.

    A key already recorded stays trusted; a key that contradicts the console is refused whatever
    the flags say; a key the console vouches for is written without asking; any other key (new,
    or changed with no console to vouch for it) needs ``--yes`` or the operator's answer to
    ``confirm`` (None when nobody can be asked, e.g. ``--json``: then the answer is no).
    """
    if check.known is Known.SAME:
        return TrustDecision("already trusted", trusted=True)
    if check.refused:
        return TrustDecision(str(refuse(check)), trusted=False)
    if check.may_add_without_asking or yes or (confirm is not None and confirm(check)):
        result = "added" if check.known is Known.UNKNOWN else "replaced"
        return TrustDecision(result, trusted=True, write=True)
    return TrustDecision(NOT_CONFIRMED, trusted=False)


@dataclass(frozen=True, slots=True)
class TrustReport:
    """Every node's result line, and the names of those left untrusted (the exit code's cause)."""

    results: dict[str, str]
    untrusted: list[str]


def apply_trust(
    checks: FleetResult[HostKeyCheck],
    known_hosts: Path,
    *,
    yes: bool,
    confirm: Callable[[HostKeyCheck], bool] | None,
) -> TrustReport:
    """Decide for each node (in order) and write the keys the policy accepts to ``known_hosts``.

    A node whose key could not be fetched is untrusted, with its error as the result.
    """
    results: dict[str, str] = {}
    untrusted: list[str] = []
    for name, outcome in checks.items():
        check = outcome.value
        if not outcome.ok or check is None:
            results[name] = str(outcome.error)
            untrusted.append(name)
            continue
        decision = decide(check, yes=yes, confirm=confirm)
        if decision.write:
            record(check, known_hosts)
        results[name] = decision.result
        if not decision.trusted:
            untrusted.append(name)
    return TrustReport(results, untrusted)
