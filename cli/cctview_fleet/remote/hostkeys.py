"""Host keys: the fleet's known_hosts file, fingerprints, and what EC2 console output says.

The trust model (docs/operations.md): the CLI only talks to a node whose host key is in the
stack's own known_hosts file (never ``~/.ssh/known_hosts``, never a silent auto-add). A new node
is trusted once, by ``cctview-fleet trust``: it fetches the key the node presents, compares its
fingerprint with the ones cloud-init printed to the EC2 console at first boot, and adds the key
only on a match or an explicit confirmation.
"""

from __future__ import annotations

import base64
import hashlib
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cctview_agent.atomicfile import write_atomic
from cctview_fleet.errors import ConfigError, HostKeyError, UnreachableError

if TYPE_CHECKING:  # paramiko loads where a key is read, not with every `cctview-fleet --help`
    import paramiko

CONSOLE_BEGIN = "-----BEGIN SSH HOST KEY FINGERPRINTS-----"
CONSOLE_END = "-----END SSH HOST KEY FINGERPRINTS-----"
# cloud-init prints lines like "256 SHA256:abc... root@ip-10-0-0-1 (ED25519)"; some images print
# them behind a "ec2: " prefix.
_CONSOLE_LINE = re.compile(r"(?:ec2:\s*)?\d+\s+(SHA256:[A-Za-z0-9+/=]+)\s+.*\((\w+)\)\s*$")


def fingerprint(key: paramiko.PKey) -> str:
    """The OpenSSH SHA256 fingerprint (``SHA256:...`` without padding), as ``ssh-keygen -l``."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def key_type_label(key: paramiko.PKey) -> str:
    """ED25519, ECDSA or RSA: the label cloud-init prints after each fingerprint."""
    name = str(key.get_name())
    if "ed25519" in name:
        return "ED25519"
    if "ecdsa" in name:
        return "ECDSA"
    if "rsa" in name:
        return "RSA"
    return name.upper()


def host_key_name(host: str, port: int) -> str:
    """known_hosts spelling of an address: ``host`` on 22, ``[host]:port`` elsewhere."""
    return host if port == 22 else f"[{host}]:{port}"


def load_known_hosts(path: Path) -> paramiko.HostKeys:
    """The fleet's known hosts; a missing file is an empty set (every node is then unknown)."""
    import paramiko

    keys = paramiko.HostKeys()
    if path.exists():
        try:
            keys.load(str(path))
        except (OSError, paramiko.SSHException, ValueError) as exc:
            raise ConfigError(
                f"known_hosts file {path} is unreadable: {exc}; fix or delete it and run "
                "`cctview-fleet trust`",
                path=path,
            ) from exc
    return keys


def known_key(path: Path, host: str, port: int, key_type: str) -> paramiko.PKey | None:
    entry = load_known_hosts(path).lookup(host_key_name(host, port))
    if entry is None:
        return None
    return entry.get(key_type)


def add_known_host(path: Path, host: str, port: int, key: paramiko.PKey) -> None:
    """Record ``key`` as the address's only key (a replaced node's old keys go); atomic rewrite."""
    name = host_key_name(host, port)
    lines = path.read_text().splitlines() if path.exists() else []
    kept = [line for line in lines if line.split()[:1] != [name]]
    kept.append(f"{name} {key.get_name()} {key.get_base64()}")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, ("\n".join(kept) + "\n").encode(), fsync=True)


def fetch_host_key(node: str, host: str, port: int, *, timeout: float = 5.0) -> paramiko.PKey:
    """The host key a node presents, read from the SSH handshake without authenticating."""
    import paramiko

    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise UnreachableError(
            node, f"cannot connect to {host}:{port} to read its host key: {exc}"
        ) from exc
    transport = paramiko.Transport(sock)
    transport.banner_timeout = timeout
    try:
        transport.start_client(timeout=timeout)
        return transport.get_remote_server_key()
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise UnreachableError(
            node, f"SSH handshake with {host}:{port} failed: {exc or type(exc).__name__}"
        ) from exc
    finally:
        transport.close()


@dataclass(frozen=True, slots=True)
class ConsoleFingerprint:
    key_type: str  # ED25519, ECDSA, RSA
    fingerprint: str


def parse_console_fingerprints(console_output: str) -> list[ConsoleFingerprint]:
    """The fingerprints between cloud-init's BEGIN/END markers; empty when there are none."""
    found: list[ConsoleFingerprint] = []
    inside = False
    for raw in console_output.splitlines():
        line = raw.strip()
        if CONSOLE_BEGIN in line:
            inside = True
            continue
        if CONSOLE_END in line:
            inside = False
            continue
        if inside:
            match = _CONSOLE_LINE.search(line)
            if match:
                found.append(ConsoleFingerprint(match.group(2).upper(), match.group(1)))
    return found


def check_against_known(
    node: str, host: str, port: int, key: paramiko.PKey, known_hosts: Path
) -> None:
    """Raise HostKeyError when ``key`` is not the one recorded for the address."""
    recorded = known_key(known_hosts, host, port, key.get_name())
    if recorded is None:
        raise HostKeyError(
            node,
            f"unknown host key {fingerprint(key)} for {host_key_name(host, port)} "
            f"(not in {known_hosts}); check it and run `cctview-fleet trust {node}`",
        )
    if recorded.asbytes() != key.asbytes():
        raise HostKeyError(
            node,
            f"HOST KEY CHANGED for {host_key_name(host, port)}: it presents {fingerprint(key)}, "
            f"{known_hosts} has {fingerprint(recorded)}; if the node was replaced, run "
            f"`cctview-fleet trust {node}`, otherwise do not connect",
        )
