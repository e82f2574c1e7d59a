"""assign, status, logs, exec, ssh and trust on the real local fleet: moto server, camera
simulator, one OpenSSH sshd and one real agent per node. Exact messages and exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cctview_agent.awscalls import DEPLOYER, acting_as
from cctview_agent.cameras import load_cameras
from cctview_fleet.app import app
from cctview_fleet.cloud import aws
from cctview_fleet.devfleet.processes import descendants
from cctview_fleet.remote import ssh

pytestmark = [pytest.mark.sshd, pytest.mark.slow]

CLI = [str(Path(sys.executable).parent / "cctview-fleet")]


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def fleet3(module_local_fleet: Any) -> Any:
    """Three nodes, a simulator with 40 cameras (the agents poll only what is assigned)."""
    return module_local_fleet(nodes=3, cameras=40, period=60)


@pytest.fixture
def fleet(fleet3: Any, module_local_fleet: Any) -> Any:
    module_local_fleet(nodes=3, cameras=40, period=60)  # points CCTVIEW_HOME at it again
    return fleet3


@pytest.fixture(scope="module")
def twelve_ids(fleet3: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file of 12 camera ids from the simulator's catalog (a selection by id file)."""
    result = cli("assign", "--cameras", "all", "--cameras-per-node", "1000", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    ids = sorted(cid for shard in json.loads(result.stdout)["assignment"].values() for cid in shard)
    assert len(ids) >= 12
    path = tmp_path_factory.mktemp("sel") / "twelve.txt"
    path.write_text("\n".join(ids[:12]) + "\n")
    return path


def assigned_on_node(fleet: Any, name: str) -> list[str]:
    return [c.id for c in load_cameras(fleet.paths(name).assignment)]


def test_assign_then_a_node_joins_and_only_the_minimum_moves(fleet: Any, twelve_ids: Path):
    ec2 = aws.ec2(fleet.stack)
    third = fleet.node("node-03").instance_id
    with acting_as(DEPLOYER):  # someone else stops the instance, not the CLI
        ec2.stop_instances(InstanceIds=[third])
    try:
        first = cli("assign", "--cameras", str(twelve_ids), "--cameras-per-node", "6", "--json")
        assert first.exit_code == 0, first.output
        plan1 = json.loads(first.stdout)
        assert plan1["skipped_nodes"] == {"node-03": "stopped"}
        assert {n: len(ids) for n, ids in plan1["assignment"].items()} == {
            "node-01": 6,
            "node-02": 6,
        }
        assert all(v["cameras"] == 6 for v in plan1["pushed"].values())
    finally:
        with acting_as(DEPLOYER):
            ec2.start_instances(InstanceIds=[third])
    for name in ("node-01", "node-02"):
        assert assigned_on_node(fleet, name) == plan1["assignment"][name]

    ssh.reset_connection_count()
    second = cli("assign", "--cameras", str(twelve_ids), "--cameras-per-node", "6", "--json")
    assert second.exit_code == 0, second.output
    # Reading the current assignment and pushing the new one share one connection per node.
    assert ssh.connections_opened() == {"node-01": 1, "node-02": 1, "node-03": 1}
    plan2 = json.loads(second.stdout)
    loads = {n: len(ids) for n, ids in plan2["assignment"].items()}
    assert loads == {"node-01": 4, "node-02": 4, "node-03": 4}
    moved = plan2["diff"]["moved"]
    # The minimum for 12 cameras going from 6+6 to 4+4+4 is node-03's share: 4.
    assert len(moved) == plan2["minimum_moves"] == 4
    assert {m["to"] for m in moved} == {"node-03"}
    assert plan2["diff"]["added"] == [] and plan2["diff"]["removed"] == []
    assert plan2["current_read_from"] == {"node-01": "node", "node-02": "node", "node-03": "node"}
    for name in ("node-01", "node-02", "node-03"):
        assert assigned_on_node(fleet, name) == plan2["assignment"][name]
    # Recorded, versioned, in the emulated S3; latest.json is the same document.
    s3 = aws.s3(fleet.stack)
    latest = json.loads(
        s3.get_object(
            Bucket=fleet.stack.bucket, Key=f"{fleet.stack.prefix}/assignments/latest.json"
        )["Body"].read()
    )
    versioned = json.loads(
        s3.get_object(Bucket=fleet.stack.bucket, Key=plan2["record"])["Body"].read()
    )
    assert latest == versioned
    assert {n: [c["id"] for c in cams] for n, cams in latest["nodes"].items()} == plan2[
        "assignment"
    ]

    again = cli("assign", "--cameras", str(twelve_ids), "--cameras-per-node", "6", "--dry-run")
    assert again.exit_code == 0, again.output
    assert "0 added, 0 removed, 0 moved (fewest possible: 0)" in again.stdout


def test_assign_plot_draws_a_map(fleet: Any, twelve_ids: Path, tmp_path: Path):
    target = tmp_path / "map.png"
    result = cli(
        "assign",
        "--cameras",
        str(twelve_ids),
        "--cameras-per-node",
        "6",
        "--dry-run",
        "--plot",
        str(target),
    )
    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_too_small_fleet_is_refused_with_the_numbers(fleet: Any, twelve_ids: Path):
    result = cli("assign", "--cameras", str(twelve_ids), "--cameras-per-node", "3")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: 12 cameras need 4 nodes at 3 per node; the fleet has 3; run "
        "`cctview-fleet dev down && cctview-fleet dev up --nodes 4` or pass "
        "--cameras-per-node 4\n"
    )


