"""The local fleet's state file, ``<home>/local/state.json``: every pid, port and path it made.

``dev up`` rewrites the file after each process it starts, so that ``dev down`` can stop all of
them even when ``dev up`` itself was interrupted half-way or killed. The file is the only record
of the fleet's processes: nothing is ever found by name.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from cctview_agent.atomicfile import write_atomic
from cctview_fleet.cloud.stacks import LOCAL_STACK, cctview_home
from cctview_fleet.devfleet.errors import DevFleetError
from cctview_fleet.devfleet.processes import ProcessRecord

FLEET_NAME = LOCAL_STACK
FleetMode = Literal["debian", "single-user"]
STATE_FILE = "state.json"


def state_dir() -> Path:
    """Where the local fleet keeps everything: keys, node folders, logs, the state file."""
    return cctview_home() / "local"


def state_path() -> Path:
    return state_dir() / STATE_FILE


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """One local node: its folder, SSH port and host key, and its emulated instance and volume."""

    name: str
    folder: str
    ssh_port: int
    host_key: str = ""  # public host key line, "ssh-ed25519 AAAA..."
    instance_id: str = ""
    volume_id: str = ""
    root: str = ""  # a first-booted Debian node's ``/`` (its overlay); empty: single-user node

    @property
    def config(self) -> Path:
        if self.root:
            return Path(self.root) / "etc" / "cctview" / "agent.toml"
        return Path(self.folder) / "etc" / "agent.toml"


@dataclass(frozen=True, slots=True)
class FleetState:
    """What ``dev up`` started. ``complete`` is set only once every step succeeded."""

    folder: str
    created: str
    period: int
    https: bool
    bucket: str = ""
    moto_url: str = ""
    camsim_url: str = ""
    ca_file: str = ""
    ssh_key: str = ""
    known_hosts: str = ""
    stack_file: str = ""
    complete: bool = False
    mode: FleetMode = "single-user"  # or "debian": first-booted Debian roots (`dev up` as root)
    roots: str = ""  # where the Debian nodes' overlays are mounted (mode "debian")
    nodes: tuple[NodeRecord, ...] = ()
    processes: tuple[ProcessRecord, ...] = field(default_factory=tuple)

    @property
    def catalog_url(self) -> str:
        return f"{self.camsim_url}/api/cameras" if self.camsim_url else ""

    def with_process(self, record: ProcessRecord) -> FleetState:
        return replace(self, processes=(*self.processes, record))

    def with_node(self, node: NodeRecord) -> FleetState:
        others = tuple(n for n in self.nodes if n.name != node.name)
        return replace(self, nodes=tuple(sorted((*others, node), key=lambda n: n.name)))

    def node(self, name: str) -> NodeRecord:
        for node in self.nodes:
            if node.name == name:
                return node
        raise DevFleetError(f"the local fleet has no node {name!r}; it has {self.node_names}")

    @property
    def node_names(self) -> list[str]:
        return [node.name for node in self.nodes]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def save_state(state: FleetState) -> Path:
    path = Path(state.folder) / STATE_FILE
    write_atomic(path, (json.dumps(state.to_dict(), indent=1) + "\n").encode(), fsync=True)
    return path


def load_state() -> FleetState | None:
    """The recorded fleet, or None when no local fleet was started under this home."""
    return load_state_file(state_path())


def load_state_file(path: Path) -> FleetState | None:
    """The fleet recorded in ``path`` (the fleet's own helpers know it by path, not by home)."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise DevFleetError(
            f"local fleet state {path} is unreadable ({exc}); stop its processes by hand "
            f"and delete {path.parent}"
        ) from exc
    try:
        nodes = tuple(NodeRecord(**n) for n in raw.pop("nodes", []))
        processes = tuple(ProcessRecord(**p) for p in raw.pop("processes", []))
        return FleetState(**raw, nodes=nodes, processes=processes)
    except TypeError as exc:
        raise DevFleetError(
            f"local fleet state {path} was written by another version ({exc}); stop its "
            f"processes by hand and delete {path.parent}"
        ) from exc


def remove_state() -> None:
    state_path().unlink(missing_ok=True)
