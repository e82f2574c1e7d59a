"""One real OpenSSH ``sshd`` per local node, on its own loopback port, with its own host key.

The node's sshd is what an EC2 node's sshd is to the CLI: key login only, host key checked
against the fleet's known_hosts, SFTP available. ``SetEnv`` hands every SSH session the node's
agent config and the emulator's endpoint, so ``cctview-agent status --json`` run over SSH finds
the right node exactly as it does on a real machine with its ``/etc/cctview/agent.toml``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import paramiko

from cctview_fleet.devfleet.errors import (
    DevFleetError,
    PortError,
    ProcessStartError,
    SshdMissingError,
)
from cctview_fleet.devfleet.processes import (
    ProcessRecord,
    free_port,
    log_tail,
    spawn,
    stop,
    wait_for_log_line,
)
from cctview_fleet.devfleet.state import NodeRecord

SSHD_ENV = "CCTVIEW_SSHD"  # path of sshd; tests point it at a missing file
DEFAULT_SSHD = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")  # compiled into Debian's sshd; it refuses to start as root without
HOST = "127.0.0.1"
_ATTEMPTS = 3


def sshd_path() -> Path:
    """The sshd binary, or one line saying which package provides it."""
    path = Path(os.environ.get(SSHD_ENV) or DEFAULT_SSHD)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise SshdMissingError(
            f"OpenSSH's sshd is not installed ({path} not found); the local fleet runs one per "
            "node: install it with `apt-get install openssh-server`"
        )
    return path


def ssh_keygen_path() -> Path:
    found = shutil.which("ssh-keygen")
    if not found:
        raise SshdMissingError(
            "ssh-keygen is not installed; install it with `apt-get install openssh-client`"
        )
    return Path(found)


def current_user() -> str:
    """The login the operator key is authorized for: whoever runs ``dev up`` (root in CI)."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        raise DevFleetError(
            f"user id {os.getuid()} has no entry in /etc/passwd, so sshd cannot log it in; "
            "run `dev up` as a user with an account (e.g. add one with useradd)"
        ) from None


def keygen(path: Path, comment: str) -> str:
    """A fresh ed25519 key pair at ``path`` (and ``.pub``); returns the public key line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in (path, path.with_name(path.name + ".pub")):
        old.unlink(missing_ok=True)
    argv = [str(ssh_keygen_path()), "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ProcessStartError(
            f"ssh-keygen failed for {path}: {result.stderr.strip() or result.returncode}"
        )
    public = path.with_name(path.name + ".pub").read_text().split()
    return f"{public[0]} {public[1]}"


def ensure_privsep_dir() -> None:
    """Root's sshd needs its privilege-separation folder (systemd makes it on a real host)."""
    if os.geteuid() != 0 or PRIVSEP_DIR.is_dir():
        return
    try:
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    except OSError as exc:
        raise ProcessStartError(
            f"sshd needs {PRIVSEP_DIR} and it cannot be created: {exc.strerror or exc}"
        ) from exc


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(
    folder: Path, port: int, host_key: Path, authorized_keys: Path, env: Mapping[str, str]
) -> Path:
    """The node's sshd_config: loopback only, keys only, no PAM, the node's environment."""
    pid_file = folder / "var" / "sshd.pid"
    set_env = " ".join(_quote(f"{key}={value}") for key, value in env.items())
    lines = [
        f"# sshd of local node {folder.name}, written by `cctview-fleet dev up`",
        f"ListenAddress {HOST}",
        f"Port {port}",
        f"HostKey {host_key}",
        f"AuthorizedKeysFile {authorized_keys}",
        f"PidFile {pid_file}",
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "PrintMotd no",
        "UseDNS no",
        "ClientAliveInterval 15",
        "Subsystem sftp internal-sftp",
        f"SetEnv {set_env}",
        "",
    ]
    path = folder / "etc" / "sshd_config"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def start_sshd(
    node: str,
    folder: Path,
    host_key: Path,
    authorized_keys: Path,
    env: Mapping[str, str],
    *,
    mark: str,
    port: int | None = None,
) -> ProcessRecord:
    """Start the single-user node's sshd with its own config on ``port`` or a free port."""
    binary = sshd_path()
    ensure_privsep_dir()

    def argv(chosen: int) -> list[str]:
        config = write_config(folder, chosen, host_key, authorized_keys, env)
        return [str(binary), "-D", "-e", "-f", str(config)]

    return start_listening(node, folder / "var" / "sshd.log", argv, mark=mark, port=port)


def start_listening(
    node: str,
    log: Path,
    argv: Callable[[int], list[str]],
    *,
    mark: str,
    port: int | None = None,
) -> ProcessRecord:
    """Start a node's sshd (``argv(port)``) on ``port``, or on a free loopback port, retried
    when another process takes it first; ``dev restart`` passes the node's port, which EC2's
    tags record. Ready once this run's log says it listens."""
    wanted = port
    for _ in range(1 if wanted else _ATTEMPTS):
        chosen = wanted or free_port(HOST)
        record = spawn(f"sshd {node}", "sshd", argv(chosen), log, mark=mark, port=chosen, node=node)
        try:
            wait_for_log_line(record, rf"Server listening on {HOST} port {chosen}", timeout=10)
        except ProcessStartError:
            stop([record])
            if "Address already in use" in log_tail(record, 5):
                continue
            raise
        return record
    if wanted:
        raise PortError(f"sshd of {node} cannot bind its port {wanted}: another process has it")
    raise PortError(f"sshd of {node} could not bind a free port in {_ATTEMPTS} tries (log {log})")


def write_known_hosts(path: Path, node_records: Sequence[NodeRecord]) -> None:
    """The nodes' host keys, trusted out of band: ``dev up`` made them a moment ago."""
    lines = [f"[{HOST}]:{n.ssh_port} {n.host_key}" for n in node_records]
    path.write_text("\n".join(lines) + "\n")


def verify_login(
    node: str,
    port: int,
    user: str,
    key: Path,
    known_hosts: Path,
    *,
    command: str = "echo ok",
    timeout: float = 10.0,
) -> str:
    """Log in as the operator would (key, host key checked) and run a command; returns output.

    Run against the fleet's own known_hosts with a reject policy, so a node only counts as up when
    both directions of trust work.
    """
    client = paramiko.SSHClient()
    try:
        client.load_host_keys(str(known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(
            HOST,
            port=port,
            username=user,
            key_filename=str(key),
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            look_for_keys=False,
            allow_agent=False,
        )
        _, stdout, stderr = client.exec_command(command, timeout=timeout)
        output: str = stdout.read().decode(errors="replace")
        status = stdout.channel.recv_exit_status()
        if status != 0:
            err = stderr.read().decode(errors="replace").strip()
            raise ProcessStartError(f"{node}: `{command}` over SSH exited with {status}: {err}")
        return output
    except (OSError, paramiko.SSHException) as exc:
        raise ProcessStartError(
            f"sshd of {node} on {HOST}:{port} does not accept the operator key: {exc}"
        ) from exc
    finally:
        client.close()
