"""The local fleet supervises its agents as systemd does on EC2 (the agent's own unit file, its
restart policy), `dev status` fails when a process it started is dead, `dev restart NODE` brings a
node back, and `dev up` is repeatable in the same folder. Real processes throughout."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cctview_fleet.app import app
from cctview_fleet.cloud.stacks import HOME_ENV, STACK_ENV
from cctview_fleet.devfleet import firstboot
from cctview_fleet.devfleet import fleet as devfleet
from cctview_fleet.devfleet.errors import DevFleetError
from cctview_fleet.devfleet.noderoots import NodeRoot
from cctview_fleet.devfleet.nodes import agent_unit, passthrough_environment
from cctview_fleet.devfleet.processes import ProcessRecord, is_alive, spawn, stop
from cctview_fleet.devfleet.units import ServiceUnit, parse_service_unit
from tests.agent.agentproc import wait_for
from tests.fixtures.fleet import require_sshd

SUPERVISOR = [sys.executable, "-m", "cctview_fleet.devfleet.supervisor"]


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


# -- the unit file the supervisor honours ------------------------------------------------------


def test_the_shipped_agent_unit_is_read_as_systemd_reads_it() -> None:
    unit = parse_service_unit(agent_unit().read_text(), agent_unit())
    assert unit == ServiceUnit(
        exec_start=("/usr/local/bin/cctview-agent", "run"),
        user="cctview",
        group="cctview",
        environment=(("CCTVIEW_AGENT_CONFIG", "/etc/cctview/agent.toml"),),
        restart="always",
        restart_sec=5.0,
        prevent_exit_status=(2,),
    )
    assert unit.restarts_after(1) and unit.restarts_after(0) and unit.restarts_after(-9)
    assert not unit.restarts_after(2)  # a bad setting: restarting cannot fix it


def test_a_unit_without_execstart_or_with_an_unknown_policy_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DevFleetError, match=r"x\.service has no ExecStart="):
        parse_service_unit("[Service]\nUser=a\n", tmp_path / "x.service")
    with pytest.raises(DevFleetError, match="Restart=on-abnormal is not supported"):
        parse_service_unit("[Service]\nExecStart=/bin/true\nRestart=on-abnormal\n", Path("y"))


def test_shipped_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """The units EC2 nodes run, checked by systemd itself (local nodes only honour part)."""
    analyze = "/usr/bin/systemd-analyze"
    if not Path(analyze).exists():
        pytest.fail("systemd-analyze is missing: `make setup` installs it (package systemd)")
    # verify wants every command of a unit to exist and systemd's own units (sysinit.target) to
    # be there: a scratch root with the host systemd's unit library, its kill, and a stand-in
    # at the agent's path (the first-booted local nodes have the real one).
    units = agent_unit().parent
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "usr/local/bin").mkdir(parents=True)
    (root / "usr/local/bin/cctview-agent").write_text("#!/bin/sh\n")
    (root / "usr/local/bin/cctview-agent").chmod(0o755)
    shutil.copy2("/bin/kill", root / "usr/local/bin/kill")
    (root / "bin").symlink_to("usr/local/bin")
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "etc/cctview").mkdir(parents=True)
    (root / "etc/cctview/sync.env").write_text("CCTVIEW_BUCKET=b\nCCTVIEW_PREFIX=p\n")
    for unit in sorted(units.glob("cctview-agent*")):
        (root / "etc/systemd/system" / unit.name).write_text(unit.read_text())
    names = [f"/etc/systemd/system/{u.name}" for u in sorted(units.glob("cctview-agent*"))]
    assert len(names) == 3
    result = subprocess.run(
        [analyze, "verify", f"--root={root}", "--man=no", *names],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- the supervisor, on a small service of its own ----------------------------------------------


def _service(tmp_path: Path, body: str, restart_sec: str = "0.2") -> tuple[Path, Path]:
    """A unit whose service counts its starts in a file, then runs ``body``."""
    counter = tmp_path / "starts"
    script = tmp_path / "service.py"
    script.write_text(
        "import pathlib, sys, time\n"
        f"c = pathlib.Path({str(counter)!r})\n"
        "with c.open('a') as f: f.write('start\\n')\n"
        "print('service started', flush=True)\n" + body
    )
    unit = tmp_path / "probe.service"
    unit.write_text(
        "[Service]\n"
        f"ExecStart={sys.executable} {script}\n"
        f"Restart=always\nRestartSec={restart_sec}\nRestartPreventExitStatus=2\n"
    )
    return unit, counter


def _supervise(tmp_path: Path, unit: Path) -> ProcessRecord:
    return spawn(
        "supervisor", "agent", [*SUPERVISOR, "--unit", str(unit)], tmp_path / "out.log",
        mark=str(tmp_path),
    )  # fmt: skip


def _starts(counter: Path) -> int:
    return counter.read_text().count("start") if counter.exists() else 0


def test_a_service_that_exits_is_restarted_after_restartsec(tmp_path: Path) -> None:
    unit, counter = _service(tmp_path, "time.sleep(0.3); sys.exit(1)\n", restart_sec="1")
    record = _supervise(tmp_path, unit)
    try:
        started = time.monotonic()
        wait_for(lambda: _starts(counter) >= 3, 60, "three starts")
        # Two back-offs of RestartSec=1 between three starts of 0.3 s each.
        assert time.monotonic() - started >= 2.0
        assert is_alive(record)
        log = Path(record.log).read_text()
        assert "exited with status 1; restarting in 1 s" in log
    finally:
        assert stop([record]) == []


def test_exit_2_is_final_as_restartpreventexitstatus_says(tmp_path: Path) -> None:
    unit, counter = _service(tmp_path, "sys.exit(2)\n")
    record = _supervise(tmp_path, unit)
    wait_for(lambda: not is_alive(record), 30, "the supervisor to give up")
    time.sleep(0.5)
    assert _starts(counter) == 1
    assert "exited with status 2; Restart=always ends here" in Path(record.log).read_text()


def test_sigterm_stops_the_service_and_the_supervisor(tmp_path: Path) -> None:
    unit, counter = _service(tmp_path, "time.sleep(600)\n")
    record = _supervise(tmp_path, unit)
    wait_for(lambda: _starts(counter) == 1, 30, "the service to start")
    os.kill(record.pid, signal.SIGTERM)
    wait_for(lambda: not is_alive(record), 30, "the supervisor to stop")
    assert _starts(counter) == 1  # not restarted on the way out
    assert "stopped (exit status" in Path(record.log).read_text()


def test_sigusr1_restarts_at_once_as_systemctl_restart_does(tmp_path: Path) -> None:
    """`systemctl restart` on a local Debian node: stop, start again, no RestartSec wait."""
    unit, counter = _service(tmp_path, "time.sleep(600)\n", restart_sec="30")
    record = _supervise(tmp_path, unit)
    try:
        wait_for(lambda: _starts(counter) == 1, 30, "the service to start")
        asked = time.monotonic()
        os.kill(record.pid, signal.SIGUSR1)
        wait_for(lambda: _starts(counter) == 2, 20, "the service to start again")
        assert time.monotonic() - asked < 20  # RestartSec=30 does not apply
        assert "restarted on request" in Path(record.log).read_text()
        assert is_alive(record)
    finally:
        assert stop([record]) == []


# -- on the local fleet ----------------------------------------------------------------------


def _agent_pid(fleet: Any, name: str) -> int | None:
    try:
        return int((fleet.paths(name).status.parent / "agent.pid").read_text())
    except (OSError, ValueError):
        return None


def test_a_killed_agent_comes_back_and_a_dead_node_fails_dev_status(local_fleet: Any) -> None:
    fleet = local_fleet(nodes=1, cameras=5)
    first = wait_for(lambda: _agent_pid(fleet, "node-01"), 30, "the agent's pid file")
    os.kill(first, signal.SIGKILL)
    # The unit's RestartSec=5: the supervisor starts a new agent, not the operator.
    second = wait_for(
        lambda: (pid := _agent_pid(fleet, "node-01")) not in (None, first) and pid, 60, "a restart"
    )
    assert second != first
    assert cli("dev", "status").exit_code == 0

    sshd_record = next(p for p in fleet.state.processes if p.role == "sshd")
    assert stop([sshd_record]) == []
    dead = cli("dev", "status")
    assert dead.exit_code == 1, dead.output
    assert json.loads(cli("dev", "status", "--json").stdout)["processes"]
    assert cli("dev", "status", "--json").exit_code == 1

    restarted = cli("dev", "restart", "node-01")
    assert restarted.exit_code == 0, restarted.output
    assert "node-01: sshd node-01 pid" in restarted.stdout
    assert cli("dev", "status").exit_code == 0
    assert fleet.ssh("node-01", "echo hello")[:2] == (0, "hello\n")  # same port, same host key
    unknown = cli("dev", "restart", "node-09")
    assert unknown.exit_code == 1
    assert "the local fleet has no node 'node-09'" in unknown.output


def _stored(status_file: Path) -> int:
    try:
        return int(json.loads(status_file.read_text())["totals"]["frames_stored"])
    except (OSError, ValueError, KeyError):
        return 0


@pytest.mark.slow
def test_two_up_down_cycles_in_the_same_folder_both_collect(tmp_path: Path, monkeypatch) -> None:
    """The simulator's log is kept across runs; each `dev up` must read its own port from it."""
    require_sshd()
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    monkeypatch.setenv(STACK_ENV, "local")
    ports = []
    for _cycle in range(2):
        state = devfleet.up(
            devfleet.UpOptions(nodes=1, cameras=3, https=False, period=60, node_kind="single-user")
        )
        try:
            ports.append(state.camsim_url)
            assigned = cli("assign", "--cameras", "all", "--cameras-per-node", "10", "--json")
            assert assigned.exit_code == 0, assigned.output
            status_file = Path(state.nodes[0].folder) / "var" / "status.json"
            wait_for(lambda f=status_file: _stored(f) > 0, 60, f"frames from {state.camsim_url}")
        finally:
            devfleet.down()
    assert ports[0] != ports[1]
    log = (tmp_path / "home" / "local" / "camsim" / "camsim.log").read_text()
    assert log.count("cctview-camsim listening on") == 2  # both runs' lines, kept


