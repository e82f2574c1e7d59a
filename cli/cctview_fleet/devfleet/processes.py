"""Start background processes and stop them again by pid, safely.

``dev up`` and ``dev down`` are separate invocations, so a process is known by what the state file
records: its pid and the kernel's start time for that pid. A pid is signalled only while both
still match, so a recycled pid (the local fleet was stopped by a reboot, say) is never killed by
mistake. Each process leads its own session, so a signal to its group also reaches anything it
spawned (sshd's per-connection children, for one).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cctview_fleet.devfleet.errors import PortError, ProcessStartError

# Every process the local fleet starts carries this variable, set to the fleet's state folder.
# The state file is the record; the mark is the safety net that finds a process started by a
# `dev up` that was killed between starting it and recording it.
MARK_ENV = "CCTVIEW_LOCAL_FLEET"

# Popen objects of processes this interpreter started, so they can be reaped (no zombies in
# the tests, which run up and down in one process).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    """One process the local fleet started: enough to find, check and stop it later."""

    name: str  # "moto", "camsim", "sshd node-01", "agent node-01"
    role: str  # moto | camsim | sshd | agent
    pid: int
    start_ticks: int | None  # /proc/<pid>/stat field 22; None where /proc is absent
    log: str
    port: int | None = None
    node: str | None = None
    # Where this run's output starts in ``log``: logs are appended across runs (they are kept
    # for reading after `dev down`), and an address must be read from this run's lines only.
    log_start: int = 0


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS just handed out on ``host``; callers retry if someone takes it meanwhile."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            return int(sock.getsockname()[1])
    except OSError as exc:
        raise PortError(f"cannot get a free port on {host}: {exc.strerror or exc}") from exc


def start_ticks(pid: int) -> int | None:
    """The kernel's start time of ``pid`` in clock ticks, or None if it is gone or unknowable."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone, or no /proc on this system
        return None
    # The command name is in parentheses and may itself hold spaces or parentheses.
    after = raw[raw.rindex(")") + 2 :].split()
    return int(after[19])


