"""`cctview-fleet roll` against the local fleet, with a stand-in `pulumi` that records its calls."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cctview_fleet.app import app
from cctview_fleet.cloud.pulumicli import Pulumi
from cctview_fleet.nodes.health import Health, wait_healthy
from cctview_fleet.rollout.rolling import roll

HERE = Path(__file__).parent
PREFIX = "urn:pulumi:local::cctview-fleet::"


def export_for(nodes: list[str]) -> dict[str, Any]:
    """A `pulumi stack export` of the program's shape for ``nodes``."""
    fleet = "cctview:fleet:Fleet"
    resources: list[dict[str, Any]] = [
        {"urn": f"{PREFIX}pulumi:pulumi:Stack::cctview-fleet-local", "type": "pulumi:pulumi:Stack"},
        {"urn": f"{PREFIX}pulumi:providers:aws::default_7_51_1", "type": "pulumi:providers:aws"},
        {"urn": f"{PREFIX}{fleet}::cctview-local", "type": fleet},
        {"urn": f"{PREFIX}{fleet}$cctview:fleet:SshAccess$aws:ec2/keyPair:KeyPair::ssh-key",
         "type": "aws:ec2/keyPair:KeyPair"},
    ]  # fmt: skip
    for node in nodes:
        base = f"{PREFIX}{fleet}$cctview:fleet:Node$"
        resources += [
            {"urn": f"{base}aws:ebs/volume:Volume::{node}-data", "type": "aws:ebs/volume:Volume"},
            {"urn": f"{base}aws:ec2/instance:Instance::{node}-instance",
             "type": "aws:ec2/instance:Instance",
             "outputs": {"tags": {"cctview:fleet": "local", "cctview:node": node}}},
            {"urn": f"{base}aws:ec2/volumeAttachment:VolumeAttachment::{node}-attach",
             "type": "aws:ec2/volumeAttachment:VolumeAttachment"},
        ]  # fmt: skip
    return {"version": 3, "deployment": {"resources": resources}}


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in installed as $CCTVIEW_PULUMI; returns the log it writes."""
    exe = tmp_path / "pulumi"
    exe.write_text(f"#!{sys.executable}\n" + (HERE.parent / "standin_pulumi.py").read_text())
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "calls.jsonl"
    export = tmp_path / "export.json"
    export.write_text(json.dumps(export_for(["node-01", "node-02", "node-03"])))
    monkeypatch.setenv("CCTVIEW_PULUMI", str(exe))
    monkeypatch.setenv("STANDIN_LOG", str(log))
    monkeypatch.setenv("STANDIN_EXPORT", str(export))
    return log


def calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def targets(call: dict[str, Any]) -> list[str]:
    args = call["args"]
    return [args[i + 1] for i, word in enumerate(args) if word == "--target"]


def cli(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture(scope="module")
def fleet(module_local_fleet: Any) -> Any:
    return module_local_fleet(nodes=3, cameras=12, period=60)


def test_roll_steps_one_node_at_a_time_with_health_checks(fleet: Any, standin: Path) -> None:
    result = cli("roll", "--yes", "--json", "--health-timeout", "60")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["finished"] is True
    assert [(s["node"], s["healthy"]) for s in doc["steps"]] == [
        ("node-01", True), ("node-02", True), ("node-03", True)
    ]  # fmt: skip
    made = calls(standin)
    assert made[0]["args"] == ["stack", "export", "--stack", "local"]
    shared = made[1]
    assert shared["args"][:3] == ["up", "--yes", "--skip-preview"] and shared["roll"] == "1"
    assert all("Instance" not in t and "Attachment" not in t for t in targets(shared))
    assert any(t.endswith("KeyPair::ssh-key") for t in targets(shared))
    assert not any(t.endswith("Stack::cctview-fleet-local") or "providers" in t
                   for t in targets(shared))  # fmt: skip
    for call, node in zip(made[2:5], ["node-01", "node-02", "node-03"], strict=True):
        assert targets(call) == [
            f"{PREFIX}cctview:fleet:Fleet$cctview:fleet:Node$aws:ec2/instance:Instance::"
            f"{node}-instance"
        ]
        assert "--target-dependents" in call["args"]
        assert call["roll"] == node  # the program's guard lets this targeted up through
    assert made[5] == {"args": ["up", "--yes", "--skip-preview", "--stack", "local"],
                       "roll": None}  # fmt: skip
    assert len(made) == 6


def test_roll_stops_at_an_unhealthy_node_and_leaves_the_rest(
    fleet: Any, standin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node02 = fleet.node("node-02").instance_id
    monkeypatch.setenv("STANDIN_STOP", f"node-02-instance={node02}")
    monkeypatch.setenv("AWS_ENDPOINT_URL", fleet.moto_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", fleet.stack.region)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", fleet.stack.aws_access_key_id or "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", fleet.stack.aws_secret_access_key or "testing")
    try:
        result = cli("roll", "--yes", "--health-timeout", "2")
        assert result.exit_code == 1, result.output
        assert result.stderr.splitlines()[-1] == (
            f"error: roll stopped at node-02: it is not healthy (instance {node02} is stopped; "
            f"start it (`aws ec2 start-instances --instance-ids {node02}`) or run `pulumi up`); "
            "not touched: node-03. Fix node-02 (cctview-fleet status/logs "
            "node-02), then run `cctview-fleet roll` again to resume"
        )
        assert "not touched" in result.stdout
        made = calls(standin)
        assert len(made) == 4  # export, shared, node-01, node-02: node-03 and the rest not run
        assert not any(t.endswith("node-03-instance") for c in made for t in targets(c))
    finally:
        import boto3

        boto3.client("ec2").start_instances(InstanceIds=[node02])


def test_pulumi_failure_is_one_line(fleet: Any, standin: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("STANDIN_FAIL_ON", "node-01-instance")
    result = cli("roll", "--yes")
    assert result.exit_code == 1
    last = result.stderr.splitlines()[-1]  # after the progress lines
    assert last.startswith("error: `pulumi up --yes --skip-preview --target ")
    assert last.endswith(
        "exited with 255: error: update failed: creating EC2 Instance: InsufficientInstanceCapacity"
    )
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [last]


def test_unknown_node_and_missing_pulumi(
    fleet: Any, standin: Path, monkeypatch: pytest.MonkeyPatch
):
    result = cli("roll", "--yes", "node-09")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: node-09 has no instance in the stack's state; nodes: node-01, node-02, node-03\n"
    )
    monkeypatch.setenv("CCTVIEW_PULUMI", "/nonexistent/pulumi")
    result = cli("roll", "--yes")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: `pulumi` is not installed or not on PATH;")


def test_wait_healthy_polls_until_healthy_or_timeout() -> None:
    looks = iter([Health("n", False, "booting"), Health("n", False, "no frames"),
                  Health("n", True)])  # fmt: skip
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    assert wait_healthy(lambda: next(looks), timeout=60, interval=10, sleep=sleep,
                        clock=lambda: now[0]).healthy  # fmt: skip
    assert slept == [10, 10]
    stuck = wait_healthy(lambda: Health("n", False, "booting"), timeout=25, interval=10,
                         sleep=sleep, clock=lambda: now[0])  # fmt: skip
    assert (stuck.healthy, stuck.why) == (False, "booting")


def test_named_nodes_skip_the_final_plain_up(fleet: Any, standin: Path) -> None:
    result = cli("roll", "--yes", "node-02", "--health-timeout", "60")
    assert result.exit_code == 0, result.output
    made = calls(standin)
    assert [targets(c)[-1].rsplit("::", 1)[-1] for c in made[2:]] == ["node-02-instance"]
    assert len(made) == 3  # export, shared, node-02: no plain `up` the guard would refuse


def test_roll_plan_without_a_fleet(tmp_path: Path, standin: Path) -> None:
    """The steps' order and env, with a health check that fails the second node."""
    pulumi = Pulumi(str(tmp_path / "pulumi"), "local")
    result = roll(pulumi, lambda node: Health(node, node != "node-02", "sick"),
                  nodes=["node-03", "node-02", "node-01"])  # fmt: skip
    assert [s.node for s in result.steps] == ["node-01", "node-02"]
    assert result.skipped == ("node-03",)
    assert not result.finished


