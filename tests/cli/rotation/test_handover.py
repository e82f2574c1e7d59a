"""A rotated node replaced by `roll` boots with its current volume: the decision, and `roll`
against moto's server with the stand-in `pulumi` replacing the instance as Pulumi would."""

from __future__ import annotations

import json
import stat
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cctview_agent.fleetconstants import DATA_VOLUME_DEVICE, DATA_VOLUME_TAG
from cctview_fleet.app import app
from cctview_fleet.cloud.inventory import Node
from cctview_fleet.cloud.pulumicli import Pulumi
from cctview_fleet.cloud.stacks import HOME_ENV, STACK_ENV, Stack, save_stack
from cctview_fleet.cloud.volumes import DataVolume
from cctview_fleet.errors import RolloutError, VolumeError
from cctview_fleet.nodes.health import Health
from cctview_fleet.rollout.rolling import StoppedBy, raise_unless_finished, roll
from cctview_fleet.rotation.handover import Action, decide, hand_over
from cctview_infra.userdata import ATTACH_DEVICE
from tests.cli.commands.test_roll import export_for
from tests.fixtures.s3 import MotoServer

HERE = Path(__file__).parent
NEW, OLD, VOL = "i-new", "i-old", "vol-0123456789abcdef0"


def node(state: str = "running", az: str = "us-east-1a", volume: str = VOL) -> Node:
    tags = {DATA_VOLUME_TAG: volume} if volume else {}
    return Node("node-03", NEW, state, az=az, tags=tags)


def volume(state: str = "available", *, on: str | None = None, attachment: str | None = None,
           az: str = "us-east-1a") -> DataVolume:  # fmt: skip
    return DataVolume(VOL, state, 8, az, instance_id=on, device="/dev/sdg" if on else None,
                      attachment_state=attachment or ("attached" if on else None))  # fmt: skip


def test_the_device_is_the_one_the_user_data_waits_on() -> None:
    assert DATA_VOLUME_DEVICE == ATTACH_DEVICE == "/dev/sdf"


@pytest.mark.parametrize(
    ("the_node", "the_volume", "holder", "action"),
    [
        (node(volume=""), None, None, Action.NONE),  # no tag: the first boot says what to do
        (node("terminated"), volume(), None, Action.NONE),  # the health check says it
        (node(), volume("in-use", on=NEW), None, Action.ATTACHED),  # not replaced, or gen 1
        (node(), volume("in-use", on=NEW, attachment="attaching"), None, Action.WAIT),
        (node(), volume("in-use", on=OLD, attachment="detaching"), "terminated", Action.WAIT),
        (node(), volume("in-use", on=OLD), "shutting-down", Action.WAIT),
        (node(), volume("in-use", on=OLD), None, Action.WAIT),  # EC2 forgot the old instance
        (node(), volume("creating"), None, Action.WAIT),
        (node("pending"), volume(), None, Action.WAIT),
        (node(), volume(), None, Action.ATTACH),  # the rotated volume, free after the replace
        (node("stopped"), volume(), None, Action.ATTACH),
    ],
)
def test_decide(the_node: Node, the_volume: DataVolume | None, holder: str | None,
                action: Action) -> None:  # fmt: skip
    assert decide(the_node, the_volume, holder).action is action


@pytest.mark.parametrize(
    ("the_volume", "holder", "message"),
    [
        (None, None,
         f"node-03: its data volume {VOL} (the cctview:data-volume tag of {NEW}) no longer exists "
         f"in EC2; tag {NEW} with the node's current volume (`aws ec2 create-tags --resources "
         f"{NEW} --tags Key=cctview:data-volume,Value=vol-...`), then run `cctview-fleet roll "
         "node-03` again"),
        (volume("deleting"), None, "no longer exists in EC2"),
        (volume("error"), None, f"node-03: its data volume {VOL} is in state 'error' in EC2;"),
        (volume(az="us-east-1b"), None,
         f"node-03: its data volume {VOL} is in us-east-1b but its new instance {NEW} is in "
         "us-east-1a, and a volume cannot change zones; put the fleet back (`pulumi config set "
         "availabilityZone us-east-1b`), then run `cctview-fleet roll node-03` again"),
        (volume("in-use", on="i-other"), "running",
         f"node-03: its data volume {VOL} is attached to i-other (running), not to the node's "
         f"instance {NEW}; if that instance is not this node's, detach it there (`aws ec2 "
         f"detach-volume --volume-id {VOL}`), then run `cctview-fleet roll node-03` again"),
        (volume("in-use", on="i-other"), "stopped", "is attached to i-other (stopped)"),
    ],
)  # fmt: skip
def test_decide_refuses_what_waiting_cannot_fix(
    the_volume: DataVolume | None, holder: str | None, message: str
) -> None:
    with pytest.raises(VolumeError) as caught:
        decide(node(), the_volume, holder)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_volume_problem_stops_the_roll_before_the_health_check(tmp_path: Path) -> None:
    looked: list[str] = []

    def health(name: str) -> Health:
        looked.append(name)
        return Health(name, True)

    def hand(name: str) -> str:
        if name == "node-02":
            raise VolumeError(f"{name}: its data volume vol-1 is gone; do this")
        return ""

    result = _standin_roll(tmp_path, health, hand)
    assert looked == ["node-01"]
    assert [(s.node, s.healthy, s.stopped_by) for s in result.steps] == [
        ("node-01", True, StoppedBy.HEALTH), ("node-02", False, StoppedBy.VOLUME)
    ]  # fmt: skip
    assert result.skipped == ("node-03",)
    with pytest.raises(RolloutError) as caught:
        raise_unless_finished(result)
    assert str(caught.value) == (
        "roll stopped at node-02: its data volume vol-1 is gone; do this; not touched: node-03"
    )


