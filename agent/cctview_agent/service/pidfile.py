"""The pid file: how ``reload``, ``assign`` and ``status`` find the running agent.

It lives next to the status file (``<status_file dir>/agent.pid``). The running agent holds an
exclusive ``flock`` on it for its whole life, so a second ``run`` on the same config is refused
and a stale pid left by a ``kill -9`` is recognised (nobody holds the lock) rather than trusted.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from cctview_agent.config import AgentConfig
from cctview_agent.errors import CctviewError

PID_NAME = "agent.pid"


class AgentNotRunningError(CctviewError):
    """Raised when a command needs the running agent (reload) and none holds the pid file."""

    exit_code = 3


class AgentAlreadyRunningError(CctviewError):
    """Raised by ``run`` when another agent already holds the pid file of this config."""

    exit_code = 2


def pid_path(config: AgentConfig) -> Path:
    return config.status_file.parent / PID_NAME


@dataclass
class PidLock:
    """The running agent's claim on its pid file; released (and the file removed) on exit."""

    path: Path
    fd: int

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self.fd)


def acquire(config: AgentConfig) -> PidLock:
    """Claim the pid file for this process, or raise if another agent holds it."""
    path = pid_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        other = _read_pid(path)
        os.close(fd)
        raise AgentAlreadyRunningError(
            f"an agent (pid {other}) is already running with {path}; "
            "stop it first (systemctl stop cctview-agent)"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return PidLock(path, fd)


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def running_pid(config: AgentConfig) -> int | None:
    """The pid of the agent holding the pid file, or None when no agent runs."""
    path = pid_path(config)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(path)  # locked: the agent is alive
        return None  # nobody holds it: a leftover of a crash
    finally:
        os.close(fd)


def signal_agent(config: AgentConfig, *, reload: bool) -> int:
    """Send SIGHUP (reload) or SIGTERM (stop) to the running agent; returns its pid."""
    pid = running_pid(config)
    if pid is None:
        raise AgentNotRunningError(
            f"no agent is running (no live pid file at {pid_path(config)}); "
            "start it with: systemctl start cctview-agent"
        )
    try:
        os.kill(pid, signal.SIGHUP if reload else signal.SIGTERM)
    except ProcessLookupError:
        raise AgentNotRunningError(f"agent pid {pid} from {pid_path(config)} is gone") from None
    except PermissionError as exc:
        raise AgentNotRunningError(
            f"not allowed to signal agent pid {pid}; run as its user (sudo)"
        ) from exc
    return pid
