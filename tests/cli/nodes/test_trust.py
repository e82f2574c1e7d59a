"""The trust policy (:mod:`cctview_fleet.nodes.trust`), decision by decision, with real key files.

The end-to-end command runs against real sshd and moto in test_fleet_commands.py; here each
decision the policy can take is pinned on its own: unknown key, matching fingerprint, changed
key, a key that contradicts the console, ``--yes``, the operator's answer, and a node name that
two instances claim.
"""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest

from cctview_agent.fleetconstants import FLEET_TAG, NODE_TAG
from cctview_fleet.cloud.inventory import nodes_from_reservations
from cctview_fleet.errors import InventoryError, NodeError
from cctview_fleet.nodes.trust import (
    NOT_CONFIRMED,
    Console,
    HostKeyCheck,
    Known,
    apply_trust,
    decide,
)
from cctview_fleet.remote.hostkeys import fingerprint, known_key
from cctview_fleet.results import FleetResult, NodeResult


@pytest.fixture(scope="module")
def host_key() -> paramiko.PKey:
    return paramiko.ECDSAKey.generate()


def _check(
    key: paramiko.PKey, known: Known, console: Console, name: str = "node-01"
) -> HostKeyCheck:
    return HostKeyCheck(
        node=name,
        address="[127.0.0.1]:2222",
        host="127.0.0.1",
        port=2222,
        key_type="ECDSA",
        fingerprint=fingerprint(key),
        known=known,
        console=console,
        console_fingerprints=("SHA256:printed-at-boot",) if console is Console.MISMATCH else (),
        key=key,
    )


def _never(check: HostKeyCheck) -> bool:
    raise AssertionError(f"the operator was asked about {check.node}")


def test_unknown_key_without_console_needs_the_operator(host_key: paramiko.PKey) -> None:
    check = _check(host_key, Known.UNKNOWN, Console.ABSENT)
    assert decide(check, yes=False, confirm=None) == decide(
        check, yes=False, confirm=lambda _: False
    )
    refused = decide(check, yes=False, confirm=None)
    assert (refused.result, refused.trusted, refused.write) == (NOT_CONFIRMED, False, False)
    accepted = decide(check, yes=False, confirm=lambda _: True)
    assert (accepted.result, accepted.trusted, accepted.write) == ("added", True, True)


def test_matching_console_fingerprint_is_added_without_asking(host_key: paramiko.PKey) -> None:
    decision = decide(_check(host_key, Known.UNKNOWN, Console.MATCH), yes=False, confirm=_never)
    assert (decision.result, decision.trusted, decision.write) == ("added", True, True)


def test_changed_key_is_replaced_only_when_vouched_for(host_key: paramiko.PKey) -> None:
    changed = _check(host_key, Known.DIFFERENT, Console.ABSENT)
    assert decide(changed, yes=False, confirm=None).trusted is False
    assert decide(changed, yes=True, confirm=_never).result == "replaced"
    vouched = _check(host_key, Known.DIFFERENT, Console.MATCH)
    assert decide(vouched, yes=False, confirm=_never).result == "replaced"


def test_key_contradicting_the_console_is_refused_even_with_yes(host_key: paramiko.PKey) -> None:
    check = _check(host_key, Known.UNKNOWN, Console.MISMATCH)
    for yes in (False, True):
        decision = decide(check, yes=yes, confirm=_never)
        assert decision.trusted is False and decision.write is False
        assert "may be intercepted" in decision.result
        assert "SHA256:printed-at-boot" in decision.result


def test_yes_trusts_a_new_key_without_asking(host_key: paramiko.PKey) -> None:
    decision = decide(_check(host_key, Known.UNKNOWN, Console.ABSENT), yes=True, confirm=_never)
    assert (decision.result, decision.write) == ("added", True)


def test_already_trusted_key_is_left_alone(host_key: paramiko.PKey) -> None:
    decision = decide(_check(host_key, Known.SAME, Console.ABSENT), yes=True, confirm=_never)
    assert (decision.result, decision.trusted, decision.write) == ("already trusted", True, False)


def test_apply_trust_writes_only_accepted_keys(tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    good, bad, asked = (paramiko.ECDSAKey.generate() for _ in range(3))
    checks = FleetResult(
        [
            NodeResult("node-01", value=_check(good, Known.UNKNOWN, Console.MATCH, "node-01")),
            NodeResult("node-02", value=_check(bad, Known.UNKNOWN, Console.MISMATCH, "node-02")),
            NodeResult("node-03", value=_check(asked, Known.UNKNOWN, Console.ABSENT, "node-03")),
            NodeResult("node-04", error=NodeError("node-04", "is stopped")),
        ]
    )
    report = apply_trust(checks, known_hosts, yes=False, confirm=None)
    assert report.results["node-01"] == "added"
    assert report.results["node-03"] == NOT_CONFIRMED
    assert "is stopped" in report.results["node-04"]
    assert report.untrusted == ["node-02", "node-03", "node-04"]
    # All four share one address; only node-01's key reached the file.
    recorded = known_key(known_hosts, "127.0.0.1", 2222, good.get_name())
    assert recorded is not None and recorded.asbytes() == good.asbytes()


def _instance(instance_id: str, node: str, state: str) -> dict[str, object]:
    return {
        "InstanceId": instance_id,
        "State": {"Name": state},
        "PublicIpAddress": "127.0.0.1",
        "Tags": [{"Key": FLEET_TAG, "Value": "dev"}, {"Key": NODE_TAG, "Value": node}],
    }


def test_duplicated_node_name_never_reaches_the_policy() -> None:
    """Two live instances claiming one name are refused at discovery, before any key is fetched:
    otherwise a stray instance could present its key under a trusted node's name."""
    reservations = [
        {
            "Instances": [
                _instance("i-1", "node-01", "running"),
                _instance("i-2", "node-01", "pending"),
            ]
        }
    ]
    with pytest.raises(InventoryError, match="node node-01 is claimed by 2 instances"):
        nodes_from_reservations(reservations)