# -- the operator's CCTVIEW_AGENT_* switches reach the nodes' agents ----------------------------


def test_agent_switches_reach_the_agent_and_ssh_sessions(local_fleet: Any, monkeypatch) -> None:
    """E.g. a recorder of the AWS calls an agent makes, turned on by a variable at `dev up`."""
    monkeypatch.setenv("CCTVIEW_AGENT_PROBE_SWITCH", "on")
    monkeypatch.setenv("CCTVIEW_AGENT_CONFIG", "/not/this/one.toml")  # each node has its own
    fleet = local_fleet(nodes=1, cameras=2)
    code, out, _ = fleet.ssh("node-01", "echo $CCTVIEW_AGENT_PROBE_SWITCH $CCTVIEW_AGENT_CONFIG")
    assert (code, out) == (0, f"on {fleet.paths('node-01').config}\n")
    pid = wait_for(lambda: _agent_pid(fleet, "node-01"), 30, "the agent's pid file")
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert b"CCTVIEW_AGENT_PROBE_SWITCH=on" in environ


def test_debian_nodes_get_the_switches_for_login_and_sudo(tmp_path: Path) -> None:
    root = NodeRoot(tmp_path / "node-01")
    (root.merged / "etc" / "sudoers.d").mkdir(parents=True)
    firstboot.pass_switches(root, (("CCTVIEW_AGENT_PROBE_SWITCH", "on"),))
    assert (root.merged / "etc/environment").read_text() == 'CCTVIEW_AGENT_PROBE_SWITCH="on"\n'
    keep = root.merged / "etc/sudoers.d/95-cctview-local-switches"
    assert keep.read_text() == 'Defaults env_keep += "CCTVIEW_AGENT_PROBE_SWITCH"\n'
    assert oct(keep.stat().st_mode & 0o777) == "0o440"
    assert passthrough_environment(
        {"CCTVIEW_AGENT_X": "1", "CCTVIEW_AGENT_CONFIG": "c", "Y": "2"}
    ) == {"CCTVIEW_AGENT_X": "1"}


def test_dev_up_says_which_kind_of_node_it_started(tmp_path: Path, monkeypatch) -> None:
    require_sshd()
    monkeypatch.setenv(HOME_ENV, str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    try:
        up = cli("dev", "up", "--nodes", "1", "--cameras", "2", "--single-user")
        assert up.exit_code == 0, up.output
        assert "local nodes: single-user folders: sshd and agents run as you" in up.stdout
        assert "1 single-user nodes" in up.stdout
        status = cli("dev", "status")
        assert status.exit_code == 0, status.output
        assert "4 of 4 running · single-user nodes" in status.stdout
    finally:
        devfleet.down()
