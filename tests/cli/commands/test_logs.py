"""`cctview-fleet logs` output as a new user meets it: stdout is the agents' JSON lines (for jq),
the reader's own messages go to stderr, naming each node once. Real moto for discovery and a real
(closed) loopback port for a node that cannot be reached."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cctview_fleet.app import app
from cctview_fleet.cloud.stacks import Stack, save_stack
from cctview_fleet.nodes.logtail import LogEvent, notice_text, tagged_line
from tests.cli.catalog_server import closed_port_url
from tests.fixtures.s3 import REGION


def test_a_line_for_a_pipe_is_the_agents_json_with_its_node() -> None:
    line = '{"ts":"2026-12-01T14:00:00.000Z","level":"info","event":"period_closed","n":3}'
    tagged = tagged_line("node-02", line)
    assert json.loads(tagged) == {"node": "node-02", **json.loads(line)}
    assert tagged.startswith('{"node":"node-02","ts":')
    assert json.loads(tagged_line("node-02", "torn li")) == {"node": "node-02", "text": "torn li"}


def test_a_notice_names_its_node_once() -> None:
    error = LogEvent("node-01", "node-01: connection refused; reconnecting in 1 s", notice=True)
    assert notice_text(error) == "node-01: connection refused; reconnecting in 1 s"
    bare = LogEvent("node-01", "tail ended", notice=True)
    assert notice_text(bare) == "node-01: tail ended"


@pytest.fixture
def fleet_with_broken_nodes(moto_server: Any, tmp_path: Path, monkeypatch: Any) -> str:
    """node-01 points SSH at a closed loopback port; node-02 is stopped on the cloud side."""
    name = f"logs-{uuid.uuid4().hex[:8]}"
    port = closed_port_url().split(":")[2].split("/")[0]
    ec2 = moto_server.client("ec2")
    ids = {}
    for node, extra in (
        ("node-01", [{"Key": "cctview:ssh-host", "Value": "127.0.0.1"},
                     {"Key": "cctview:ssh-port", "Value": port}]),
        ("node-02", []),
    ):  # fmt: skip
        tags = [{"Key": "cctview:fleet", "Value": name}, {"Key": "cctview:node", "Value": node}]
        reservation = ec2.run_instances(
            ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags + extra}],
        )  # fmt: skip
        ids[node] = reservation["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[ids["node-02"]])
    monkeypatch.setenv("CCTVIEW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CCTVIEW_STACK", name)
    (tmp_path / "key").write_text("not a key\n")
    save_stack(
        Stack(
            name=name, region=REGION, bucket="no-such-bucket",
            endpoint_url=moto_server.endpoint_url, aws_access_key_id="testing",
            aws_secret_access_key="testing", ssh_key=str(tmp_path / "key"),
            known_hosts=str(tmp_path / "known_hosts"),
        )
    )  # fmt: skip
    return name


def test_follow_writes_its_messages_to_stderr_and_nothing_else_to_stdout(
    fleet_with_broken_nodes: str,
) -> None:
    result = CliRunner().invoke(app, ["logs", "--follow", "--connect-timeout", "3"])
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[-1] == "error: logs failed on 2 of 2 nodes: node-01, node-02"
    messages = lines[:-1]
    assert len(messages) == 2, result.stderr
    assert any(m.startswith("node-02: instance i-") and " is stopped" in m for m in messages)
    assert any(m.startswith("node-01: ") for m in messages)
    assert all(m.count("node-0") == 1 for m in messages), messages
