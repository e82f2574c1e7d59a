"""Bad input on every node command: one line that says what is wrong and what to do, a non-zero
exit code, no traceback. The fleet is a stack file pointing at a real moto server with two
tagged instances (no SSH needed: every case here fails before a node is contacted)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cctview_fleet.app import app
from cctview_fleet.cloud.stacks import Stack, save_stack
from tests.fixtures.s3 import REGION


@pytest.fixture(scope="module")
def registered_fleet(moto_server: Any) -> str:
    """A fresh fleet tag with node-01 and node-02 registered in moto, once for the module."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    ec2 = moto_server.client("ec2")
    for node in ("node-01", "node-02"):
        launch(ec2, name, node)
    return name


def launch(ec2: Any, fleet: str, node: str, **extra_tags: str) -> str:
    """One instance tagged as ``node`` of ``fleet``; its instance id."""
    tags = {"cctview:fleet": fleet, "cctview:node": node, **extra_tags}
    reply = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ],
    )
    return str(reply["Instances"][0]["InstanceId"])


@pytest.fixture
def fleet_stack(
    moto_server: Any, registered_fleet: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A stack file for the registered fleet under a fresh CCTVIEW_HOME, chosen by default."""
    monkeypatch.setenv("CCTVIEW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CCTVIEW_STACK", registered_fleet)
    save_stack(
        Stack(
            name=registered_fleet,
            region=REGION,
            bucket="no-such-bucket",
            endpoint_url=moto_server.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            ssh_key=str(tmp_path / "key"),
            known_hosts=str(tmp_path / "known_hosts"),
        )
    )
    return registered_fleet


def run(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


UNKNOWN_NODE = "error: unknown node node-9; the fleet has: node-01, node-02\n"


@pytest.mark.parametrize(
    "args",
    [
        ("status", "node-9"),
        ("logs", "node-9"),
        ("exec", "node-9", "--", "true"),
        ("ssh", "node-9"),
        ("trust", "node-9"),
    ],
)
def test_unknown_node_lists_the_known_ones(fleet_stack: str, args: tuple[str, ...]) -> None:
    result = run(*args)
    assert (result.exit_code, result.stderr) == (1, UNKNOWN_NODE)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("status", "--parallel", "0"),
            "--parallel must be between 1 and 128, not 0; e.g. --parallel 8",
        ),
        (
            ("status", "--connect-timeout", "0"),
            "--connect-timeout must be between 0 and 300 seconds, not 0; e.g. --connect-timeout 5",
        ),
        (("logs", "--since", "5x"), "--since '5x' is not a duration; use e.g. 90s, 15m, 2h or 1d"),
        (("logs", "--tail", "-1"), "--tail must be 0 or more, not -1; e.g. --tail 50"),
        (
            ("exec", "node-01"),
            "exec needs a command after --, e.g. cctview-fleet exec node-01 -- df -h",
        ),
        (
            ("exec", "--", " "),
            "exec needs a command after --, e.g. cctview-fleet exec node-01 -- df -h",
        ),
        (
            ("assign", "--cameras-per-node", "0", "--cameras", "all"),
            "--cameras-per-node must be at least 1, not 0; e.g. --cameras-per-node 21",
        ),
        (
            ("assign",),
            "assign needs a selection: pass --cameras SET (e.g. --cameras lower-manhattan) "
            "or --bbox MINLON,MINLAT,MAXLON,MAXLAT",
        ),
        (
            ("status", "--stack", "no such"),
            "stack name 'no such' is not valid; use letters, digits, '.', '_' or '-', "
            "e.g. --stack dev",
        ),
    ],
)
def test_bad_flags_are_one_line_exit_2(fleet_stack: str, args: tuple[str, ...], message: str):
    result = run(*args)
    assert (result.exit_code, result.stderr) == (2, f"error: {message}\n")


def test_bad_grep_is_one_line(fleet_stack: str) -> None:
    result = run("logs", "--grep", "(")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --grep '(' is not a valid regular expression: ")
    assert result.stderr.count("\n") == 1


def test_unknown_preset_is_a_selection_error(fleet_stack: str) -> None:
    result = run("assign", "--cameras", "atlantis")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and "atlantis" in result.stderr
    assert result.stderr.count("\n") == 1


def test_assign_refuses_an_unsafe_camera_id(fleet_stack: str, tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("cam-1\n../../etc/cron.d\n")
    result = run("assign", "--cameras", str(ids), "--dry-run")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {ids}: camera id '../../etc/cron.d' is not allowed (ids are 1-128 letters, "
        "digits, '.', '_' or '-', starting with a letter or digit)\n"
    )


def test_trust_never_accepts_a_key_for_a_name_two_instances_claim(
    moto_server: Any, fleet_stack: str, tmp_path: Path
) -> None:
    ec2 = moto_server.client("ec2")
    # a second node-02, reachable on loopback
    stray = launch(ec2, fleet_stack, "node-02", **{"cctview:ssh-host": "127.0.0.1"})
    try:
        result = run("trust", "node-02", "--yes")
        assert result.exit_code == 1
        assert result.stderr.startswith("error: node node-02 is claimed by 2 instances: ")
        assert stray in result.stderr and result.stderr.count("\n") == 1
        assert not (tmp_path / "known_hosts").exists()
    finally:
        ec2.terminate_instances(InstanceIds=[stray])  # the module's fleet is shared


def test_missing_stack_says_how_to_create_it(fleet_stack: str) -> None:
    result = run("status", "--stack", "local")
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: no stack named 'local' ({os.environ['CCTVIEW_HOME']}"
        "/stacks/local.json not found); start the local fleet with `cctview-fleet dev up`\n",
    )


def test_plot_needs_an_image_name(fleet_stack: str, tmp_path: Path) -> None:
    target = tmp_path / "map.txt"
    result = run("assign", "--cameras", "all", "--dry-run", "--plot", str(target))
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: --plot {target}: use a .png, .svg or .pdf file name, e.g. --plot assignment.png\n",
    )
    assert not target.exists()


def test_a_stack_without_nodes_says_what_to_do(moto_server: Any, fleet_stack: str) -> None:
    empty = f"e-{uuid.uuid4().hex[:8]}"
    save_stack(
        Stack(
            name=empty,
            endpoint_url=moto_server.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    )
    result = run("status", "--stack", empty)
    assert (result.exit_code, result.stderr) == (
        1,
        f"error: no node carries the tag cctview:fleet={empty} in {moto_server.endpoint_url}; "
        "start it with `cctview-fleet dev up`\n",
    )