def _state_letter(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()[0]


def spawn(
    name: str,
    role: str,
    argv: Sequence[str],
    log: Path,
    *,
    mark: str,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    node: str | None = None,
) -> ProcessRecord:
    """Start ``argv`` in its own session, stdout and stderr appended to ``log``, marked with
    ``mark`` (the fleet's folder) in its environment."""
    log.parent.mkdir(parents=True, exist_ok=True)
    environment = {**(env if env is not None else os.environ), MARK_ENV: mark}
    with open(log, "ab") as out:
        log_start = out.tell()
        try:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=environment,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise ProcessStartError(
                f"cannot start {name} ({argv[0]}): {exc.strerror or exc}"
            ) from exc
    _CHILDREN[process.pid] = process
    ticks = start_ticks(process.pid)
    return ProcessRecord(name, role, process.pid, ticks, str(log), port, node, log_start)


def _reap(pid: int) -> None:
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        del _CHILDREN[pid]


def is_alive(record: ProcessRecord) -> bool:
    """True while the recorded process runs (same pid and start time, not a zombie)."""
    _reap(record.pid)
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists but belongs to someone else; the start time decides below
    if _state_letter(record.pid) in ("Z", "X"):
        return False
    # A different start time means the pid was recycled by an unrelated process.
    return record.start_ticks is None or start_ticks(record.pid) == record.start_ticks


def _signal(record: ProcessRecord, sig: signal.Signals) -> None:
    if not is_alive(record):
        return
    try:
        if os.getpgid(record.pid) == record.pid:
            os.killpg(record.pid, sig)  # the session we created: reaches its children too
        else:
            os.kill(record.pid, sig)
    except ProcessLookupError:
        pass


def _carries_mark(entry: Path, needle: bytes, sshd_config: bytes) -> bool:
    """The mark in the environment, or, for sshd, its config file in the fleet's folder.

    sshd rewrites its process title over the memory that ``/proc/<pid>/environ`` shows, so its
    mark is gone by the time a killed ``dev up`` leaves it unrecorded; its title still names its
    ``-f <fleet>/nodes/<node>/etc/sshd_config``.
    """
    try:
        if needle in (entry / "environ").read_bytes().split(b"\0"):
            return True
        cmdline = (entry / "cmdline").read_bytes()
    except OSError:
        return False  # gone meanwhile, or not ours to read
    return cmdline.startswith(b"sshd") and sshd_config in cmdline


def _rooted_in(entry: Path, roots: str | None) -> bool:
    """True for a process chrooted into one of the fleet's node roots (their sshd, sudo, ...)."""
    if not roots:
        return False
    try:
        return os.readlink(entry / "root").startswith(roots.rstrip("/") + "/")
    except OSError:
        return False


def marked(mark: str, roots: str | None = None) -> list[ProcessRecord]:
    """Live processes that carry ``mark``, or run inside the fleet's node ``roots``: the
    fleet's, recorded or not."""
    needle = f"{MARK_ENV}={mark}".encode()
    sshd_config = f"{mark}/nodes/".encode()
    found: list[ProcessRecord] = []
    for entry in Path("/proc").glob("[0-9]*"):
        if _carries_mark(entry, needle, sshd_config) or _rooted_in(entry, roots):
            pid = int(entry.name)
            record = ProcessRecord(f"pid {pid}", "marked", pid, start_ticks(pid), "")
            if pid != os.getpid() and is_alive(record):
                found.append(record)
    return found


def _parent_pids() -> dict[int, int]:
    """pid -> parent pid for every process visible in /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(raw[raw.rindex(")") + 2 :].split()[1])
    return parents


def descendants(records: Sequence[ProcessRecord]) -> list[ProcessRecord]:
    """Every live process below the given ones (sshd's sessions, say), found before signalling:
    once a parent dies its children are re-parented and could no longer be found."""
    parents = _parent_pids()
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    found: list[ProcessRecord] = []
    todo = [r.pid for r in records if is_alive(r)]
    while todo:
        for pid in children.get(todo.pop(), []):
            found.append(ProcessRecord(f"child {pid}", "child", pid, start_ticks(pid), ""))
            todo.append(pid)
    return found


def stop(records: Sequence[ProcessRecord], *, timeout: float = 5.0) -> list[ProcessRecord]:
    """SIGTERM every live process and its descendants, SIGKILL what is left after ``timeout``;
    returns the survivors (an empty list when everything is gone)."""
    records = [*records, *descendants(records)]
    first: dict[int, ProcessRecord] = {}
    for record in records:
        first.setdefault(record.pid, record)  # the first record of each pid
    records = list(first.values())
    for record in records:
        _signal(record, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(is_alive(r) for r in records):
        time.sleep(0.05)
    for record in records:
        if is_alive(record):
            _signal(record, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and any(is_alive(r) for r in records):
        time.sleep(0.05)
    for record in records:
        child = _CHILDREN.pop(record.pid, None)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=1.0)
    return [r for r in records if is_alive(r)]


def log_text(record: ProcessRecord) -> str:
    """What the process wrote to its log in this run (nothing an earlier run left there)."""
    try:
        with open(record.log, "rb") as stream:
            stream.seek(record.log_start)
            return stream.read().decode(errors="replace")
    except OSError:
        return ""


def log_tail(record: ProcessRecord, lines: int = 3) -> str:
    """The last lines of a process's log, joined for a one-line error message."""
    text = log_text(record)
    tail = [line.strip() for line in text.strip().splitlines()[-lines:] if line.strip()]
    return " | ".join(tail)


def _died(record: ProcessRecord, what: str) -> ProcessStartError:
    tail = log_tail(record)
    detail = f": {tail}" if tail else ""
    return ProcessStartError(f"{record.name} {what} (log {record.log}){detail}")


def wait_for_log_line(record: ProcessRecord, pattern: str, *, timeout: float) -> re.Match[str]:
    """Wait until the process's log has a line matching ``pattern``; fail if it dies first."""
    regex = re.compile(pattern, re.MULTILINE)
    deadline = time.monotonic() + timeout
    while True:
        match = regex.search(log_text(record))
        if match:
            return match
        if not is_alive(record):
            raise _died(record, "exited before it was ready")
        if time.monotonic() > deadline:
            raise _died(record, f"was not ready within {timeout:.0f} s")
        time.sleep(0.05)


def wait_for_port(record: ProcessRecord, host: str, port: int, *, timeout: float) -> None:
    """Wait until ``host:port`` accepts a TCP connection; fail if the process dies first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            pass
        if not is_alive(record):
            raise _died(record, "exited before it was ready")
        if time.monotonic() > deadline:
            raise _died(record, f"did not listen on {host}:{port} within {timeout:.0f} s")
        time.sleep(0.05)
