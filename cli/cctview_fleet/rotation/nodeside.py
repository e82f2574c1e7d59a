"""The node's half of a volume rotation: ``cctview-agent volume ...`` and ``sync`` over SSH.

Each call runs one idempotent agent step and parses the one JSON object it prints. The rotation
state machine (:mod:`cctview_fleet.rotation.states`) talks to a node only through
:class:`NodeVolumes`, so its tests can drive a node's real agent code without SSH, and the fleet
runs it over SSH.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from cctview_fleet.cloud.stacks import Stack
from cctview_fleet.errors import NodeError, RemoteCommandError
from cctview_fleet.remote.ssh import NodeConnection

SYNC_TIMEOUT_S = 4 * 3600.0  # a first sync of a full volume may take a while


class NodeVolumes(Protocol):
    """What the rotation asks of a node."""

    node: str

    def disk_used_percent(self) -> float | None: ...
    def active_volume(self) -> str | None: ...
    def prepare(self, volume_id: str, *, attachment_device: str | None, size_gib: int) -> Any: ...
    def switch(self, volume_id: str) -> Any: ...
    def drain_status(self, volume_id: str) -> dict[str, Any]: ...
    def sync(self) -> None: ...
    def retire(self, volume_id: str) -> Any: ...


class SshNodeVolumes:
    """:class:`NodeVolumes` over one reused SSH connection."""

    def __init__(self, conn: NodeConnection, stack: Stack) -> None:
        self.conn = conn
        self.stack = stack
        self.node = conn.node.name

    def _json(self, *words: str, timeout: float = 120.0, root: bool = False) -> Any:
        command = self.conn.agent_command(*words, root=root)
        result = self.conn.run(command, timeout=timeout)
        if result.exit_status != 0:
            raise RemoteCommandError(
                self.node, command, result.exit_status, result.stderr or result.stdout
            )
        try:
            return json.loads(result.stdout)
        except json.JSONDecodeError as exc:
            raise NodeError(
                self.node,
                f"`{command}` printed no JSON ({result.stdout.strip()[:80]!r}); "
                "is the node's cctview-agent as new as this cctview-fleet?",
            ) from exc

    def disk_used_percent(self) -> float | None:
        status = self._json("status", "--json")
        used = (status.get("disk") or {}).get("used_percent")
        return float(used) if isinstance(used, int | float) else None

    def active_volume(self) -> str | None:
        rows = self._json("volume", "list", "--json")
        active = [row["volume_id"] for row in rows if row.get("active")]
        return active[0] if active else None

    def prepare(self, volume_id: str, *, attachment_device: str | None, size_gib: int) -> Any:
        words = ["volume", "prepare", "--volume-id", volume_id, "--size-gib", str(size_gib)]
        if attachment_device:
            words += ["--attachment-device", attachment_device]
        # mkfs of a large volume takes a while; formatting and mounting need root
        return self._json(*words, timeout=600.0, root=True)

    def switch(self, volume_id: str) -> Any:
        return self._json("volume", "switch", "--volume-id", volume_id, root=True)

    def drain_status(self, volume_id: str) -> dict[str, Any]:
        status: dict[str, Any] = self._json(
            "volume", "drain-status", "--volume-id", volume_id, "--json"
        )
        return status

    def sync(self) -> None:
        if not self.stack.bucket:
            raise NodeError(
                self.node,
                f"stack {self.stack.name!r} has no bucket, so the old volume cannot be synced; "
                "run `cctview-fleet stack import` again",
            )
        command = self.conn.agent_command(
            "sync", "--bucket", self.stack.bucket, "--prefix", self.stack.prefix
        )
        result = self.conn.run(command, timeout=SYNC_TIMEOUT_S)
        if result.exit_status != 0:
            raise RemoteCommandError(
                self.node, command, result.exit_status, result.stderr or result.stdout
            )

    def retire(self, volume_id: str) -> Any:
        return self._json("volume", "retire", "--volume-id", volume_id, root=True)
