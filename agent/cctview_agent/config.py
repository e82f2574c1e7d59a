"""The agent's settings: one TOML file, top-level keys, durations in seconds, sizes in bytes.

    data_dir = "/data"                        # link to the active volume's mount point
    assignment = "/etc/cctview/assignment.json"
    poll_interval = 1.0
    period = 3600
    ...

Every key has a default; a bad value is refused at start with one line that names the key and
gives an example. Writers (the local fleet, the Pulumi user data) build an :class:`AgentConfig`
and call :meth:`AgentConfig.to_toml`, so the format is written in one place only.
"""

from __future__ import annotations

import enum
import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from cctview_agent.errors import ConfigError
from cctview_agent.periods import validate_period_length

DEFAULT_ROOT = Path("/var/lib/cctview")


class Polling(enum.StrEnum):
    """How cameras are polled (``polling`` here; polling/scheduler.py does it): here, with the
    setting, so the settings import nothing of the parts they configure."""

    ADAPTIVE = "adaptive"
    GRID = "grid"


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """Validated agent settings. Relative paths in the file are relative to the file's folder."""

    data_dir: Path = DEFAULT_ROOT / "data"
    assignment: Path = Path("/etc/cctview/assignment.json")
    poll_interval: float = 1.0
    period: int = 3600
    grace: float = 15.0
    timeout: float = 5.0
    max_frame_bytes: int = 2_000_000
    reserve_bytes: int = 256 * 1024 * 1024
    # Free inodes kept like free bytes (a volume of small frames runs out of inodes first).
    reserve_inodes: int = 10_000
    log_file: Path = DEFAULT_ROOT / "agent.log"
    status_file: Path = DEFAULT_ROOT / "status.json"
    log_max_bytes: int = 10 * 1024 * 1024
    node: str = field(default="")
    ca_file: Path | None = None  # extra CA bundle for HTTPS feeds (the simulator's own cert)
    # Where data volumes are mounted, one folder per volume; ``data_dir`` links to the active one.
    # Older volumes still mounted here are closed and synced until rotation retires them.
    volumes_dir: Path | None = None
    # A camera whose frame has not changed for this long shows as "frozen" in status.
    frozen_after: float = 60.0
    # How ``cctview-agent volume prepare`` makes a volume usable: "block" formats and mounts the
    # EBS device found by its volume id, "folder" just creates a folder (the local fleet), "auto"
    # picks block when the machine has EBS devices (every EC2 instance does) and folder otherwise.
    volume_mode: str = "auto"
    # The fleet's own bucket and key prefix. Only a sync receipt for exactly these lets a period's
    # frames be deleted (retention, space) or a volume count as drained: a copy sent elsewhere
    # (``sync --bucket other``) is not the fleet's. Empty: no receipt counts, nothing is deleted.
    bucket: str = ""
    prefix: str = "cctview"
    # How cameras are polled (polling/scheduler.py): "adaptive" learns each camera's cadence
    # and polls just often enough to see every picture; "grid" polls every camera
    # every poll_interval.
    polling: Polling = Polling.ADAPTIVE
    # The node's request budget to the camera service: at most this many requests in any second.
    # 50 covers 21 cameras: ~0.45 requests/s each once learned, 1/s while waiting to learn and
    # ~4/s for the few learning at a time (scheduler.LearningSlots); the 1 Hz grid sent 21/s.
    max_requests_per_s: float = 50.0
    # Offline and frozen cameras are polled this gently; they resume within one such interval.
    offline_poll_interval: float = 10.0
    # While learning a camera's cadence, the first poll steps (seconds); and how often to relearn.
    learn_step: float = 0.25
    relearn_after: float = 3600.0
    # Who to tell when the fleet misbehaves: goes into every request's User-Agent, set once by the
    # operator (Pulumi config ``contact``; the local fleet passes one too). Empty: none given.
    contact: str = ""

    @property
    def volumes_root(self) -> Path:
        """``volumes_dir``, or by default the ``volumes`` folder beside ``data_dir``."""
        return (
            self.volumes_dir if self.volumes_dir is not None else self.data_dir.parent / "volumes"
        )

    def to_toml(self) -> str:
        lines = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue  # TOML has no null: an absent key means the default
            if isinstance(value, Path):
                value = str(value)
            if isinstance(value, str):
                escaped = value.replace("\\", "\\\\").replace('"', '\\"')
                lines.append(f'{f.name} = "{escaped}"')
            else:
                lines.append(f"{f.name} = {value!r}")
        return "\n".join(lines) + "\n"