def test_status_reports_every_node_and_totals(fleet: Any, twelve_ids: Path):
    pushed = cli("assign", "--cameras", str(twelve_ids), "--cameras-per-node", "6")
    assert pushed.exit_code == 0, pushed.output
    deadline = time.monotonic() + 30
    while True:
        result = cli("status", "--json")
        assert result.exit_code == 0, result.output
        document = json.loads(result.stdout)
        if document["totals"]["frames_per_minute"] > 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    nodes = {n["node"]: n for n in document["nodes"]}
    assert sorted(nodes) == ["node-01", "node-02", "node-03"]
    for entry in nodes.values():
        assert entry["ok"] and entry["instance_state"] == "running" and entry["agent_running"]
        assert entry["cameras_assigned"] == 4 and entry["agent_version"]
        assert entry["disk_used_percent"] is not None and entry["active_volume"]
    assert document["totals"]["cameras_assigned"] == 12
    assert document["totals"]["frames_per_minute"] > 0
    version = nodes["node-01"]["agent_version"]
    assert document["totals"]["agent_versions"] == {version: ["node-01", "node-02", "node-03"]}
    assert document["totals"]["mixed_versions"] is False
    table = cli("status")
    assert table.exit_code == 0
    assert all(name in table.stdout for name in ("node-01", "node-02", "node-03", "total"))


def test_logs_without_follow_tag_every_line_with_its_node(fleet: Any, twelve_ids: Path):
    # Not a terminal: each line is the agent's JSON object with "node" first, for jq.
    cli("assign", "--cameras", str(twelve_ids), "--cameras-per-node", "6")
    result = cli("logs", "--no-follow", "--tail", "50")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    for name in ("node-01", "node-02", "node-03"):
        mine = [row for row in rows if row["node"] == name]
        assert mine, f"no line from {name}"
        assert mine[0]["ts"] and next(iter(mine[0])) == "node"
    only = cli("logs", "node-02", "--grep", "assignment", "--since", "1h")
    assert only.exit_code == 0, only.output
    assert only.stdout and all(
        json.loads(line)["node"] == "node-02" and "assignment" in line
        for line in only.stdout.splitlines()
    )


