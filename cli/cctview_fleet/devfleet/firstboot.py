"""First boot of a local Debian node: what cloud-init does on EC2, then the program's user data.

On EC2, before the user data runs, cloud-init on Debian's AMI makes the SSH host keys, creates
the login user ``admin`` with the key pair's public key and the sudo rule
``admin ALL=(ALL) NOPASSWD:ALL`` (``/etc/sudoers.d/90-cloud-init-users``), and the instance
reaches its metadata service (role credentials, region) and S3 over the network.
:func:`prepare` does the same in a node's root, with the emulator standing in for both: each
user's ``~/.aws/config`` names it as the S3 endpoint, and the node's own port of
:mod:`.metadataservice` (the instance's tags; the role credentials from the emulator) as the
metadata service (the per-user file is the local stand-in for EC2's link-local route; nothing
else differs, and ``sudo`` keeps its default ``env_reset``). Then :func:`run_user_data` runs
the script that :func:`cctview_infra.userdata.render_user_data` renders for EC2, unchanged, in a
chroot.

A node has no systemd: a ``systemctl`` in /usr/local/sbin records what the script enables, and
the fleet then starts each enabled service's unit under its supervisor. Timers are not run (the
hourly sync); docs/local-fleet.md lists what local nodes do not reproduce.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cctview_fleet.devfleet.errors import ProcessStartError
from cctview_fleet.devfleet.noderoots import NodeRoot, run_tool
from cctview_fleet.devfleet.supervisor import RUN_DIR

LOGIN_USER = "admin"  # the login of Debian's AMIs
LOGIN_GROUPS = "adm,audio,cdrom,dialout,dip,floppy,plugdev,sudo,video"  # cloud-init's, Debian
SUDOERS = Path("/etc/sudoers.d/90-cloud-init-users")
ENABLED_UNITS = Path("/var/lib/cctview-fleet/enabled-units")
USER_DATA = Path("/var/lib/cloud/instance/user-data.txt")
BOOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
FIRST_BOOT_TIMEOUT_S = 900
SYSTEMCTL = f"""#!/bin/sh
# cctview-fleet local node: no systemd here. Records what first boot enables; `dev up` starts
# each enabled service under its supervisor (cctview_fleet.devfleet.supervisor).
case "$1" in
  daemon-reload) exit 0 ;;
  enable)
    shift
    mkdir -p {ENABLED_UNITS.parent}
    for unit in "$@"; do
      case "$unit" in --now) ;; *) echo "$unit" >> {ENABLED_UNITS} ;; esac
    done ;;
  restart)
    # the fleet's supervisor of the unit restarts it at once on SIGUSR1 (devfleet/supervisor.py);
    # like systemd's, this returns once the service runs again
    unit="$2"; case "$unit" in *.*) ;; *) unit="$unit.service" ;; esac
    run={RUN_DIR}
    [ -s "$run/$unit.pid" ] || {{ echo "systemctl restart $unit: not running" >&2; exit 5; }}
    before=$(cat "$run/$unit.starts" 2>/dev/null || echo 0)
    kill -USR1 "$(cat "$run/$unit.pid")" || exit 1
    for _ in $(seq 1 600); do
      [ "$(cat "$run/$unit.starts" 2>/dev/null || echo 0)" -gt "$before" ] && exit 0
      sleep 0.1
    done
    echo "systemctl restart $unit: not running again after 60 s" >&2; exit 1 ;;
  *) echo "systemctl $*: no systemd on a local node (see docs/local-fleet.md)" >&2; exit 1 ;;
