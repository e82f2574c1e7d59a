"""Errors of cctview-fleet, shared by the agent and the operator CLI.

Every error the user can cause or meet derives from :class:`CctviewError`; its message says what
went wrong, where, and what to do. The CLI prints ``str(error)`` and exits non-zero, with a
traceback only under ``--verbose``. Third-party errors (aiohttp, boto3, paramiko) are translated at
the boundary with ``raise ... from exc``.

    CctviewError
    ├── CatalogError          the camera list cannot be read, fetched or parsed
    │   └── CameraIdError     a camera id holds characters outside the safe set
    ├── SelectionError        a camera selection (preset, bbox, GeoJSON, id file) is invalid
    ├── ConfigError           a setting (agent TOML, Pulumi config, CLI flag) is missing or invalid
    ├── StorageError          the data folder or the assignment cannot be written or read
    ├── ManifestError         a manifest is missing, unreadable or inconsistent with its frames
    ├── SyncError             S3 refused or failed during a node's sync (bucket, credentials, link)
    │   └── VerificationError an uploaded object is not what was sent, or another copy holds its key
    ├── DataVolumeError       a data volume cannot be prepared, switched or retired on a node
    └── (operator errors live in cctview_fleet.errors and derive from CctviewError too)
"""

from __future__ import annotations

from pathlib import Path


class CctviewError(Exception):
    """Root of all cctview-fleet errors; ``str()`` is the one-line message for the user."""

    exit_code: int = 1


class CatalogError(CctviewError):
    """Raised when the camera catalog cannot be read, fetched or parsed."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(message)
        self.source = source


class CameraIdError(CatalogError):
    """Raised when a camera id is not one path-safe name (letters, digits, ``.``, ``_``, ``-``):
    ids become folder names on a node, so ``../x``, ``/abs`` or ``a/b`` must never get that far."""

    def __init__(self, message: str, *, camera_id: str, source: str | None = None) -> None:
        super().__init__(message, source=source)
        self.camera_id = camera_id


class SelectionError(CctviewError):
    """Raised when a camera selection is invalid: unknown preset, bad bbox, malformed GeoJSON."""

    exit_code = 2


class ConfigError(CctviewError):
    """Raised when a setting is missing or invalid; the message names the key and an example."""

    exit_code = 2

    def __init__(self, message: str, *, key: str | None = None, path: Path | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.path = path


class StorageError(CctviewError):
    """Raised when the data folder cannot be written or read as the storage layout expects."""

    def __init__(self, message: str, *, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


class ManifestError(CctviewError):
    """Raised when a manifest is missing, unreadable, or does not match the frames it lists."""

    def __init__(self, message: str, *, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


class DataVolumeError(CctviewError):
    """Raised when a data volume cannot be prepared, switched or retired on a node; the message
    says why (not drained, not mounted, a foreign file system) and what to do."""

    def __init__(self, message: str, *, volume_id: str | None = None) -> None:
        super().__init__(message)
        self.volume_id = volume_id


class SyncError(CctviewError):
    """Raised when a sync to S3 cannot go on: unknown bucket, no credentials, endpoint unreachable,
    a connection dropped mid-upload, an object that fails verification, or another sync running.
    Nothing local is deleted when it is raised; rerunning the sync finishes the work."""


class VerificationError(SyncError):
    """Raised when an object in S3 does not match the period it should hold (size, ETag or
    checksum differ), or its key already holds different bytes; the local period is kept."""

    def __init__(self, message: str, *, key: str = "") -> None:
        super().__init__(message)
        self.key = key