def _standin_roll(tmp_path: Path, health: Any, hand: Any) -> Any:
    export = tmp_path / "export.json"
    export.write_text(json.dumps(export_for(["node-01", "node-02", "node-03"])))
    exe = _standin(tmp_path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STANDIN_LOG", str(tmp_path / "calls.jsonl"))
        patch.setenv("STANDIN_EXPORT", str(export))
        return roll(Pulumi(str(exe), "local"), health, hand_over=hand)


def _standin(tmp_path: Path) -> Path:
    exe = tmp_path / "pulumi"
    exe.write_text(f"#!{sys.executable}\n" + (HERE.parent / "standin_pulumi.py").read_text())
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


class RotatedFleet:
    """One node in moto, rotated: generation 1 retired and gone, generation 2 attached at the
    device rotate-volumes picked and named by the instance's data-volume tag."""

    def __init__(self, moto: MotoServer, tmp_path: Path) -> None:
        self.ec2 = moto.client("ec2")
        self.name = f"r{uuid.uuid4().hex[:10]}"
        self.stack = Stack(
            name=self.name,
            endpoint_url=moto.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        identity = {"cctview:fleet": self.name, "cctview:node": "node-01"}
        instance = self.ec2.run_instances(
            ImageId="ami-12c6146b", InstanceType="t2.micro", MinCount=1, MaxCount=1,
            TagSpecifications=[{"ResourceType": "instance", "Tags": _tags(identity)}],
        )["Instances"][0]  # fmt: skip
        self.old = str(instance["InstanceId"])
        self.zone = str(instance["Placement"]["AvailabilityZone"])
        self.volume = str(self.ec2.create_volume(
            AvailabilityZone=self.zone, Size=8, VolumeType="gp3",
            TagSpecifications=[{"ResourceType": "volume", "Tags": _tags(
                {**identity, "cctview:generation": "2", "cctview:rotation": "complete"})}],
        )["VolumeId"])  # fmt: skip
        self.ec2.attach_volume(VolumeId=self.volume, InstanceId=self.old, Device="/dev/sdg")
        self.ec2.create_tags(Resources=[self.old], Tags=_tags({DATA_VOLUME_TAG: self.volume}))
        export = tmp_path / "export.json"
        doc = export_for(["node-01"])
        for resource in doc["deployment"]["resources"]:
            if "outputs" in resource:
                resource["outputs"]["tags"]["cctview:fleet"] = self.name
        export.write_text(json.dumps(doc))
        self.export = export

    def attachment(self) -> tuple[str | None, str | None, str]:
        (found,) = self.ec2.describe_volumes(VolumeIds=[self.volume])["Volumes"]
        attached = [a for a in found.get("Attachments") or [] if a["State"] != "detached"]
        if not attached:
            return None, None, found["State"]
        return attached[0]["InstanceId"], attached[0]["Device"], found["State"]


def _tags(pairs: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in pairs.items()]


@pytest.fixture
def rotated(moto_server: MotoServer, s3_env: dict[str, str], tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> RotatedFleet:  # fmt: skip
    """The rotated fleet as the CLI's current stack, the stand-in as its Pulumi, replacing the
    node's instance on its `up` (terminate, then a new instance with its tags)."""
    fleet = RotatedFleet(moto_server, tmp_path)
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    monkeypatch.setenv(STACK_ENV, fleet.name)
    save_stack(fleet.stack)
    monkeypatch.setenv("CCTVIEW_PULUMI", str(_standin(tmp_path)))
    monkeypatch.setenv("STANDIN_LOG", str(tmp_path / "calls.jsonl"))
    monkeypatch.setenv("STANDIN_EXPORT", str(fleet.export))
    monkeypatch.setenv("STANDIN_REPLACE", f"node-01-instance={fleet.old}")
    return fleet


def replacements(log: Path) -> list[dict[str, str]]:
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    return [line for line in lines if "replaced" in line]


def test_the_gap_without_a_hand_over(rotated: RotatedFleet, tmp_path: Path) -> None:
    """What a replacement did before: the old instance terminated, the rotated volume detached,
    and nothing attached it to the new instance (its first boot would wait 15 minutes)."""
    result = roll(Pulumi(str(tmp_path / "pulumi"), rotated.name), lambda n: Health(n, True))
    assert result.finished
    (replaced,) = replacements(tmp_path / "calls.jsonl")
    assert replaced["replaced"] == rotated.old
    assert rotated.attachment() == (None, None, "available")


def test_a_rotated_node_rolled_gets_its_current_volume_back(rotated: RotatedFleet,
                                                            tmp_path: Path) -> None:  # fmt: skip
    # what went wrong before: the replacement leaves the rotated volume detached
    reported: list[str] = []
    looked: list[tuple[str, str | None]] = []

    def health(name: str) -> Health:
        looked.append((name, rotated.attachment()[0]))
        return Health(name, True)

    result = roll(
        Pulumi(str(tmp_path / "pulumi"), rotated.name), health, report=reported.append,
        hand_over=lambda name: hand_over(rotated.stack, name, timeout=60, interval=0.2).describe(),
    )  # fmt: skip
    assert result.finished
    (replaced,) = replacements(tmp_path / "calls.jsonl")
    assert replaced["replaced"] == rotated.old
    new = replaced["by"]
    assert rotated.attachment() == (new, DATA_VOLUME_DEVICE, "in-use")
    assert looked == [("node-01", new)]  # attached before the health check looked
    assert (f"node-01: attached its data volume {rotated.volume} to {new} at /dev/sdf (a rotated "
            "volume Pulumi does not attach)") in reported  # fmt: skip
    # a second roll: the up is a no-op (nothing replaced), nothing to hand over
    (tmp_path / "calls.jsonl").write_text("")
    again = hand_over(rotated.stack, "node-01", timeout=5, interval=0.2)
    assert (again.attached, again.instance_id, again.volume_id) == (False, new, rotated.volume)


def test_the_roll_command_stops_when_the_volume_is_held_elsewhere(
    rotated: RotatedFleet, tmp_path: Path
) -> None:
    """After the replace someone attached the volume to a running instance: one line naming the
    volume, exit 1, and the health check (which needs SSH) never runs."""
    made = rotated.ec2.run_instances(
        ImageId="ami-12c6146b", InstanceType="t2.micro", MinCount=1, MaxCount=1
    )
    other = made["Instances"][0]["InstanceId"]
    rotated.ec2.detach_volume(VolumeId=rotated.volume, InstanceId=rotated.old)
    rotated.ec2.attach_volume(VolumeId=rotated.volume, InstanceId=other, Device="/dev/sdh")
    result = CliRunner().invoke(app, ["roll", "--yes", "--json", "--health-timeout", "5"],
                                env={"COLUMNS": "200"})  # fmt: skip
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == 1, result.output
    (replaced,) = replacements(tmp_path / "calls.jsonl")
    new = replaced["by"]
    assert result.stderr.splitlines()[-1] == (
        f"error: roll stopped at node-01: its data volume {rotated.volume} is attached to "
        f"{other} (running), not to the node's instance {new}; if that instance is not this "
        f"node's, detach it there (`aws ec2 detach-volume --volume-id {rotated.volume}`), then "
        "run `cctview-fleet roll node-01` again; not touched: none"
    )
    doc = json.loads(result.stdout)
    assert doc["steps"][0]["stopped_by"] == "volume" and doc["finished"] is False
    assert rotated.attachment()[0] == other  # nothing was taken from the other instance


class FakeVolumes:
    """EC2 as the hand-over sees it, answering from a script: the volume detaching from the old
    instance for ``busy`` looks, then available; records the attachment asked for."""

    def __init__(self, busy: int) -> None:
        self.busy = busy
        self.attached: list[tuple[str, str, str | None]] = []

    def get(self, volume_id: str) -> DataVolume:
        if self.busy > 0:
            self.busy -= 1
            return volume("in-use", on=OLD, attachment="detaching")
        return volume()

    def instance_state(self, instance_id: str) -> str:
        return "terminated"

    def attach(self, found: DataVolume, instance_id: str, *, device: str | None = None) -> None:
        self.attached.append((found.volume_id, instance_id, device))


def test_hand_over_waits_for_the_old_instance_to_let_go(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cctview_fleet.rotation.handover.discover", lambda stack, names: [node()])
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    fake = FakeVolumes(busy=3)
    done = hand_over(Stack(name="t"), "node-03", timeout=60, interval=5, volumes=fake,  # type: ignore[arg-type]
                     sleep=sleep, clock=lambda: now[0])  # fmt: skip
    assert fake.attached == [(VOL, NEW, "/dev/sdf")]
    assert (done.attached, done.waited_s) == (True, 15.0)
    assert done.describe().endswith("(a rotated volume Pulumi does not attach, after 15 s for it "
                                    "to come free)")  # fmt: skip
    stuck = FakeVolumes(busy=100)
    with pytest.raises(VolumeError) as caught:
        hand_over(Stack(name="t"), "node-03", timeout=20, interval=5, volumes=stuck,  # type: ignore[arg-type]
                  sleep=sleep, clock=lambda: now[0])  # fmt: skip
    assert str(caught.value) == (
        f"node-03: its data volume {VOL} is still detaching from {OLD} after 20 s; attach it to "
        f"{NEW} at /dev/sdf when it is free, then run `cctview-fleet roll node-03` again"
    )
    assert stuck.attached == []
