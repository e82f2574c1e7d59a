"""rotate-volumes: the resumable state machine against a real moto server, and the command line.

The EC2 side is moto's server over HTTP; the node side is the real ``cctview-agent`` (volume
steps, and ``sync`` to the same moto server's S3) run in this process instead of over SSH, so
the state machine is tested step by step without sshd. The last test runs the command on the
local fleet: real sshd, a real agent collecting from the camera simulator, sync to moto's S3.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cctview_agent.cameras import Camera, dump_cameras, parse_cameras
from cctview_agent.config import AgentConfig
from cctview_agent.layout import DataLayout, frame_timestamp
from cctview_agent.main import main as agent_main
from cctview_agent.periods import Period
from cctview_fleet.app import app
from cctview_fleet.cloud.inventory import Node, discover, nodes_from_reservations
from cctview_fleet.cloud.stacks import HOME_ENV, STACK_ENV, Stack, save_stack
from cctview_fleet.devfleet.nodes import NodePaths
from cctview_fleet.errors import UnreachableError, VolumeError
from cctview_fleet.remote.ssh import CommandResult, Connections
from cctview_fleet.rotation.ebs import Ec2Volumes
from cctview_fleet.rotation.nodeside import SshNodeVolumes
from cctview_fleet.rotation.states import NodeRotation, RotateOptions
from tests.fixtures.fleet import LocalFleet
from tests.fixtures.s3 import MotoServer, write_period

PERIOD = 10
CAMERA = "cam-a"
NODE = "node-01"


class LocalConnection:
    """Runs the node's ``cctview-agent`` commands in this process (no SSH, no process start-up):
    the real agent code on the node's folder, with the node's environment.

    ``fail_before`` simulates the operator's link dropping just before a command containing the
    given text (once), which is how a rotation gets interrupted half-way.
    """

    def __init__(self, node: Node, env: dict[str, str]) -> None:
        self.node = node
        self.env = env
        self.fail_before: str | None = None
        self.commands: list[str] = []

    def agent_command(self, *words: str, root: bool = False) -> str:
        return shlex.join(["cctview-agent", *words])

    def run(
        self, command: str, stdin: str | bytes | None = None, *, timeout: float | None = 120.0
    ) -> CommandResult:
        if self.fail_before and self.fail_before in command:
            self.fail_before = None
            raise UnreachableError(self.node.name, f"connection dropped during `{command}`")
        self.commands.append(command)
        program, *argv = shlex.split(command)
        assert program == "cctview-agent" and stdin is None
        out, err = io.StringIO(), io.StringIO()
        with (
            pytest.MonkeyPatch.context() as patch,
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            for key, value in self.env.items():
                patch.setenv(key, value)
            try:
                status = agent_main(argv)
            except SystemExit as exit_:
                status = int(exit_.code or 0)
        return CommandResult(status, out.getvalue(), err.getvalue())


def register_node(ec2: Any, fleet: str) -> str:
    """What Pulumi (or ``dev up``) makes for a node: a tagged instance, an attached generation-1
    volume. moto accepts any AMI id, which spares its slow image catalogue."""

    def tags(kind: str, pairs: dict[str, str]) -> list[dict[str, Any]]:
        return [{"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in pairs.items()]}]

    instance = ec2.run_instances(
        ImageId="ami-12c6146b",
        InstanceType="t2.micro",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=tags(
            "instance",
            {
                "cctview:fleet": fleet,
                "cctview:node": NODE,
                "cctview:ssh-host": "127.0.0.1",
                "cctview:ssh-port": "9",  # discard: nothing listens, connections are refused
            },
        ),
    )["Instances"][0]
    volume = ec2.create_volume(
        AvailabilityZone=instance["Placement"]["AvailabilityZone"],
        Size=8,
        VolumeType="gp3",
        Encrypted=True,
        TagSpecifications=tags(
            "volume", {"cctview:fleet": fleet, "cctview:node": NODE, "cctview:generation": "1"}
        ),
    )
    ec2.attach_volume(
        VolumeId=volume["VolumeId"], InstanceId=instance["InstanceId"], Device="/dev/sdf"
    )
    return str(volume["VolumeId"])


class Rig:
    """One node registered in moto (instance + generation-1 volume) with a node folder."""

    def __init__(self, tmp_path: Path, moto: MotoServer, bucket: str, ec2: Any) -> None:
        self.stack = Stack(
            name=f"t{uuid.uuid4().hex[:10]}",
            endpoint_url=moto.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            bucket=bucket,
            prefix="cctview",
        )
        self.old_volume = register_node(ec2, self.stack.name)
        self.paths = NodePaths(tmp_path / NODE)
        (self.paths.volumes / self.old_volume).mkdir(parents=True)
        self.paths.data.symlink_to(Path("volumes") / self.old_volume)  # as the node's first boot
        config = AgentConfig(
            data_dir=self.paths.data,
            volumes_dir=self.paths.volumes,
            volume_mode="folder",
            period=PERIOD,
            grace=1.0,
            node=NODE,
            status_file=self.paths.status,
            log_file=self.paths.agent_log,
            bucket=bucket,  # the fleet's: only its receipts drain a volume
        )
        self.paths.config.parent.mkdir(parents=True)
        self.paths.config.write_text(config.to_toml())
        # The shared client spares loading EC2's large API model again for every test.
        filters = [{"Name": "tag:cctview:fleet", "Values": [self.stack.name]}]
        (self.node,) = nodes_from_reservations(
            ec2.describe_instances(Filters=filters)["Reservations"]
        )
        self.env = {**moto.env, "CCTVIEW_AGENT_CONFIG": str(self.paths.config)}
        self.conn = LocalConnection(self.node, self.env)
        self.ec2 = Ec2Volumes(self.stack, poll=0.05, timeout=20, ec2=ec2)

    @property
    def old_root(self) -> Path:
        return self.paths.volumes / self.old_volume

    def rotate(self, stack: Stack | None = None, **options: Any) -> Any:
        stack = stack or self.stack
        agent = SshNodeVolumes(self.conn, stack)  # type: ignore[arg-type]
        defaults: dict[str, Any] = {"force": True, "poll": 0.2, "drain_timeout": 20.0}
        return NodeRotation(
            self.node, self.ec2, agent, RotateOptions(**{**defaults, **options})
        ).run()

    def volumes(self) -> dict[str, Any]:
        return {v.volume_id: v for v in self.ec2.node_volumes(NODE)}

    def manifests_in_s3(self, moto: MotoServer) -> list[str]:
        listing = moto.client("s3").list_objects_v2(Bucket=self.stack.bucket, Prefix="cctview/")
        return sorted(
            o["Key"] for o in listing.get("Contents", []) if o["Key"].endswith(".manifest.json")
        )


def closed_periods(root: Path, count: int) -> list[Period]:
    """``count`` past periods of CAMERA with 3 frames each, closed (manifest), not yet synced."""
    first = Period.current(PERIOD).start - PERIOD * (count + 2)
    periods = [Period(first + i * PERIOD, PERIOD) for i in range(count)]
    for period in periods:
        write_period(root, CAMERA, period, 3, node=NODE)
    return periods


@pytest.fixture
def rig(tmp_path: Path, moto_server: MotoServer, s3_bucket: str, ec2_client: Any) -> Rig:
    return Rig(tmp_path, moto_server, s3_bucket, ec2_client)


@pytest.fixture(scope="module")
def ec2_client(moto_server: MotoServer) -> Any:
    return moto_server.client("ec2")


def test_rotation_switches_drains_through_sync_and_deletes_the_old_volume(
    rig: Rig, moto_server: MotoServer
) -> None:
    closed_periods(rig.old_root, 2)
    rotation = rig.rotate()

    assert (rotation.outcome, rotation.old_fate, rotation.verified) == ("rotated", "deleted", 2)
    volumes = rig.volumes()
    assert rig.old_volume not in volumes  # deleted in EC2
    new = volumes[rotation.new_volume]
    assert (new.generation, new.encrypted, new.az) == (2, True, rig.node.az)
    assert (new.instance_id, new.attachment_state) == (rig.node.instance_id, "attached")
    assert new.rotation == "complete"
    assert new.tags["cctview:rotation-from"] == rig.old_volume
    assert new.tags["cctview:fleet"] == rig.stack.name and new.tags["cctview:node"] == NODE
    # the instance names its active volume: a replacement's first boot reads it (user data)
    (instance,) = rig.ec2.ec2.describe_instances(InstanceIds=[rig.node.instance_id])[
        "Reservations"
    ][0]["Instances"]
    assert {t["Key"]: t["Value"] for t in instance["Tags"]}["cctview:data-volume"] == new.volume_id
    # On the node: the link points at the new volume, the old folder is gone...
    assert rig.paths.data.resolve() == (rig.paths.volumes / new.volume_id).resolve()
    assert not rig.old_root.exists()
    # ... and only after both periods were uploaded and verified in S3.
    assert len(rig.manifests_in_s3(moto_server)) == 2


def test_below_the_threshold_nothing_is_created(rig: Rig) -> None:
    rotation = rig.rotate(force=False, threshold=100.0)
    assert rotation.outcome == "skipped" and rotation.new_volume is None
    assert list(rig.volumes()) == [rig.old_volume]


def test_old_volume_is_kept_when_sync_cannot_verify_and_a_rerun_finishes(
    rig: Rig, moto_server: MotoServer
) -> None:
    periods = closed_periods(rig.old_root, 2)
    broken = replace(rig.stack, bucket=f"missing-{uuid.uuid4().hex[:8]}")
    with pytest.raises(VolumeError) as failure:
        rig.rotate(stack=broken)
    message = str(failure.value)
    assert f"syncing the old volume {rig.old_volume} failed, so it is kept" in message
    assert f"rerun `cctview-fleet rotate-volumes {NODE}` to resume" in message
    old = rig.volumes()[rig.old_volume]
    assert old.rotation == "draining" and old.state == "in-use"
    for period in periods:  # every frame still there
        assert len(DataLayout(rig.old_root).frames_in(CAMERA, period)) == 3

    rotation = rig.rotate(force=False)  # the rerun resumes from the tags, no --force needed
    assert rotation.outcome == "resumed" and rotation.old_fate == "deleted"
    assert rig.old_volume not in rig.volumes()
    assert len(rig.manifests_in_s3(moto_server)) == 2


def test_open_periods_keep_the_old_volume_until_they_are_closed(rig: Rig) -> None:
    current = Period.current(PERIOD)
    write_period(rig.old_root, CAMERA, Period(current.start - PERIOD, PERIOD), 2, node=NODE)
    open_frame = DataLayout(rig.old_root).frame_path(CAMERA, current.start_ms)
    open_frame.parent.mkdir(parents=True, exist_ok=True)
    open_frame.write_bytes(b"open period")
    with pytest.raises(VolumeError, match=r"is not drained after 0\.5 s: 1 periods are still open"):
        rig.rotate(drain_timeout=0.5)
    assert rig.volumes()[rig.old_volume].rotation == "draining"
    assert open_frame.exists()


@pytest.mark.parametrize(
    ("interrupt", "tag_after_interrupt"),
    [
        ("volume prepare", "attached"),
        ("volume switch", "prepared"),
        ("volume retire", "switched"),
    ],
)
def test_an_interrupted_rotation_resumes_from_its_tags(
    rig: Rig, moto_server: MotoServer, interrupt: str, tag_after_interrupt: str
) -> None:
    closed_periods(rig.old_root, 1)
    rig.conn.fail_before = interrupt
    with pytest.raises(UnreachableError):
        rig.rotate()
    pending = [v for v in rig.volumes().values() if v.generation == 2]
    assert [v.rotation for v in pending] == [tag_after_interrupt]
    assert rig.old_volume in rig.volumes()

    rotation = rig.rotate(force=False)
    assert rotation.outcome == "resumed" and rotation.new_volume == pending[0].volume_id
    assert rig.old_volume not in rig.volumes()
    assert len([v for v in rig.volumes().values() if v.generation == 2]) == 1  # no second one
    assert rig.paths.data.resolve().name == pending[0].volume_id
    assert len(rig.manifests_in_s3(moto_server)) == 1


def test_keep_old_and_snapshot(rig: Rig) -> None:
    closed_periods(rig.old_root, 1)
    rotation = rig.rotate(keep_old=True, snapshot=True)
    assert rotation.old_fate == "kept" and rotation.snapshot
    old = rig.volumes()[rig.old_volume]
    assert (old.state, old.instance_id, old.rotation) == ("available", None, "kept")
    snapshot = rig.ec2.ec2.describe_snapshots(SnapshotIds=[rotation.snapshot])["Snapshots"][0]
    tags = {t["Key"]: t["Value"] for t in snapshot["Tags"]}
    assert tags["cctview:volume"] == rig.old_volume and snapshot["State"] == "completed"
    assert rig.rotate(force=False, threshold=100.0).outcome == "skipped"  # nothing pending


def test_a_replaced_instance_gets_its_detached_volume_back_and_drained(rig: Rig) -> None:
    """After an instance replacement the node has no active volume and its generation-2 volume
    is detached (Pulumi attaches generation 1 only): --force re-attaches and drains it."""
    second = rig.rotate().new_volume
    periods = closed_periods(rig.paths.volumes / second, 1)
    rig.ec2.detach(rig.ec2.get(second))
    rig.paths.data.unlink()  # the new instance's first boot found no volume to link

    skipped = rig.rotate(force=False, threshold=0.0)
    assert skipped.outcome == "skipped" and "no active volume" in skipped.steps[-1]
    rotation = rig.rotate()
    assert (rotation.old_volume, rotation.generation, rotation.old_fate) == (second, 3, "deleted")
    assert rig.paths.data.resolve().name == rotation.new_volume
    assert second not in rig.volumes()
    receipt = DataLayout(rig.paths.volumes / second).receipt_path(CAMERA, periods[0])
    assert not receipt.parent.parent.parent.exists()  # retired only after its receipt existed


# -- the command line ----------------------------------------------------------------------


@pytest.fixture
def cli_env(rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Rig:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    monkeypatch.setenv(STACK_ENV, rig.stack.name)
    save_stack(rig.stack)
    return rig


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["node-99", "--force"], 1, "error: unknown node node-99; the fleet has: node-01\n"),
        (
            ["--threshold", "150"],
            2,
            "error: --threshold must be a disk use in percent between 0 and 100, not 150; "
            "e.g. --threshold 80\n",
        ),
        (
            ["--force"],
            2,
            "error: --force rotates named nodes only; name them, e.g. "
            "`cctview-fleet rotate-volumes node-01 --force`\n",
        ),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(
    cli_env: Rig, argv: list[str], code: int, message: str
) -> None:
    result = CliRunner().invoke(app, ["rotate-volumes", *argv])
    assert (result.exit_code, result.stderr) == (code, message)
    assert list(cli_env.volumes()) == [cli_env.old_volume]  # nothing was created


def test_cli_names_the_failed_node_in_the_table_and_the_exit(cli_env: Rig) -> None:
    """Over SSH to a node that is not there: the table shows why, the exit names the node."""
    start = time.monotonic()
    result = CliRunner().invoke(
        app,
        ["rotate-volumes", NODE, "--force", "--connect-timeout", "2"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: rotate-volumes failed on 1 of 1 nodes: {NODE}"
    )
    (row,) = [line for line in result.stdout.splitlines() if NODE in line]
    assert "unreachable" in row and "127.0.0.1:9" in row
    assert time.monotonic() - start < 30
    assert list(cli_env.volumes()) == [cli_env.old_volume]  # disk use unknown: nothing created


# -- on the local fleet: real sshd, real agents collecting from the camera simulator ----------


def _fetch_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _assign(fleet: LocalFleet, node: Node, cameras: list[Camera]) -> None:
    with Connections(fleet.stack) as connections:
        connections.get(node).check("cctview-agent assign -", stdin=dump_cameras(cameras))


def _frames_in_s3(fleet: LocalFleet, moto: Any) -> dict[str, set[str]]:
    """Frame names by camera in the manifests uploaded to S3 (the drained old volume's)."""
    names: dict[str, set[str]] = {}
    s3 = moto.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=fleet.stack.bucket):
        for item in page.get("Contents", []):
            if item["Key"].endswith(".manifest.json"):
                body = s3.get_object(Bucket=fleet.stack.bucket, Key=item["Key"])["Body"].read()
                manifest = json.loads(body)
                names.setdefault(manifest["camera_id"], set()).update(
                    frame[0] for frame in manifest["frames"]
                )
    return names


