"""Operator-side errors. The root, :class:`CctviewError`, and the model's errors live in
:mod:`cctview_agent.errors` so agent and CLI share one tree; this module adds the branches that
only the operator meets and re-exports the rest, so CLI code imports errors from one place.

    CctviewError                      (cctview_agent.errors)
    ├── CatalogError, SelectionError, ConfigError, StorageError, ManifestError
    └── FleetError                    something about the fleet or its cloud went wrong
        ├── CredentialsError          no AWS credentials or region; says how to configure them
        ├── InventoryError            the EC2 API cannot be asked, or no node carries the fleet tags
        ├── NodeError                 one node failed; carries ``.node``
        │   ├── UnreachableError      connect timeout, refused, or dropped connection
        │   ├── HostKeyError          the node's host key is unknown or does not match
        │   └── RemoteCommandError    a command on the node exited non-zero; carries output
        ├── AssignmentError           the fleet cannot take the selection (too few nodes, ...)
        ├── StorageServiceError       S3: unknown bucket, denied, verification failed
        ├── VolumeError               a volume rotation step failed; says how to resume
        ├── PulumiError               the Pulumi CLI is missing or one of its commands failed
        └── RolloutError              a node stayed unhealthy in roll/upgrade; says how to resume
"""

from __future__ import annotations

from cctview_agent.errors import (
    CatalogError,
    CctviewError,
    ConfigError,
    ManifestError,
    SelectionError,
    StorageError,
)

__all__ = [
    "AssignmentError",
    "CatalogError",
    "CctviewError",
    "ConfigError",
    "CredentialsError",
    "FleetError",
    "HostKeyError",
    "InventoryError",
    "ManifestError",
    "NodeError",
    "PulumiError",
    "RemoteCommandError",
    "RolloutError",
    "SelectionError",
    "StorageError",
    "StorageServiceError",
    "UnreachableError",
    "VolumeError",
]


class FleetError(CctviewError):
    """Raised when something about the fleet or its cloud goes wrong."""


class CredentialsError(FleetError):
    """Raised when AWS credentials or the region are missing; the message says how to set them."""


class InventoryError(FleetError):
    """Raised when the EC2 API cannot be asked, or no instance carries the fleet's tags."""


class NodeError(FleetError):
    """Raised when an operation on one node fails; ``node`` names it."""

    def __init__(self, node: str, message: str) -> None:
        super().__init__(f"{node}: {message}")
        self.node = node


class UnreachableError(NodeError):
    """Raised when a node cannot be reached over SSH: timeout, refusal, or a dropped link."""


class HostKeyError(NodeError):
    """Raised when a node's host key is unknown or differs from the fleet's known_hosts."""


class RemoteCommandError(NodeError):
    """Raised when a command on a node exits non-zero; carries the command, code and output."""

    def __init__(self, node: str, command: str, exit_status: int, output: str = "") -> None:
        tail = " | ".join(line for line in output.strip().splitlines()[-3:] if line)
        detail = f": {tail}" if tail else ""
        super().__init__(node, f"`{command}` exited with {exit_status}{detail}")
        self.command = command
        self.exit_status = exit_status
        self.output = output


class AssignmentError(FleetError):
    """Raised when the fleet cannot take a selection; says the numbers and what to change."""


class StorageServiceError(FleetError):
    """Raised when S3 refuses or fails: unknown bucket, access denied, a digest mismatch."""


class VolumeError(FleetError):
    """Raised when a step of a volume rotation fails; the message says how to resume it."""


class PulumiError(FleetError):
    """Raised when the Pulumi CLI is missing or a command of it fails; carries the command."""

    def __init__(self, command: str, message: str) -> None:
        super().__init__(f"`{command}` {message}")
        self.command = command


class RolloutError(FleetError):
    """Raised when a node is unhealthy after its step of ``roll`` or ``upgrade``; the rollout
    stopped there, and the message says what was done and how to resume."""