_EXAMPLES = {
    "data_dir": 'data_dir = "/data"',
    "assignment": 'assignment = "/etc/cctview/assignment.json"',
    "poll_interval": "poll_interval = 1.0",
    "period": "period = 3600",
    "grace": "grace = 15",
    "timeout": "timeout = 5",
    "max_frame_bytes": "max_frame_bytes = 2000000",
    "reserve_bytes": "reserve_bytes = 268435456",
    "reserve_inodes": "reserve_inodes = 10000",
    "log_file": 'log_file = "/var/lib/cctview/agent.log"',
    "status_file": 'status_file = "/var/lib/cctview/status.json"',
    "log_max_bytes": "log_max_bytes = 10485760",
    "node": 'node = "node-01"',
    "ca_file": 'ca_file = "/etc/cctview/ca.pem"',
    "volumes_dir": 'volumes_dir = "/mnt/cctview"',
    "frozen_after": "frozen_after = 60",
    "volume_mode": 'volume_mode = "auto"  # or "block", "folder"',
    "bucket": 'bucket = "cctview-frames-1a2b3c"',
    "prefix": 'prefix = "cctview"',
    "polling": 'polling = "adaptive"  # or "grid"',
    "max_requests_per_s": "max_requests_per_s = 50",
    "offline_poll_interval": "offline_poll_interval = 10",
    "learn_step": "learn_step = 0.25",
    "relearn_after": "relearn_after = 3600",
    "contact": 'contact = "ops@example.org"',
}

VOLUME_MODES = ("auto", "block", "folder")


def _bad(key: str, why: str, path: Path | None) -> ConfigError:
    where = f"{path}: " if path else ""
    return ConfigError(f"{where}{key} {why}; example: {_EXAMPLES[key]}", key=key, path=path)


def _number(key: str, value: Any, path: Path | None, *, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(key, f"must be a number, not {value!r}", path)
    if positive and value <= 0:
        raise _bad(key, f"must be greater than 0, not {value!r}", path)
    if not positive and value < 0:
        raise _bad(key, f"must not be negative, not {value!r}", path)
    number: float = value  # checked above: an int or float, finite
    return number


def _whole(key: str, value: Any, path: Path | None, *, positive: bool = True) -> int:
    number = _number(key, value, path, positive=positive)
    if number != int(number):
        raise _bad(key, f"must be a whole number, not {value!r}", path)
    return int(number)


def config_from_mapping(raw: dict[str, Any], *, path: Path | None = None) -> AgentConfig:
    """Validate a parsed TOML mapping; unknown keys are refused (a typo must not pass silently)."""
    known = {f.name for f in fields(AgentConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        where = f"{path}: " if path else ""
        raise ConfigError(
            f"{where}unknown setting {unknown[0]!r}; known settings: {', '.join(sorted(known))}",
            key=unknown[0],
            path=path,
        )
    base = path.parent if path else Path.cwd()
    values: dict[str, Any] = {}
    for key in (
        "data_dir",
        "assignment",
        "log_file",
        "status_file",
        "ca_file",
        "volumes_dir",
    ):
        if key in raw:
            if not isinstance(raw[key], str) or not raw[key].strip():
                raise _bad(key, f"must be a path, not {raw[key]!r}", path)
            values[key] = base / Path(raw[key]).expanduser()
    for key in (
        "poll_interval",
        "grace",
        "timeout",
        "frozen_after",
        "max_requests_per_s",
        "offline_poll_interval",
        "learn_step",
        "relearn_after",
    ):
        if key in raw:
            values[key] = float(_number(key, raw[key], path, positive=key != "grace"))
    if "period" in raw:
        values["period"] = validate_period_length(raw["period"])
    for key in ("max_frame_bytes", "log_max_bytes"):
        if key in raw:
            values[key] = _whole(key, raw[key], path)
    for key in ("reserve_bytes", "reserve_inodes"):
        if key in raw:
            values[key] = _whole(key, raw[key], path, positive=False)
    for key in ("node", "bucket", "prefix"):
        if key in raw:
            if not isinstance(raw[key], str):
                raise _bad(key, f"must be a string, not {raw[key]!r}", path)
            values[key] = raw[key]
    if "polling" in raw:
        if raw["polling"] not in tuple(Polling):
            choices = ", ".join(Polling)
            raise _bad("polling", f"must be one of {choices}, not {raw['polling']!r}", path)
        values["polling"] = Polling(raw["polling"])
    if "contact" in raw:
        contact = raw["contact"]
        if not isinstance(contact, str) or any(ch in contact for ch in "\r\n()"):
            raise _bad("contact", "must be one line without parentheses (an e-mail or URL)", path)
        values["contact"] = contact.strip()
    if "volume_mode" in raw:
        if raw["volume_mode"] not in VOLUME_MODES:
            raise _bad("volume_mode", f"must be one of {', '.join(VOLUME_MODES)}", path)
        values["volume_mode"] = raw["volume_mode"]
    config = replace(AgentConfig(), **values)
    if config.timeout > 60:
        raise _bad("timeout", f"= {config.timeout} is too long for a 1 fps poll (at most 60)", path)
    if config.max_requests_per_s < 1:
        raise _bad("max_requests_per_s", "must be at least 1 request a second", path)
    if config.max_frame_bytes < 1024:
        raise _bad("max_frame_bytes", "must be at least 1024 (a JPEG is ~20 KB)", path)
    return config


def load_config(path: Path) -> AgentConfig:
    """Read and validate the agent's TOML file."""
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist; pass --config FILE", path=path
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}", path=path) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", path=path) from exc
    return config_from_mapping(raw, path=path)
