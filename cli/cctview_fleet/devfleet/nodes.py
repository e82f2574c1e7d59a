"""Local node folders and their agents.

A local node's folder mirrors an EC2 node's file system, rooted in one folder::

    nodes/node-01/etc/agent.toml          the agent's settings (written by AgentConfig.to_toml)
    nodes/node-01/etc/assignment.json     the cameras the node polls; ``[]`` until `assign`
    nodes/node-01/volumes/<vol-id>/       the "mount point" of the node's EBS data volume
    nodes/node-01/data -> volumes/<vol-id>
    nodes/node-01/var/agent.log           the agent's JSON-lines log; status.json beside it

The agent is the real ``cctview-agent run``, one process per node, idle until it is assigned
cameras, exactly as on a fresh EC2 node.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

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


def node_environment(paths: NodePaths, endpoint_url: str, mark: str) -> dict[str, str]:
    """What a session on the node sees: the venv's commands, the node's config, the emulator.

    It carries the fleet's mark too, so ``dev down`` also finds what a session left running.
    """
    bin_dir = Path(sys.executable).parent  # the venv's bin, not resolved through its symlink
    return {
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(paths.home),
        "CCTVIEW_AGENT_CONFIG": str(paths.config),
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        MARK_ENV: mark,
    }


def write_agent_files(
    paths: NodePaths, node: str, *, period: int, ca_file: str = "", poll_interval: float = 1.0
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


def start_agent(node: str, paths: NodePaths, env: Mapping[str, str], *, mark: str) -> ProcessRecord:
    """Start the node's agent in the background with the node's environment."""
    environment = {**os.environ, **env}
    return spawn(
        f"agent {node}",
        "agent",
        agent_command(paths.config),
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
