"""Errors of the local fleet (``cctview-fleet dev``). Each says what failed and what to do.

FleetError                     (cctview_fleet.errors)
└── DevFleetError              the local fleet could not be started, inspected or stopped
    ├── SshdMissingError       OpenSSH's sshd (or ssh-keygen) is not installed
    ├── FleetAlreadyUpError    a local fleet is already running under this home
    ├── PortError              no free loopback port, or a server could not bind its port
    └── ProcessStartError      a process (moto, simulator, sshd, agent) died or never got ready
"""

from __future__ import annotations

from cctview_fleet.errors import FleetError


class DevFleetError(FleetError):
    """Raised when the local fleet cannot be started, inspected or stopped."""


class SshdMissingError(DevFleetError):
    """Raised when ``sshd`` or ``ssh-keygen`` is missing; the message says which package to get."""

    exit_code = 3


class FleetAlreadyUpError(DevFleetError):
    """Raised by ``dev up`` when a local fleet is already running; ``dev down`` comes first."""


class PortError(DevFleetError):
    """Raised when no free loopback port can be had, or a server keeps failing to bind one."""


class ProcessStartError(DevFleetError):
    """Raised when a started process exits early or never becomes ready; names its log file."""
