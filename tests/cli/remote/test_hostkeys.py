"""Host-key trust: console fingerprints, known_hosts edits, and the trust decision against a real
sshd (the console output is the one in-process stand-in: moto prints no fingerprints)."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import paramiko
import pytest

from cctview_fleet.cloud.inventory import Node
from cctview_fleet.cloud.stacks import Stack
from cctview_fleet.nodes import trust
from cctview_fleet.nodes.bootoutcome import from_console
from cctview_fleet.remote import hostkeys
from cctview_fleet.remote.hostkeys import ConsoleFingerprint
from tests.cli.sshd_server import Sshd, keygen, running_sshd

CLOUD_INIT = """\
[   12.3] cloud-init[512]: Cloud-init v. 22.4.2 finished
-----BEGIN SSH HOST KEY FINGERPRINTS-----
256 SHA256:Wm8mUq1q8dRHqFb4kB5eSxvTvTQYf0m1GxB7Qbq1y2c root@ip-10-0-1-23 (ECDSA)
256 SHA256:3Pz0rj9+gCqXkV0k3cJ6a0r2x9m7pE1a0dM0s6Q8Jk4 root@ip-10-0-1-23 (ED25519)
3072 SHA256:q1b0Hc5zq8x9a0YwJ8m7sF2c8y1e3pA5b4Vt0dR6u7k root@ip-10-0-1-23 (RSA)
-----END SSH HOST KEY FINGERPRINTS-----
ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----
ec2: 256 SHA256:Wm8mUq1q8dRHqFb4kB5eSxvTvTQYf0m1GxB7Qbq1y2c root@ip-10-0-1-23 (ECDSA)
ec2: -----END SSH HOST KEY FINGERPRINTS-----
"""


def test_console_fingerprints_are_parsed_with_their_key_types() -> None:
    found = hostkeys.parse_console_fingerprints(CLOUD_INIT)
    assert found[:3] == [
        ConsoleFingerprint("ECDSA", "SHA256:Wm8mUq1q8dRHqFb4kB5eSxvTvTQYf0m1GxB7Qbq1y2c"),
        ConsoleFingerprint("ED25519", "SHA256:3Pz0rj9+gCqXkV0k3cJ6a0r2x9m7pE1a0dM0s6Q8Jk4"),
        ConsoleFingerprint("RSA", "SHA256:q1b0Hc5zq8x9a0YwJ8m7sF2c8y1e3pA5b4Vt0dR6u7k"),
    ]
    assert len(found) == 4  # the "ec2:"-prefixed block too
    assert hostkeys.parse_console_fingerprints("no markers here\n256 SHA256:x a (RSA)") == []


def test_add_known_host_replaces_only_that_address(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("[10.0.0.1]:22 ssh-ed25519 AAAAold\nother.example ssh-rsa AAAAkeep\n")
    key_line = keygen(tmp_path / "k")
    key = paramiko.PKey.from_type_string(key_line.split()[0], base64.b64decode(key_line.split()[1]))
    hostkeys.add_known_host(known, "10.0.0.1", 2222, key)
    hostkeys.add_known_host(known, "10.0.0.1", 2222, key)
    lines = known.read_text().splitlines()
    assert lines.count(f"[10.0.0.1]:2222 {key.get_name()} {key.get_base64()}") == 1
    assert "other.example ssh-rsa AAAAkeep" in lines and len(lines) == 3


@pytest.mark.sshd
class TestTrustDecision:
    @pytest.fixture
    def server(self, tmp_path: Path):
        with running_sshd(tmp_path / "sshd", trusted=False) as sshd:
            yield sshd

    def _node(self, server: Sshd) -> Node:
        return Node("node-01", "i-1", "running", ssh_host="127.0.0.1", ssh_port=server.port)

    def _fingerprint(self, server: Sshd) -> str:
        out = subprocess.run(
            ["ssh-keygen", "-l", "-f", str(server.folder / "host_ed25519.pub")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return out.split()[1]

    def test_matching_console_fingerprint_trusts_without_asking(self, server, monkeypatch):
        printed = self._fingerprint(server)
        monkeypatch.setattr(
            trust,
            "console_record",
            lambda stack, node: trust.ConsoleRecord([ConsoleFingerprint("ED25519", printed)]),
        )
        check = trust.inspect_node(Stack(name="t"), self._node(server), server.known_hosts)
        assert (check.known, check.console) == (trust.Known.UNKNOWN, trust.Console.MATCH)
        assert check.may_add_without_asking and not check.refused
        trust.record(check, server.known_hosts)
        again = trust.inspect_node(Stack(name="t"), self._node(server), server.known_hosts)
        assert again.known is trust.Known.SAME

    def test_the_console_says_how_first_boot_ended(self, server, monkeypatch):
        """`trust` reads the user data's console line with the fingerprints (one call)."""
        output = CLOUD_INIT + (
            "[ 61.0] cloud-init[640]: cctview-bootstrap: first boot failed (exit 1) at step: "
            "4/5 data volume vol-0abc (waiting for its attachment)\n"
        )
        record = trust.ConsoleRecord(
            hostkeys.parse_console_fingerprints(output), from_console(output)
        )
        monkeypatch.setattr(trust, "console_record", lambda stack, node: record)
        check = trust.inspect_node(Stack(name="t"), self._node(server), server.known_hosts)
        assert check.first_boot is not None and not check.first_boot.ok
        assert check.first_boot.describe() == (
            "failed (exit 1) at step: 4/5 data volume vol-0abc (waiting for its attachment)"
        )

    def test_contradicting_console_fingerprint_is_refused(self, server, monkeypatch):
        monkeypatch.setattr(
            trust,
            "console_record",
            lambda stack, node: trust.ConsoleRecord(
                [ConsoleFingerprint("ED25519", "SHA256:somethingelse")]
            ),
        )
        check = trust.inspect_node(Stack(name="t"), self._node(server), server.known_hosts)
        assert check.refused and not check.may_add_without_asking
        assert "the connection may be intercepted; not trusted" in str(trust.refuse(check))
