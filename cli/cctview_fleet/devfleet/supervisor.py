"""A small stand-in for systemd: run a unit's service and restart it as the unit says.

EC2 nodes run the agent under systemd (``Restart=always``, ``RestartSec=5``,
``RestartPreventExitStatus=2``); local nodes have no systemd, so the local fleet starts each
agent under this supervisor instead, with the same unit file (:mod:`.units`). It starts the
service, waits for it, and after an exit starts it again ``RestartSec`` later, unless the unit's
policy says not to (exit 2, a bad setting, is final: the supervisor then exits with that status,
so ``dev status`` shows the node's agent as gone, as systemd would show it failed).

SIGTERM or SIGINT stop the service and the supervisor; SIGHUP is passed to the service (the
unit's ``ExecReload=kill -HUP $MAINPID``); SIGUSR1 is ``systemctl restart``: the service is
stopped (SIGTERM) and started again at once, without ``RestartSec``. In a node root the
supervisor writes its pid and the service's start count under ``/run/cctview-fleet/`` there,
which is how the node's ``systemctl restart`` (:data:`.firstboot.SYSTEMCTL`) finds it and
knows when the service runs again. With ``--root`` the service runs inside that folder
with ``chroot --userspec`` as the unit's ``User``/``Group``: the first-booted Debian nodes.

    python -m cctview_fleet.devfleet.supervisor --unit FILE [--root DIR] [-- ARGV...]

``ARGV`` replaces the unit's ``ExecStart`` (single-user nodes run the operator's venv's agent with
the node's config; the unit's ``/usr/local/bin/cctview-agent`` exists only inside a node root).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from cctview_fleet.devfleet.nodes import passthrough_environment
from cctview_fleet.devfleet.processes import MARK_ENV
from cctview_fleet.devfleet.units import ServiceUnit, load_service_unit
from cctview_fleet.errors import FleetError

CHROOT = "/usr/sbin/chroot"
RUN_DIR = Path("/run/cctview-fleet")  # inside a node root: what its systemctl reads


def service_argv(unit: ServiceUnit, override: Sequence[str], root: Path | None) -> list[str]:
    """The command the supervisor starts: the unit's (or ``override``), as its user in ``root``."""
    argv = list(override or unit.exec_start)
    if root is None:
        return argv
    userspec = f"{unit.user or 'root'}:{unit.group or unit.user or 'root'}"
    return [CHROOT, f"--userspec={userspec}", str(root), *argv]


def _say(message: str) -> None:
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    print(f"{stamp} supervisor: {message}", flush=True)


class Supervisor:
    """Runs one service until told to stop; restarts it after each exit the unit allows."""

    def __init__(self, unit: ServiceUnit, argv: list[str], env: dict[str, str]) -> None:
        self.unit = unit
        self.argv = argv
        self.env = env
        self.child: subprocess.Popen[bytes] | None = None
        self.stopping = False
        self.restarting = False
        self.starts = 0
        self.run_dir: Path | None = None  # <root>/run/cctview-fleet: pid and start count
        self.unit_name = ""

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            self.stopping = True
        if signum == signal.SIGUSR1:
            self.restarting = True
            signum = signal.SIGTERM
        child = self.child
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM if signum == signal.SIGINT else signum)

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
            signal.signal(signum, self._forward)
        self._record("pid", os.getpid())
        while True:
            try:
                self.child = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL)
            except OSError as exc:
                _say(f"cannot start {self.argv[0]}: {exc.strerror or exc}")
                return 1
            self.starts += 1
            self._record("starts", self.starts)
            _say(f"started {' '.join(self.argv)} (pid {self.child.pid}, start {self.starts})")
            status = self.child.wait()
            if self.stopping:
                _say(f"stopped (exit status {status})")
                return 0
            if self.restarting:
                self.restarting = False
                _say(f"restarted on request (exit status {status})")
                continue
            if not self.unit.restarts_after(status):
                _say(f"exited with status {status}; Restart={self.unit.restart} ends here")
                return status if status > 0 else 1
            _say(f"exited with status {status}; restarting in {self.unit.restart_sec:g} s")
            deadline = time.monotonic() + self.unit.restart_sec
            while time.monotonic() < deadline and not self.stopping:
                time.sleep(0.05)
            if self.stopping:
                return 0

    def _record(self, what: str, value: int) -> None:
        """``<unit>.<what>`` in the node's /run/cctview-fleet, replaced atomically."""
        if self.run_dir is None:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / f"{self.unit_name}.{what}"
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(f"{value}\n")
        temporary.replace(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cctview-fleet-supervisor", description=__doc__)
    parser.add_argument("--unit", type=Path, required=True, help="the systemd unit file")
    parser.add_argument("--root", type=Path, help="run the service chrooted here, as its User")
    parser.add_argument("command", nargs="*", help="replaces the unit's ExecStart")
    args = parser.parse_args(argv)
    try:
        unit = load_service_unit(args.unit)
    except FleetError as exc:
        _say(f"error: {exc}")
        return 2
    argv_ = service_argv(unit, args.command, args.root)
    supervisor = Supervisor(unit, argv_, _env(unit, args.root))
    if args.root is not None:
        supervisor.run_dir = args.root / RUN_DIR.relative_to("/")
        supervisor.unit_name = args.unit.name
    return supervisor.run()


def _env(unit: ServiceUnit, root: Path | None) -> dict[str, str]:
    """Single-user nodes: the caller's environment over the unit's (the node's config path).
    Node roots: what systemd gives a service, a clean one: the unit's ``Environment=``, and
    HOME, USER, LOGNAME of its ``User`` as the node's /etc/passwd has them; plus the operator's
    ``CCTVIEW_AGENT_*`` switches."""
    if root is None:
        return {**dict(unit.environment), **os.environ}
    user = unit.user or "root"
    home = "/root" if user == "root" else "/"
    for line in (root / "etc" / "passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            home = fields[5]
    return {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        **dict(unit.environment),
        "HOME": home,
        "USER": user,
        "LOGNAME": user,
        MARK_ENV: os.environ.get(MARK_ENV, ""),  # so `dev down` finds it after a killed `dev up`
        **passthrough_environment(),  # the operator's CCTVIEW_AGENT_* switches
    }


if __name__ == "__main__":
    sys.exit(main())
