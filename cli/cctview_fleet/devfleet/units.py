"""The parts of a systemd service unit that the local fleet's supervisor honours.

EC2 nodes run the agent under systemd with the unit the agent's wheel ships
(``cctview_agent/systemd/cctview-agent.service``). Local nodes have no systemd, so the supervisor
(:mod:`cctview_fleet.devfleet.supervisor`) reads the same file and keeps what decides how the
agent lives: the command, the user, the environment, and the restart policy. Everything else
(``MemoryMax``, ``ProtectSystem``, ordering) is systemd's alone; ``systemd-analyze verify`` checks
the whole unit in the tests, and docs/local-fleet.md lists what local nodes do not reproduce.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from cctview_fleet.devfleet.errors import DevFleetError

RESTART_POLICIES = ("no", "always", "on-failure")


@dataclass(frozen=True, slots=True)
class ServiceUnit:
    """A ``[Service]`` section, reduced to what a supervisor needs."""

    exec_start: tuple[str, ...]
    user: str | None = None  # None: root
    group: str | None = None
    environment: tuple[tuple[str, str], ...] = ()
    restart: str = "no"
    restart_sec: float = 0.1  # systemd's default
    prevent_exit_status: tuple[int, ...] = ()

    def restarts_after(self, status: int) -> bool:
        """Whether systemd would start the service again after it exited with ``status``."""
        if status in self.prevent_exit_status or self.restart == "no":
            return False
        return self.restart == "always" or status != 0


def _seconds(value: str, path: Path) -> float:
    """systemd's time spans as units use them here: ``5``, ``5s``, ``500ms``, ``1min``."""
    text = value.strip()
    for suffix, factor in (("ms", 0.001), ("min", 60.0), ("s", 1.0)):
        if text.endswith(suffix):
            text, scale = text[: -len(suffix)], factor
            break
    else:
        scale = 1.0
    try:
        return float(text) * scale
    except ValueError:
        raise DevFleetError(f"{path}: RestartSec={value!r} is not a time span like 5s") from None


def parse_service_unit(text: str, path: Path) -> ServiceUnit:
    """The ``[Service]`` settings of a unit file's text (``path`` names it in errors)."""
    section = ""
    values: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if section == "Service" and "=" in line:
            key, value = line.split("=", 1)
            values.setdefault(key.strip(), []).append(value.strip())
    if not values.get("ExecStart"):
        raise DevFleetError(f"{path} has no ExecStart= in [Service]; it is not a service unit")
    restart = values.get("Restart", ["no"])[-1]
    if restart not in RESTART_POLICIES:
        raise DevFleetError(
            f"{path}: Restart={restart} is not supported here; use one of {RESTART_POLICIES}"
        )
    environment = tuple(
        tuple(item.split("=", 1))
        for line in values.get("Environment", [])
        for item in shlex.split(line)
        if "=" in item
    )
    return ServiceUnit(
        exec_start=tuple(shlex.split(values["ExecStart"][-1].lstrip("-@+!"))),
        user=values.get("User", [None])[-1],
        group=values.get("Group", [None])[-1],
        environment=environment,  # type: ignore[arg-type]
        restart=restart,
        restart_sec=_seconds(values.get("RestartSec", ["100ms"])[-1], path),
        prevent_exit_status=tuple(
            int(code)
            for line in values.get("RestartPreventExitStatus", [])
            for code in line.split()
            if code.isdigit()
        ),
    )


def load_service_unit(path: Path) -> ServiceUnit:
    try:
        return parse_service_unit(path.read_text(), path)
    except OSError as exc:
        raise DevFleetError(f"cannot read the unit {path}: {exc.strerror or exc}") from exc