esac
"""


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    """What cloud-init gives a node before its user data runs."""

    name: str
    authorized_key: str  # the operator's public key line
    endpoint_url: str  # the emulator: S3 (and the rest of AWS)
    metadata_url: str  # the node's instance metadata service (.metadataservice)
    extra_ca: Path | None = None  # the camera simulator's certificate, trusted node-wide
    agent_env: tuple[tuple[str, str], ...] = ()  # the operator's CCTVIEW_AGENT_* switches


def chroot(root: NodeRoot, *argv: str, what: str) -> None:
    """Run a command inside the node as root."""
    run_tool(["chroot", str(root.merged), *argv], f"{what} in {root.folder.name}")


def _aws_config(endpoint_url: str, metadata_url: str) -> str:
    return (
        "[default]\n"
        f"endpoint_url = {endpoint_url}\n"
        f"ec2_metadata_service_endpoint = {metadata_url}\n"
    )


def _write(root: NodeRoot, absolute: str, text: str, mode: int) -> Path:
    path = root.path(absolute)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def prepare(root: NodeRoot, identity: NodeIdentity) -> None:
    """cloud-init's part: host keys, the login user and its sudo rule, the network's view."""
    _write(root, "/etc/hostname", identity.name + "\n", 0o644)
    # The node shares the host's kernel hostname (no UTS namespace): sudo must resolve it.
    hosts = root.path("/etc/hosts").read_text() if root.path("/etc/hosts").exists() else ""
    hosts += f"127.0.1.1 {socket.gethostname()} {identity.name}\n"
    _write(root, "/etc/hosts", hosts, 0o644)
    shutil.copy2("/etc/resolv.conf", root.path("/etc/resolv.conf"))  # apt and pip need names
    root.path("/run/sshd").mkdir(parents=True, exist_ok=True)
    chroot(root, "ssh-keygen", "-A", what="making SSH host keys")
    chroot(
        root, "useradd", "--create-home", "--shell", "/bin/bash", "--groups", LOGIN_GROUPS,
        LOGIN_USER, what=f"creating the login user {LOGIN_USER}",
    )  # fmt: skip
    _write(root, str(SUDOERS), f"{LOGIN_USER} ALL=(ALL) NOPASSWD:ALL\n", 0o440)
    home = f"/home/{LOGIN_USER}"
    _write(root, f"{home}/.ssh/authorized_keys", identity.authorized_key + "\n", 0o600)
    config = _aws_config(identity.endpoint_url, identity.metadata_url)
    for folder in ("/root", home, "/var/lib/cctview"):  # /var/lib/cctview: the agent's home
        _write(root, f"{folder}/.aws/config", config, 0o644)
    chroot(root, "chown", "-R", f"{LOGIN_USER}:{LOGIN_USER}", home, what="owning the login home")
    root.path(f"{home}/.ssh").chmod(0o700)
    if identity.extra_ca is not None:
        shutil.copy2(identity.extra_ca, root.path("/usr/local/share/ca-certificates/camsim.crt"))
        chroot(root, "update-ca-certificates", what="trusting the camera simulator")
    _write(root, "/usr/local/sbin/systemctl", SYSTEMCTL, 0o755)
    if identity.agent_env:
        pass_switches(root, identity.agent_env)


def pass_switches(root: NodeRoot, env: tuple[tuple[str, str], ...]) -> None:
    """Hand the operator's ``CCTVIEW_AGENT_*`` switches to the agent run over SSH: login
    sessions read /etc/environment (pam_env), and sudo keeps exactly these names. Written only
    when such a switch is set, so a node without one has EC2's sudo rules to the letter."""
    lines = "".join(f'{key}="{value}"\n' for key, value in env)
    _write(root, "/etc/environment", lines, 0o644)
    names = " ".join(key for key, _ in env)
    keep = f'Defaults env_keep += "{names}"\n'
    _write(root, "/etc/sudoers.d/95-cctview-local-switches", keep, 0o440)


def run_user_data(root: NodeRoot, script: str, log: Path, pip_cache: Path) -> None:
    """Run the rendered user data as cloud-init would: as root, from a clean environment.

    The nodes share one pip cache (bound at root's ``~/.cache/pip`` for the run only), so the
    second node's ``pip install`` finds the wheels the first one fetched; the steps still run.
    """
    path = _write(root, str(USER_DATA), script, 0o700)
    cache = root.path("/root/.cache/pip")
    cache.mkdir(parents=True, exist_ok=True)
    pip_cache.mkdir(parents=True, exist_ok=True)
    run_tool(["mount", "--bind", str(pip_cache), str(cache)], "mounting the pip cache")
    env = {"PATH": BOOT_PATH, "HOME": "/root", "LANG": "C.UTF-8", "TERM": "dumb"}
    try:
        with open(log, "ab") as out:
            result = subprocess.run(
                ["chroot", str(root.merged), "/bin/bash", f"/{path.relative_to(root.merged)}"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                timeout=FIRST_BOOT_TIMEOUT_S,
                check=False,
            )
    except subprocess.TimeoutExpired as exc:
        raise ProcessStartError(
            f"first boot of {root.folder.name} did not finish in {FIRST_BOOT_TIMEOUT_S} s "
            f"(log {log})"
        ) from exc
    finally:
        run_tool(["umount", str(cache)], "unmounting the pip cache")
    if result.returncode != 0:
        lines = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise ProcessStartError(
            f"first boot of {root.folder.name} failed with exit status {result.returncode} "
            f"(log {log}): {' | '.join(lines)}"
        )


def enabled_services(root: NodeRoot) -> list[str]:
    """The services first boot enabled (``systemctl enable --now``), in order; no timers."""
    try:
        names = root.path(str(ENABLED_UNITS)).read_text().split()
    except OSError:
        return []
    return [name for name in dict.fromkeys(names) if name.endswith(".service")]


def host_key(root: NodeRoot) -> str:
    """The node's ed25519 host key line, for the fleet's known_hosts."""
    words = root.path("/etc/ssh/ssh_host_ed25519_key.pub").read_text().split()
    return f"{words[0]} {words[1]}"


def passwd_entry(root: NodeRoot, user: str) -> tuple[int, int, str]:
    """uid, gid and home of ``user`` inside the node (not the host's /etc/passwd)."""
    for line in root.path("/etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2]), int(fields[3]), fields[5]
    raise ProcessStartError(f"{root.folder.name} has no user {user} after first boot")