def test_logs_follow_streams_every_node_and_ctrl_c_exits_cleanly(fleet: Any, twelve_ids: Path):
    process = subprocess.Popen(
        [*CLI, "logs", "--follow", "--tail", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=fleet.env(),
    )
    try:
        seen: set[str] = set()
        deadline = time.monotonic() + 60
        while len(seen) < 3 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            seen.add(json.loads(line)["node"])  # every stdout line is JSON (jq-ready)
        # New lines arrive while following: a push reloads every agent, which logs it.
        cli("assign", "--cameras", str(twelve_ids), "--cameras-per-node", "5")
        fresh: set[str] = set()
        while len(fresh) < 3 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if "assignment" in line:
                fresh.add(json.loads(line)["node"])
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert seen == {"node-01", "node-02", "node-03"}
    assert fresh == {"node-01", "node-02", "node-03"}
    assert process.returncode == 130
    assert err == "interrupted\n"


def test_exec_gives_a_per_node_exit_code_table(fleet: Any):
    ok = cli("exec", "--", "echo", "$CCTVIEW_AGENT_CONFIG")
    assert ok.exit_code == 0, ok.output
    for name in ("node-01", "node-02", "node-03"):
        assert f"{name} | {fleet.paths(name).config}" in ok.stdout
    bad = cli("exec", "node-01", "node-03", "--", "test $(hostname) = never || exit 3")
    assert bad.exit_code == 1
    assert bad.stderr == (
        "error: `test $(hostname) = never || exit 3` failed on 2 of 2 nodes: node-01, node-03\n"
    )
    assert "node-02" not in bad.stdout
    listed = cli("exec", "--json", "node-02", "node-03", "--", "echo $CCTVIEW_AGENT_CONFIG; exit 4")
    assert listed.exit_code == 1
    rows = {row["node"]: row for row in json.loads(listed.stdout)}
    assert sorted(rows) == ["node-02", "node-03"]
    for name, row in rows.items():
        assert (row["exit_status"], row["stdout"], row["error"]) == (
            4,
            f"{fleet.paths(name).config}\n",
            None,
        )


def test_ssh_opens_the_system_ssh_with_the_fleet_settings(fleet: Any):
    run = subprocess.run(
        [*CLI, "ssh", "node-02", "--", "echo", "hello", "from", "$CCTVIEW_AGENT_CONFIG"],
        capture_output=True,
        text=True,
        env=fleet.env(),
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"hello from {fleet.paths('node-02').config}\n"


def test_unknown_host_key_is_refused_until_trusted(fleet: Any):
    known_hosts = Path(fleet.state.known_hosts)
    saved = known_hosts.read_text()
    try:
        known_hosts.write_text("")
        result = cli("status", "node-01", "--json")
        assert result.exit_code == 1
        entry = json.loads(result.stdout)["nodes"][0]
        assert entry["error_kind"] == "HostKeyError"
        assert entry["error"].startswith("node-01: unknown host key SHA256:")
        assert known_hosts.read_text() == "", "a refused key must never be added"
        declined = CliRunner().invoke(app, ["trust", "node-01"], input="n\n")
        assert declined.exit_code == 1
        assert declined.stderr.endswith("error: 1 of 1 nodes not trusted: node-01\n")
        assert known_hosts.read_text() == ""
        trusted = cli("trust", "node-01", "--yes", "--json")
        assert trusted.exit_code == 0, trusted.output
        assert json.loads(trusted.stdout)[0]["result"] == "added"
        assert cli("status", "node-01").exit_code == 0
    finally:
        known_hosts.write_text(saved)


def test_unreachable_and_terminated_nodes_are_rows_with_reasons(local_fleet: Any, tmp_path: Path):
    fleet = local_fleet(nodes=3, cameras=20, period=60)
    listed = cli("assign", "--cameras", "all", "--cameras-per-node", "1000", "--dry-run", "--json")
    ids = sorted(i for shard in json.loads(listed.stdout)["assignment"].values() for i in shard)
    selection = tmp_path / "six.txt"
    selection.write_text("\n".join(ids[:6]) + "\n")
    first = cli("assign", "--cameras", str(selection), "--cameras-per-node", "3", "--json")
    assert first.exit_code == 0, first.output
    before = json.loads(first.stdout)["assignment"]

    sshd = next(p for p in fleet.state.processes if p.role == "sshd" and p.node == "node-02")
    os.killpg(sshd.pid, signal.SIGTERM)
    with acting_as(DEPLOYER):  # terminated in the console, not by the CLI
        aws.ec2(fleet.stack).terminate_instances(InstanceIds=[fleet.node("node-03").instance_id])
    started = time.monotonic()
    result = cli("status", "--json", "--connect-timeout", "2")
    elapsed = time.monotonic() - started
    assert result.exit_code == 1
    assert elapsed < 10
    nodes = {n["node"]: n for n in json.loads(result.stdout)["nodes"]}
    assert nodes["node-01"]["ok"] is True
    assert nodes["node-02"]["error_kind"] == "UnreachableError"
    assert "node-02: cannot connect to 127.0.0.1:" in nodes["node-02"]["error"]
    assert nodes["node-03"]["error"] == (
        f"node-03: instance {fleet.node('node-03').instance_id} is terminated: terminated on "
        "the cloud side; run `pulumi up` to replace it"
    )
    assert result.stderr == "error: status failed on 2 of 3 nodes: node-02, node-03\n"

    # assign: node-02 cannot be read, so its part comes from the S3 record; node-03 is gone, so
    # exactly its cameras move; the push reaches node-01 and fails on node-02, said in one line.
    plan = cli("assign", "--cameras", str(selection), "--cameras-per-node", "3", "--json")
    assert plan.exit_code == 1
    assert plan.stderr == "error: assign failed on 1 of 2 nodes: node-02\n"
    document = json.loads(plan.stdout)
    assert document["current_read_from"] == {"node-01": "node", "node-02": "s3", "node-03": "s3"}
    assert document["skipped_nodes"] == {"node-03": "terminated"}
    moved = document["diff"]["moved"]
    assert len(moved) == document["minimum_moves"] == len(before["node-03"]) == 2
    assert {m["from"] for m in moved} == {"node-03"}
    assert set(before["node-01"]) <= set(document["assignment"]["node-01"])
    assert set(before["node-02"]) <= set(document["assignment"]["node-02"])
    assert "error" in document["pushed"]["node-02"]
    assert assigned_on_node(fleet, "node-01") == document["assignment"]["node-01"]


def test_status_flags_a_hung_agent_and_a_node_that_reaches_no_camera(
    local_fleet: Any, tmp_path: Path
):
    fleet = local_fleet(nodes=2, cameras=6, period=60)
    pushed = cli("assign", "--cameras", "all", "--cameras-per-node", "3", "--json")
    assert pushed.exit_code == 0, pushed.output
    deadline = time.monotonic() + 60
    while json.loads(cli("status", "--json").stdout)["totals"]["frames_per_minute"] == 0:
        assert time.monotonic() < deadline, "the agents never stored a frame"
        time.sleep(1)

    camsim = next(p for p in fleet.state.processes if p.role == "camsim")
    supervisor = next(p for p in fleet.state.processes if p.role == "agent" and p.node == "node-02")
    (agent,) = descendants([supervisor])  # the agent runs under its systemd stand-in
    os.kill(camsim.pid, signal.SIGKILL)  # every camera now refuses the connection
    os.kill(agent.pid, signal.SIGSTOP)  # node-02's agent hangs: its status goes stale
    try:
        deadline = time.monotonic() + 60
        while True:
            result = cli("status", "--json")
            nodes = {n["node"]: n for n in json.loads(result.stdout)["nodes"]}
            one, two = nodes["node-01"], nodes["node-02"]
            if (one["problem"] or "").startswith("0 of") and not two["agent_running"]:
                break
            assert time.monotonic() < deadline, (one, two)
            time.sleep(1)
        assert result.exit_code == 1
        assert result.stderr == "error: status: 2 of 2 nodes not collecting: node-01, node-02\n"
        assert one["ok"] is False and one["agent_running"] is True
        assert one["problem"].startswith("0 of 3 cameras reachable: connect: ")
        assert f"127.0.0.1:{camsim.port}" in one["problem"]
        assert two["ok"] is False
        assert two["problem"].startswith(f"agent pid {agent.pid} holds the pid file but its ")
        assert two["problem"].endswith(" old (limit 10 s): hung")
        assert (two["cameras_online"], two["frames_per_minute"]) == (None, None)
        table = CliRunner().invoke(app, ["status"], env={"COLUMNS": "300"})
        assert table.exit_code == 1
        rows = {line.split("│")[1].strip(): line for line in table.stdout.splitlines()
                if line.startswith("│ node-0")}  # fmt: skip
        assert "│ problem: 0 of 3 cameras reachable: connect: " in rows["node-01"]
        assert f"│ down: agent pid {agent.pid} holds the pid file" in rows["node-02"]
        assert "│ -/3 " in rows["node-02"]  # no camera count shown as if live
    finally:
        os.kill(agent.pid, signal.SIGCONT)
