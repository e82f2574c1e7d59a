"""Local node folders and their agents.

A local node's folder mirrors an EC2 node's file system, rooted in one folder::

    nodes/node-01/etc/agent.toml          the agent's settings (written by AgentConfig.to_toml)
    nodes/node-01/etc/assignment.json     the cameras the node polls; ``[]`` until `assign`
    nodes/node-01/volumes/<vol-id>/       the "mount point" of the node's EBS data volume
    nodes/node-01/data -> volumes/<vol-id>
    nodes/node-01/var/agent.log           the agent's JSON-lines log; status.json beside it

The agent is the real ``cctview-agent run``, one process per node, idle until it is assigned
cameras, exactly as on a fresh EC2 node, and restarted after an exit as its systemd unit says, by
:mod:`cctview_fleet.devfleet.supervisor`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cctview_agent import awscalls
from cctview_agent.config import AgentConfig
from cctview_fleet.devfleet.errors import ProcessStartError
from cctview_fleet.devfleet.processes import (
    MARK_ENV,
    ProcessRecord,
    is_alive,
    log_tail,
    spawn,
    stop,
)

GRACE_SECONDS = 5.0
RESERVE_BYTES = 16 * 1024 * 1024
# The local fleet polls only its own simulator; its agents still name a contact, as real ones must.
LOCAL_CONTACT = "local-fleet@localhost"


def node_names(count: int) -> list[str]:
    """``node-01`` .. ``node-NN``: the names Pulumi gives real nodes too."""
    return [f"node-{index:02d}" for index in range(1, count + 1)]


@dataclass(frozen=True, slots=True)
class NodePaths:
    """Where one local node keeps each of its files."""

    folder: Path

    @property
    def etc(self) -> Path:
        return self.folder / "etc"

    @property
    def var(self) -> Path:
        return self.folder / "var"

    @property
    def volumes(self) -> Path:
        return self.folder / "volumes"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def config(self) -> Path:
        return self.etc / "agent.toml"

    @property
    def assignment(self) -> Path:
        return self.etc / "assignment.json"

    @property
    def host_key(self) -> Path:
        return self.etc / "ssh_host_ed25519_key"

    @property
    def agent_log(self) -> Path:
        return self.var / "agent.log"

    @property
    def agent_output(self) -> Path:
        """stdout and stderr of the agent process (its own log is ``agent_log``)."""
        return self.var / "agent.out"

    @property
    def status(self) -> Path:
        return self.var / "status.json"

    @property
    def home(self) -> Path:
        """The SSH user's home on this node: a node is its own machine, and the operator's
        shell start-up files (a pyenv init in ~/.bashrc costs 0.14 s) have no business there."""
        return self.folder / "home"


@dataclass(frozen=True, slots=True)
class DebianNodePaths(NodePaths):
    """A first-booted Debian node's files, where its user data put them in its root (as on
    EC2: infra/cctview_infra/userdata.py); ``folder`` keeps what the host side writes (logs)."""

    root: Path = Path("/nonexistent")

    @property
    def etc(self) -> Path:
        return self.root / "etc" / "cctview"

    @property
    def var(self) -> Path:
        return self.root / "var" / "lib" / "cctview"

    @property
    def volumes(self) -> Path:
        return self.root / "mnt" / "cctview"

    @property
    def data(self) -> Path:
        """The data folder as the host reaches it: ``volume switch`` links it to the volume's
        mount point with an absolute path, which means the node's ``/``, not the host's."""
        link = self.var / "data"
        try:
            target = os.readlink(link)
        except OSError:
            return link
        return self.root / target.lstrip("/") if target.startswith("/") else link

    @property
    def host_key(self) -> Path:
        return self.root / "etc" / "ssh" / "ssh_host_ed25519_key"

    @property
    def agent_output(self) -> Path:
        return self.folder / "agent.out"

    @property
    def home(self) -> Path:
        return self.root / "home" / "admin"


def node_paths(folder: str | Path, root: str | Path = "") -> NodePaths:
    """The paths of a recorded node: a Debian node's if it has a root, else a single-user's."""
    if root:
        return DebianNodePaths(Path(folder), Path(root))
    return NodePaths(Path(folder))


def make_node_folder(folder: Path) -> NodePaths:
    paths = NodePaths(folder)
    for sub in (paths.etc, paths.var, paths.volumes, paths.home):
        sub.mkdir(parents=True, exist_ok=True)
    return paths


def mount_volume(paths: NodePaths, volume_id: str) -> Path:
    """Make the volume's folder and point ``data`` at it, as a node's first boot does."""
    mount = paths.volumes / volume_id
    mount.mkdir(parents=True, exist_ok=True)
    link = paths.data
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(Path("volumes") / volume_id)  # relative: the folder can move
    return mount


# Variables of the operator's environment that `dev up` hands to every node's agent (the
# daemon and the commands run over SSH): switches for tests and diagnosis, such as a recorder of
# the AWS calls an agent makes. Nothing else of the operator's environment reaches a node.
PASSTHROUGH_PREFIX = "CCTVIEW_AGENT_"
NOT_PASSED = frozenset({"CCTVIEW_AGENT_CONFIG"})  # each node has its own


def passthrough_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``CCTVIEW_AGENT_*`` variables (but the config path) to hand to the nodes' agents."""
    source = os.environ if environ is None else environ
    return {
        key: value
        for key, value in source.items()
        if key.startswith(PASSTHROUGH_PREFIX) and key not in NOT_PASSED
    }