def test_a_replaced_node_whose_key_nothing_vouches_for_stops_the_roll(
    fleet: Any, standin: Path
) -> None:
    """After its step a node presents a host key the fleet does not know and the console does
    not print (the emulator prints none): the roll stops, nothing is trusted blindly."""
    known_hosts = Path(fleet.state.known_hosts)
    saved = known_hosts.read_text()
    try:
        known_hosts.write_text("")
        result = cli("roll", "--yes", "node-01", "--health-timeout", "5")
        assert result.exit_code == 1
        last = result.stderr.splitlines()[-1]
        assert last.startswith("error: node-01: is a new instance (")
        assert last.endswith(
            "nothing vouches for (no console fingerprints); confirm it with `cctview-fleet trust "
            "node-01`, then run the command again to resume"
        )
        assert known_hosts.read_text() == ""
    finally:
        known_hosts.write_text(saved)


def test_a_rotated_node_replaced_by_roll_gets_its_volume_back(
    fleet: Any, standin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Last in this module (node-03's instance is replaced for good). node-03 is rotated in EC2's
    terms (generation 1 gone, generation 2 attached at the device rotation picked, the instance
    tagged with it); the stand-in replaces its instance as Pulumi would (terminate, a new one
    with its tags, so the same local node answers SSH). `roll` attaches generation 2 to the new
    instance at /dev/sdf, then its health check passes."""
    import boto3

    for key, value in {"AWS_ENDPOINT_URL": fleet.moto_url,
                       "AWS_DEFAULT_REGION": fleet.stack.region,
                       "AWS_ACCESS_KEY_ID": fleet.stack.aws_access_key_id or "testing",
                       "AWS_SECRET_ACCESS_KEY": fleet.stack.aws_secret_access_key or "testing",
                       }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    ec2 = boto3.client("ec2")
    old = fleet.node("node-03").instance_id
    (instance,) = ec2.describe_instances(InstanceIds=[old])["Reservations"][0]["Instances"]
    for first in ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [old]},
                 {"Name": "tag:cctview:generation", "Values": ["1"]}])["Volumes"]:  # fmt: skip
        ec2.detach_volume(VolumeId=first["VolumeId"], InstanceId=old)
        ec2.delete_volume(VolumeId=first["VolumeId"])
    identity = {"cctview:fleet": "local", "cctview:node": "node-03", "cctview:generation": "2"}
    second = ec2.create_volume(
        AvailabilityZone=instance["Placement"]["AvailabilityZone"], Size=1,
        TagSpecifications=[{"ResourceType": "volume",
                            "Tags": [{"Key": k, "Value": v} for k, v in identity.items()]}],
    )["VolumeId"]  # fmt: skip
    ec2.attach_volume(VolumeId=second, InstanceId=old, Device="/dev/sdg")
    ec2.create_tags(Resources=[old], Tags=[{"Key": "cctview:data-volume", "Value": second}])
    monkeypatch.setenv("STANDIN_REPLACE", f"node-03-instance={old}")

    result = cli("roll", "--yes", "node-03", "--health-timeout", "60")
    assert result.exit_code == 0, result.output
    (replaced,) = [line for line in calls(standin) if "replaced" in line]
    new = replaced["by"]
    assert replaced["replaced"] == old and new != old
    (found,) = ec2.describe_volumes(VolumeIds=[second])["Volumes"]
    assert [(a["InstanceId"], a["Device"], a["State"]) for a in found["Attachments"]] == [
        (new, "/dev/sdf", "attached")
    ]
    assert (f"node-03: attached its data volume {second} to {new} at /dev/sdf (a rotated volume "
            "Pulumi does not attach)") in " ".join(result.stderr.split())  # fmt: skip
    assert "healthy" in result.stdout