def _frames_on(volume_root: Path) -> dict[str, set[str]]:
    layout = DataLayout(volume_root)
    names: dict[str, set[str]] = {}
    for camera_id in layout.camera_ids():
        for _dir, _subdirs, files in os.walk(layout.camera_dir(camera_id)):
            names.setdefault(camera_id, set()).update(
                f for f in files if frame_timestamp(f) is not None
            )
    return names


def _kill_at(fleet: LocalFleet, ec2: Ec2Volumes, state: str) -> str:
    """Start ``cctview-fleet rotate-volumes NODE --force`` and kill -9 it once a generation-2
    volume carries the rotation tag ``state``; returns what it printed."""
    command = [str(Path(sys.executable).parent / "cctview-fleet"), "rotate-volumes", NODE]
    process = subprocess.Popen(
        [*command, "--force"],
        env=fleet.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if any(v.rotation == state for v in ec2.node_volumes(NODE) if v.generation == 2):
                break
            time.sleep(0.05)
        assert process.poll() is None, "rotate-volumes ended before it could be killed"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        output = process.communicate(timeout=10)[0].decode(errors="replace")
    return output


@pytest.mark.sshd
@pytest.mark.slow
def test_rotation_during_collection_loses_no_frame_and_resumes(
    local_fleet: Any, tmp_path: Path
) -> None:
    fleet = local_fleet(nodes=1, period=5, https=False, cameras=6)
    node = discover(fleet.stack, [NODE])[0]
    old_volume = fleet.node(NODE).volume_id
    cameras = parse_cameras(_fetch_json(fleet.catalog_url))[:3]
    _assign(fleet, node, cameras)
    time.sleep(6)  # more than a period: some closed periods, one open, on the old volume
    ec2 = Ec2Volumes(fleet.stack, poll=0.1)

    # 1. The operator's command is killed (-9) as soon as the new volume is attached.
    killed = _kill_at(fleet, ec2, "attached")
    pending = [v for v in ec2.node_volumes(NODE) if v.generation == 2]
    assert [v.rotation in ("attached", "prepared", "switched") for v in pending] == [True], killed
    new_volume = pending[0].volume_id

    # 2. S3 is broken for the rerun: sync cannot verify, so the old volume must survive.
    save_stack(replace(fleet.stack, bucket=f"missing-{uuid.uuid4().hex[:8]}"))
    runner = CliRunner()
    first = runner.invoke(app, ["rotate-volumes", NODE, "--json"])  # resumes: no --force
    assert first.exit_code == 1, first.output
    (failed,) = json.loads(first.stdout)["nodes"]
    assert failed["error"].startswith(
        f"{NODE}: syncing the old volume {old_volume} failed, so it is kept (draining): "
    )
    assert failed["error"].endswith(
        f"; rerun `cctview-fleet rotate-volumes {NODE}` to resume (the state is in the tags)"
    )
    assert first.stderr.strip() == f"error: rotate-volumes failed on 1 of 1 nodes: {NODE}"
    volumes = {v.volume_id: v for v in ec2.node_volumes(NODE)}
    assert volumes[old_volume].rotation == "draining"
    assert [v.volume_id for v in volumes.values() if v.generation == 2] == [new_volume]
    paths = fleet.paths(NODE)
    assert paths.data.resolve().name == new_volume  # frames already land on the new volume
    assert (paths.volumes / old_volume / "frames").is_dir()

    # 3. S3 is back: the rerun resumes from the tags and finishes.
    save_stack(fleet.stack)
    second = runner.invoke(app, ["rotate-volumes", NODE, "--drain-timeout", "60", "--json"])
    assert second.exit_code == 0, second.output
    (result,) = json.loads(second.stdout)["nodes"]
    assert (result["outcome"], result["old_fate"], result["new_volume"]) == (
        "resumed",
        "deleted",
        new_volume,
    )
    assert old_volume not in {v.volume_id for v in ec2.node_volumes(NODE)}
    assert not (paths.volumes / old_volume).exists()

    time.sleep(2)  # collection goes on on the new volume
    _assign(fleet, node, [])
    time.sleep(2.5)  # requests in flight land
    stats = _fetch_json(f"{fleet.simulator_url}/_sim/stats")["cameras"]
    moto = MotoServer(fleet.moto_url, None, tmp_path / "unused.log")  # type: ignore[arg-type]
    in_s3 = _frames_in_s3(fleet, moto)
    on_new = _frames_on(paths.volumes / new_volume)
    for camera in cameras:
        served = stats[camera.id]
        assert not served["faults"], f"{camera.id} had faults: {served['faults']}"
        before, after = in_s3.get(camera.id, set()), on_new.get(camera.id, set())
        assert min(before) < max(after), "frames on both sides of the switch"
        # Periods of the new volume may be in S3 too: every frame counted once.
        assert len(before | after) == served["new"] > 5, (camera.id, len(before | after), served)