def node_environment(paths: NodePaths, endpoint_url: str, mark: str) -> dict[str, str]:
    """What a session on the node sees: the venv's commands, the node's config, the emulator,
    and the operator's ``CCTVIEW_AGENT_*`` switches (:func:`passthrough_environment`).

    It carries the fleet's mark too, so ``dev down`` also finds what a session left running.
    """
    bin_dir = Path(sys.executable).parent  # the venv's bin, not resolved through its symlink
    return {
        **passthrough_environment(),
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(paths.home),
        "CCTVIEW_AGENT_CONFIG": str(paths.config),
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        MARK_ENV: mark,
        # the test suite's AWS call recorder (cctview_agent.awscalls), when it is on
        **{k: v for k, v in os.environ.items() if k == awscalls.RECORD_ENV},
    }


def write_agent_files(
    paths: NodePaths,
    node: str,
    *,
    period: int,
    ca_file: str = "",
    poll_interval: float = 1.0,
    bucket: str = "",
) -> AgentConfig:
    """The node's agent.toml and an empty assignment (the node idles until `assign`)."""
    config = AgentConfig(
        data_dir=paths.data,
        assignment=paths.assignment,
        poll_interval=poll_interval,
        period=period,
        grace=min(GRACE_SECONDS, period / 4),
        reserve_bytes=RESERVE_BYTES,
        log_file=paths.agent_log,
        status_file=paths.status,
        node=node,
        ca_file=Path(ca_file) if ca_file else None,
        volumes_dir=paths.volumes,
        volume_mode="folder",
        bucket=bucket,  # the fleet's: only its receipts let frames go or a volume retire
        contact=LOCAL_CONTACT,
    )
    paths.config.write_text(config.to_toml())
    if not paths.assignment.exists():
        paths.assignment.write_text("[]\n")
    return config


def agent_command(config: Path) -> list[str]:
    beside = Path(sys.executable).parent / "cctview-agent"
    if beside.exists():
        return [str(beside), "--config", str(config), "run"]
    return [sys.executable, "-m", "cctview_agent.main", "--config", str(config), "run"]


def agent_unit() -> Path:
    """The agent's systemd unit as the wheel ships it: the supervisor honours its restart policy."""
    import cctview_agent

    return Path(cctview_agent.__file__).parent / "systemd" / "cctview-agent.service"


def supervisor_command(unit: Path, service: list[str], root: Path | None = None) -> list[str]:
    """``python -m cctview_fleet.devfleet.supervisor`` for ``unit``; ``service`` replaces its
    ExecStart (empty: the unit's own, inside ``root``)."""
    argv = [sys.executable, "-m", "cctview_fleet.devfleet.supervisor", "--unit", str(unit)]
    if root is not None:
        argv += ["--root", str(root)]
    return [*argv, "--", *service] if service else argv


def start_agent(node: str, paths: NodePaths, env: Mapping[str, str], *, mark: str) -> ProcessRecord:
    """Start the node's agent under the supervisor (systemd's stand-in), with the node's
    environment; the record is the supervisor's, whose process group holds the agent."""
    environment = {**os.environ, **env}
    return spawn(
        f"agent {node}",
        "agent",
        supervisor_command(agent_unit(), agent_command(paths.config)),
        paths.agent_output,
        mark=mark,
        env=environment,
        node=node,
    )


def wait_for_agent(record: ProcessRecord, paths: NodePaths, *, timeout: float) -> None:
    """Ready once the agent has written its status file; fail early if it exits."""
    deadline = time.monotonic() + timeout
    while not paths.status.exists():
        if not is_alive(record):
            tail = log_tail(record)
            raise ProcessStartError(
                f"{record.name} exited at start (log {record.log}){': ' + tail if tail else ''}"
            )
        if time.monotonic() > deadline:
            stop([record])
            raise ProcessStartError(
                f"{record.name} wrote no status file {paths.status} within {timeout:.0f} s "
                f"(log {record.log})"
            )
        time.sleep(0.05)
