"""`cctview-fleet dev up|status|down` against real parts: moto's server, the camera simulator,
OpenSSH sshd per node and the real agents."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest
from typer.testing import CliRunner

from cctview_fleet.app import app
from cctview_fleet.cloud import aws
from cctview_fleet.cloud.stacks import load_stack, stack_path
from cctview_fleet.devfleet import fleet as devfleet
from cctview_fleet.devfleet.processes import (
    ProcessRecord,
    is_alive,
    marked,
    spawn,
    stop,
    wait_for_log_line,
)
from cctview_fleet.devfleet.state import load_state, state_path
from tests.fixtures.fleet import LocalFleet, require_sshd

pytestmark = pytest.mark.sshd


def _tags(resource: dict) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}


def _gone(record: ProcessRecord) -> bool:
    return not is_alive(record)


def test_up_registers_nodes_volumes_and_bucket_and_ssh_reaches_each_agent(module_local_fleet):
    fleet = module_local_fleet(nodes=2)
    assert fleet.node_names == ["node-01", "node-02"]
    stack = fleet.stack
    assert (stack.name, stack.bucket, stack.endpoint_url) == (
        "local",
        "cctview-local",
        fleet.moto_url,
    )
    assert stack.extra["catalog_url"].startswith("https://127.0.0.1:")
    assert Path(stack.extra["ca_file"]).is_file()

    ec2 = aws.ec2(stack)
    reservations = ec2.describe_instances(
        Filters=[{"Name": "tag:cctview:fleet", "Values": ["local"]}]
    )["Reservations"]
    instances = {_tags(i)["cctview:node"]: i for r in reservations for i in r["Instances"]}
    assert sorted(instances) == fleet.node_names
    for name, instance in instances.items():
        tags = _tags(instance)
        assert tags["cctview:ssh-host"] == "127.0.0.1"
        assert int(tags["cctview:ssh-port"]) == fleet.node(name).ssh_port
        assert instance["InstanceId"] == fleet.node(name).instance_id

    volumes = ec2.describe_volumes(Filters=[{"Name": "tag:cctview:fleet", "Values": ["local"]}])[
        "Volumes"
    ]
    assert len(volumes) == 2
    for volume in volumes:
        tags = _tags(volume)
        node = fleet.node(tags["cctview:node"])
        assert tags["cctview:generation"] == "1"
        assert volume["Encrypted"] is True
        assert volume["Attachments"][0]["InstanceId"] == node.instance_id
        assert volume["VolumeId"] == node.volume_id
        paths = fleet.paths(node.name)
        assert paths.data.resolve() == (paths.volumes / node.volume_id).resolve()

    aws.s3(stack).head_bucket(Bucket="cctview-local")  # raises if it is missing

    for name in fleet.node_names:
        code, out, err = fleet.ssh(name, "cctview-agent status --json")
        assert code == 0, err
        status = json.loads(out)
        assert status["node"] == name
        assert status["running"] is True


def test_known_hosts_holds_each_node_key_and_a_stranger_is_refused(module_local_fleet, tmp_path):
    fleet = module_local_fleet(nodes=2)  # the same fleet as the test above
    node = fleet.node("node-02")
    hosts = paramiko.HostKeys(fleet.state.known_hosts)
    assert hosts.lookup(f"[127.0.0.1]:{node.ssh_port}") is not None

    client = paramiko.SSHClient()
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    client.load_host_keys(str(empty))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        client.connect(
            "127.0.0.1",
            port=node.ssh_port,
            username=fleet.stack.ssh_user,
            key_filename=fleet.state.ssh_key,
            look_for_keys=False,
            allow_agent=False,
            timeout=10,
        )
    client.close()


def test_sftp_and_the_system_ssh_client_work_with_the_stack(module_local_fleet):
    fleet = module_local_fleet(nodes=2)
    node = fleet.node("node-01")
    client = paramiko.SSHClient()
    client.load_host_keys(fleet.stack.known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        "127.0.0.1",
        port=node.ssh_port,
        username=fleet.stack.ssh_user,
        key_filename=fleet.stack.ssh_key,
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
    )
    try:
        with client.open_sftp() as sftp, sftp.open(str(fleet.paths("node-01").assignment)) as f:
            assert json.loads(f.read()) == []  # idle until `assign`
    finally:
        client.close()

    # OpenSSH's own client, strict about host keys, with nothing but the stack's files.
    run = subprocess.run(
        [
            "ssh",
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={fleet.stack.known_hosts}",
            "-i",
            fleet.stack.ssh_key,
            "-p",
            str(node.ssh_port),
            f"{fleet.stack.ssh_user}@127.0.0.1",
            "echo $CCTVIEW_AGENT_CONFIG $AWS_ENDPOINT_URL",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == [str(fleet.paths("node-01").config), fleet.moto_url]


@pytest.fixture
def cli_fleet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_catalog_path: Path
) -> Iterator[LocalFleet]:
    """A fleet started by `cctview-fleet dev up --json` itself (the fixture uses the library),
    serving the real camera list over plain HTTP."""
    require_sshd()
    monkeypatch.setenv("CCTVIEW_HOME", str(tmp_path))
    try:
        up = ["dev", "up", "--nodes", "2", "--no-https", "--catalog", str(real_catalog_path)]
        up.append("--single-user")  # as root too: this test is about the processes of a fleet
        result = CliRunner().invoke(app, [*up, "--json"])
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        state = load_state()
        assert state is not None and state.complete
        assert summary["moto_url"] == state.moto_url
        assert summary["mode"] == state.mode == "single-user"
        assert summary["catalog_url"].startswith("http://127.0.0.1:")
        assert summary["ca_file"] == ""
        assert [n["name"] for n in summary["nodes"]] == ["node-01", "node-02"]
        assert {p["pid"] for p in summary["processes"]} == {p.pid for p in state.processes}
        with urllib.request.urlopen(summary["catalog_url"], timeout=30) as response:
            assert len(json.loads(response.read())) == 922  # the real list, as served
        yield LocalFleet(tmp_path, state, load_stack("local"))
    finally:
        devfleet.down()


def test_status_up_twice_refused_then_down_stops_every_process_idempotently(cli_fleet):
    fleet = cli_fleet
    runner = CliRunner()
    result = runner.invoke(app, ["dev", "status", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    roles = sorted(p["role"] for p in report["processes"])
    assert roles == ["agent", "agent", "camsim", "moto", "sshd", "sshd"]
    assert all(p["alive"] for p in report["processes"])

    twice = runner.invoke(app, ["dev", "up", "--nodes", "1"])
    assert twice.exit_code == 1
    assert twice.output.strip().splitlines() == [
        f"error: a local fleet is already up in {fleet.state.folder} (6 processes); "
        "run `cctview-fleet dev down` first"
    ]
    assert all(is_alive(r) for r in fleet.state.processes)  # the running fleet is untouched

    # Something an SSH session left running (detached, so no longer below its sshd).
    code, out, _ = fleet.ssh("node-01", "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!")
    assert code == 0
    mark = str(Path(fleet.state.folder))
    stray = next(r for r in marked(mark) if r.pid == int(out.strip()))

    records = list(fleet.state.processes)
    result = runner.invoke(app, ["dev", "down"])
    assert result.exit_code == 0, result.output
    assert "stopped 7 processes" in result.stdout  # 6 started + the stray
    for record in records:
        assert _gone(record), f"{record.name} (pid {record.pid}) still runs after dev down"
    assert marked(mark) == []
    assert _gone(stray)
    assert not stack_path("local").exists()
    assert load_state() is None

    again = runner.invoke(app, ["dev", "down"])
    assert again.exit_code == 0
    assert "no local fleet was running" in again.stdout


def test_missing_sshd_is_one_line_naming_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("CCTVIEW_HOME", str(tmp_path))
    monkeypatch.setenv("CCTVIEW_SSHD", str(tmp_path / "no-such-sshd"))
    result = CliRunner().invoke(app, ["dev", "up"])
    assert result.exit_code == 3
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "no-such-sshd" in lines[0]
    assert "apt-get install openssh-server" in lines[0]
    assert not state_path().exists()


def test_a_failing_step_stops_what_was_started(tmp_path, monkeypatch):
    require_sshd()
    monkeypatch.setenv("CCTVIEW_HOME", str(tmp_path))
    bad = tmp_path / "cameras.json"
    bad.write_text("this is not a camera list")
    started: list[ProcessRecord] = []

    def on_step(description: str) -> None:
        state = load_state()
        if state is not None:
            started[:] = state.processes

    with pytest.raises(devfleet.DevFleetError, match="camsim exited before it was ready"):
        devfleet.up(devfleet.UpOptions(nodes=1, catalog=bad), on_step)
    assert [r.role for r in started] == ["moto"]
    assert all(_gone(r) for r in started)
    assert load_state() is None
    assert not stack_path("local").exists()


def test_bad_flags_are_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("CCTVIEW_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["dev", "up", "--period", "7"])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
    assert "period" in result.output
    missing = CliRunner().invoke(app, ["dev", "up", "--catalog", str(tmp_path / "nope.json")])
    assert missing.exit_code == 1
    assert "is not a file" in missing.output
    assert not os.path.exists(state_path())


def _cli() -> list[str]:
    return [str(Path(sys.executable).parent / "cctview-fleet")]


def _start_up_and_wait(tmp_path: Path, processes: int) -> subprocess.Popen[bytes]:
    """`dev up` as the operator runs it, returned once it has started ``processes``."""
    up = subprocess.Popen(
        [*_cli(), "dev", "up", "--nodes", "2", "--single-user"],
        env={**os.environ, "CCTVIEW_HOME": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = load_state()
        if state is not None and len(state.processes) >= processes:
            return up
        assert up.poll() is None, up.communicate()
        time.sleep(0.02)
    up.kill()
    pytest.fail("dev up did not start its processes within 60 s")


def test_down_stops_what_a_killed_dev_up_left_running(tmp_path, monkeypatch):
    require_sshd()
    monkeypatch.setenv("CCTVIEW_HOME", str(tmp_path))
    mark = str((tmp_path / "local").absolute())
    up = _start_up_and_wait(tmp_path, processes=3)
    up.kill()  # no chance to clean up: only the state file and the marks remain
    up.communicate()
    left = marked(mark)
    assert left, "the killed dev up should have left processes behind for this test"
    report = devfleet.down()
    assert report.was_up
    assert marked(mark) == []
    assert all(_gone(r) for r in left)
    assert load_state() is None
    # nothing that names the fleet's folder runs on: sshd, whose title hides its environment
    # (and so its mark), was the one that used to slip through
    assert [pid for pid, line in _command_lines() if mark.encode() in line] == []


def _command_lines() -> list[tuple[int, bytes]]:
    lines = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            lines.append((int(entry.name), (entry / "cmdline").read_bytes()))
        except OSError:
            continue
    return lines


def test_ctrl_c_during_up_stops_everything_it_started(tmp_path, monkeypatch):
    require_sshd()
    monkeypatch.setenv("CCTVIEW_HOME", str(tmp_path))
    mark = str((tmp_path / "local").absolute())
    # early (emulator and simulator up, nodes still to come), so Ctrl-C lands before `up` ends
    up = _start_up_and_wait(tmp_path, processes=2)
    try:
        up.send_signal(signal.SIGINT)
        _, err = up.communicate(timeout=60)
        assert up.returncode == 130
        assert err.decode().strip().splitlines()[-1] == "interrupted"
        assert marked(mark) == []
        assert load_state() is None
        assert not stack_path("local").exists()
    finally:  # a failed case leaves no fleet running behind it
        up.kill()
        up.communicate()
        devfleet.down()


@pytest.mark.slow
def test_demo_runs_end_to_end_and_leaves_no_process(tmp_path):
    """`make demo` at a reduced scale: every step's real command, then nothing left running.

    Single-user nodes even as root: a Debian node's first boot costs ~30 s a node, and
    test_debian_nodes.py's session fleet runs the same commands against first-booted nodes."""
    require_sshd()
    env = {k: v for k, v in os.environ.items() if k not in ("CCTVIEW_HOME", "CCTVIEW_STACK")}
    env["COLUMNS"] = "200"
    argv = ["--nodes", "2", "--cameras", "80", "--seconds", "6", "--single-user"]
    demo = subprocess.run(
        [sys.executable, "-m", "cctview_fleet.demo", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = demo.stdout
    assert demo.returncode == 0, out[-3000:] + demo.stderr[-2000:]
    for command in (
        "dev up --nodes 2 --period 60 --cameras 80 --single-user",
        "assign --stack local --cameras lower-manhattan",
        "status --stack local",
        "dev down",
    ):
        assert f"$ cctview-fleet {command}" in out
    assert "no process left behind" in out
    home = re.search(r"everything lives in (\S+) ", out)
    assert home is not None
    assert marked(str(Path(home[1]) / "local")) == []
    assert not Path(home[1]).exists()  # removed without --keep


# -- processes: start, check and stop by pid (real processes, no sshd needed) -----------------


def _spawn(tmp_path: Path, code: str, name: str = "probe") -> ProcessRecord:
    record = spawn(
        name, "probe", [sys.executable, "-c", code], tmp_path / f"{name}.log", mark=str(tmp_path)
    )
    wait_for_log_line(record, "ready", timeout=20)
    return record


def test_stop_kills_what_ignores_sigterm(tmp_path):
    stubborn = _spawn(
        tmp_path,
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)",
    )
    assert stop([stubborn], timeout=0.5) == []
    assert _gone(stubborn)


def test_a_recycled_pid_is_never_signalled(tmp_path):
    real = _spawn(tmp_path, "import time; print('ready', flush=True); time.sleep(60)")
    assert real.start_ticks is not None
    impostor = dataclasses.replace(real, start_ticks=real.start_ticks + 1)
    assert not is_alive(impostor)
    assert stop([impostor], timeout=0.5) == []
    assert is_alive(real)  # a different start time: someone else's process, left alone
    assert stop([real]) == []


def test_marked_processes_and_their_children_are_found_and_stopped(tmp_path):
    parent = _spawn(
        tmp_path,
        "import subprocess, sys, time; "
        "kids = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])"
        " for _ in range(2)]; print('ready', flush=True); time.sleep(60)",
    )
    found = {record.pid for record in marked(str(tmp_path))}
    assert parent.pid in found
    assert len(found) == 3  # the parent and both children inherit the mark
    assert stop([parent]) == []
    assert marked(str(tmp_path)) == []
