"""`cctview-fleet upgrade`: publish by digest, roll out with the real node scripts, roll back,
resume after a kill; EC2 tags and S3 on the moto server, each node's releases in a folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import uuid
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cctview_agent.awscalls import DEPLOYER, acting_as
from cctview_agent.fleetconstants import AGENT_KEY_TAG, AGENT_TAG, NODE_LOCK_MEMBER, UPGRADE_TAG
from cctview_fleet.app import app
from cctview_fleet.cloud import aws
from cctview_fleet.cloud.inventory import Node, discover
from cctview_fleet.cloud.stacks import HOME_ENV, STACK_ENV, Stack, save_stack
from cctview_fleet.errors import RemoteCommandError
from cctview_fleet.nodes.health import Health
from cctview_fleet.nodes.switchloss import SwitchLoss
from cctview_fleet.rollout.release import Release, ReleaseLayout, ScriptReleases, script
from cctview_fleet.rollout.upgrade import Upgrade, publish
from cctview_fleet.rollout.wheels import build_agent_wheel
from tests.fixtures.s3 import MotoServer

pytestmark = pytest.mark.slow  # each stage builds a real venv (~5 s)
REPO = Path(__file__).resolve().parents[3]
NODES = ("node-01", "node-02", "node-03")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out),
                    str(REPO / "agent")], check=True, capture_output=True)  # fmt: skip
    (found,) = out.glob("*.whl")
    return found


class Nodes:
    """Each node's release folder, link and restart log, under tmp; scripts run with bash."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env
        self.stages: Counter[str] = Counter()
        for name in NODES:
            old = root / name / "venv" / "cctview-agent"
            old.parent.mkdir(parents=True)
            old.write_text("#!/bin/sh\necho cctview-agent 0.0.9\n")
            old.chmod(0o755)
            (root / name / "bin").mkdir()
            os.symlink(old, self.link(name))

    def link(self, name: str) -> Path:
        return self.root / name / "bin" / "cctview-agent"

    def restarts(self, name: str) -> int:
        log = self.root / name / "restarts"
        return len(log.read_text().splitlines()) if log.exists() else 0

    def layout(self, name: str) -> ReleaseLayout:
        base = self.root / name
        return ReleaseLayout(root=str(base / "releases"), link=str(self.link(name)),
                             previous_file=str(base / "state" / "agent-previous"),
                             restart=f"echo restarted >> {base / 'restarts'}",
                             python=sys.executable,
                             pip_install="install -q --no-index")  # fmt: skip

    def run(self, node: Node, text: str) -> str:
        done = subprocess.run(["bash", "-s"], input=text, capture_output=True, text=True,
                              env=self.env, timeout=300, check=False)  # fmt: skip
        if done.returncode:
            raise RemoteCommandError(node.name, "bash -s", done.returncode, done.stderr)
        return done.stdout

    # NodeReleases, with the real scripts and each node's own layout
    def stage(self, node: Node, release: Release) -> str:
        self.stages[node.name] += 1
        return ScriptReleases(self.layout(node.name), self.run).stage(node, release)

    def switch(self, node: Node, release: Release) -> None:
        ScriptReleases(self.layout(node.name), self.run).switch(node, release)

    def rollback(self, node: Node) -> str:
        return ScriptReleases(self.layout(node.name), self.run).rollback(node)

    def current(self, node: Node) -> str:
        return ScriptReleases(self.layout(node.name), self.run).current(node)


@pytest.fixture
def rig(moto_server: MotoServer, s3_bucket: str, s3_env: dict[str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> tuple[Stack, Nodes]:  # fmt: skip
    stack = Stack(name=f"u{uuid.uuid4().hex[:10]}", endpoint_url=moto_server.endpoint_url,
                  bucket=s3_bucket, aws_access_key_id="testing",
                  aws_secret_access_key="testing")  # fmt: skip
    ec2 = moto_server.client("ec2")
    for name in NODES:
        ec2.run_instances(ImageId="ami-12c6146b", InstanceType="t2.micro", MinCount=1, MaxCount=1,
                          TagSpecifications=[{"ResourceType": "instance", "Tags": [
                              {"Key": "cctview:fleet", "Value": stack.name},
                              {"Key": "cctview:node", "Value": name},
                              {"Key": "cctview:ssh-host", "Value": "127.0.0.1"}]}])  # fmt: skip
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    monkeypatch.setenv(STACK_ENV, stack.name)
    save_stack(stack)
    # the releases' venvs import boto3 and the agent's dependencies from this test environment:
    # pip sees node.lock's pins installed there, so the locked install works offline
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    return stack, Nodes(tmp_path / "nodes", env)


def rig_s3(stack: Stack) -> Any:
    """The test's own S3 client (someone with write access to the bucket, not the CLI)."""
    import boto3

    return boto3.client("s3", endpoint_url=stack.endpoint_url, region_name=stack.region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip


def healthy_except(*sick: str) -> Any:
    return lambda node: Health(node, node not in sick, "the agent is not running" if node in sick
                               else "")  # fmt: skip


def tags_of(stack: Stack) -> dict[str, dict[str, str]]:
    return {n.name: dict(n.tags) for n in discover(stack)}


def test_publish_by_digest_never_overwrites(rig: tuple[Stack, Nodes], wheel: Path) -> None:
    stack, _ = rig
    release = publish(stack, wheel)
    assert release.key.startswith("_agent/") and release.key.endswith(wheel.name)
    s3 = rig_s3(stack)
    assert s3.get_object(Bucket=stack.bucket, Key=release.key)["Body"].read() == wheel.read_bytes()
    assert publish(stack, wheel) == release  # again: the same object, nothing replaced
    s3.delete_object(Bucket=stack.bucket, Key=release.key)
    s3.put_object(Bucket=stack.bucket, Key=release.key, Body=b"not the wheel")
    with pytest.raises(Exception, match="does not hash to"):
        publish(stack, wheel)


def test_stage_refuses_a_wrong_digest(rig: tuple[Stack, Nodes], wheel: Path) -> None:
    stack, nodes = rig
    release = publish(stack, wheel)
    forged = Release(release.bucket, release.key, "0" * 64, release.region)
    node = discover(stack, ["node-01"])[0]
    with pytest.raises(RemoteCommandError, match="does not hash to 0000"):
        nodes.run(node, script("stage", nodes.layout("node-01"), forged))
    assert not (Path(nodes.layout("node-01").root) / forged.folder_name).exists()


def test_stage_installs_the_wheels_own_hashed_lock_and_no_range() -> None:
    """As first boot does: the lock out of the (digest-checked) wheel, --require-hashes, then
    the wheel alone; no version range is resolved on the node."""
    release = Release("b", "_agent/ab/cctview_agent-1-py3-none-any.whl", "ab" * 32, "us-east-1")
    text = script("stage", ReleaseLayout(), release)
    assert "LOCK_MEMBER=cctview_agent/locks/node.lock\n" in text
    assert '"$REL/bin/pip" $PIP_INSTALL --require-hashes -r "$REL/node.lock"' in text
    assert '"$REL/bin/pip" $PIP_INSTALL --no-deps "$WHEEL"' in text
    assert text.index("sha256sum --check") < text.index("--require-hashes")
    assert not any(op in text for op in (">=", "<2", "~=", "[s3")), text


def _with_lock_line(good: Path, folder: Path, old: str, new: str) -> Path:
    """``good`` with one line of its node.lock changed (a new digest, so a new release)."""
    folder.mkdir()
    variant = folder / good.name
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(variant, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == NODE_LOCK_MEMBER:
                assert old.encode() in data
                data = data.replace(old.encode(), new.encode())
            target.writestr(item, data)
    return variant


def test_stage_installs_what_the_wheels_lock_pins(
    rig: tuple[Stack, Nodes], wheel: Path, tmp_path: Path
) -> None:
    """A wheel whose lock pins a version nobody has is not staged: the lock is what is installed
    (offline here, as the test installs; on a node from PyPI with the hashes checked)."""
    stack, nodes = rig
    pinned = _with_lock_line(wheel, tmp_path / "pinned", "six==1.17.0", "six==1.0.0")
    release = publish(stack, pinned)
    node = discover(stack, ["node-01"])[0]
    with pytest.raises(RemoteCommandError, match=r"six==1\.0\.0"):
        nodes.run(node, script("stage", nodes.layout("node-01"), release))
    assert not (Path(nodes.layout("node-01").root) / release.folder_name / ".complete").exists()


class Losses:
    """A SwitchLosses that records when it is asked: the restarts each node had by then."""

    def __init__(self, nodes: Nodes) -> None:
        self.nodes = nodes
        self.calls: list[tuple[str, str, int]] = []

    def before(self, node: str) -> frozenset[str]:
        self.calls.append(("before", node, self.nodes.restarts(node)))
        return frozenset({f"{node}-cam"})

    def after(self, node: str, cameras: frozenset[str] | None) -> SwitchLoss:
        self.calls.append(("after", node, self.nodes.restarts(node)))
        assert cameras == {f"{node}-cam"}
        lost = 2 if node == "node-02" else 0
        return SwitchLoss(1, lost, lost, f"{node}-cam")


def test_rolling_upgrade_switches_every_node(rig: tuple[Stack, Nodes], wheel: Path) -> None:
    stack, nodes = rig
    release = publish(stack, wheel)
    losses, said = Losses(nodes), []
    result = Upgrade(stack, release, nodes, healthy_except(), said.append, losses).run(
        discover(stack), max_unavailable=1, dry_run=False)  # fmt: skip
    assert [(n.node, n.outcome) for n in result.nodes] == [(n, "upgraded") for n in NODES]
    # the cameras collecting are read before the switch, the loss counted after it
    assert losses.calls == [(step, n, restarts) for n in NODES
                            for step, restarts in (("before", 0), ("after", 1))]  # fmt: skip
    assert [n.frames_lost.max for n in result.nodes if n.frames_lost] == [0, 2, 0]
    assert "node-02: frames lost in the switch: max 2, median 2 over 1 cameras; MISSES the " \
           "target (<= 1 per camera)" in said  # fmt: skip
    assert not result.stopped
    tags = tags_of(stack)
    for name in NODES:
        target = Path(os.readlink(nodes.link(name)))
        assert target == Path(nodes.layout(name).root) / release.folder_name / "bin" / (
            "cctview-agent"
        ), name
        assert subprocess.run(
            [str(nodes.link(name)), "--version"], capture_output=True, text=True, env=nodes.env
        ).stdout.startswith("cctview-agent ")
        assert nodes.restarts(name) == 1, name
        assert tags[name][UPGRADE_TAG] == f"{release.folder_name}:done"
        assert tags[name][AGENT_TAG] == release.sha256
        assert tags[name][AGENT_KEY_TAG] == release.key  # what a replacement installs


def test_unhealthy_node_is_rolled_back_and_the_rest_untouched(
    rig: tuple[Stack, Nodes], wheel: Path
) -> None:
    stack, nodes = rig
    release = publish(stack, wheel)
    before = {name: os.readlink(nodes.link(name)) for name in NODES}
    result = Upgrade(stack, release, nodes, healthy_except("node-02")).run(
        discover(stack), max_unavailable=1, dry_run=False)  # fmt: skip
    assert [(n.node, n.outcome) for n in result.nodes] == [
        ("node-01", "upgraded"), ("node-02", "rolled back")]  # fmt: skip
    assert result.stopped and result.untouched == ("node-03",)
    assert os.readlink(nodes.link("node-02")) == before["node-02"]  # back on the old agent
    assert nodes.restarts("node-02") == 2  # switched, then rolled back
    assert os.readlink(nodes.link("node-03")) == before["node-03"]
    assert nodes.restarts("node-03") == 0 and nodes.stages["node-03"] == 0
    assert tags_of(stack)["node-02"][UPGRADE_TAG] == f"{release.folder_name}:rolled-back"


class KilledAt(Nodes):
    """The CLI dies (Ctrl-C, a closed laptop) right after node-02 is staged."""

    def switch(self, node: Node, release: Release) -> None:
        if node.name == "node-02" and not getattr(self, "resumed", False):
            raise KeyboardInterrupt
        super().switch(node, release)


def test_killed_upgrade_resumes_from_the_tags(rig: tuple[Stack, Nodes], wheel: Path) -> None:
    stack, plain = rig
    nodes = KilledAt(plain.root.parent / "killed", plain.env)
    release = publish(stack, wheel)
    with pytest.raises(KeyboardInterrupt):
        Upgrade(stack, release, nodes, healthy_except()).run(discover(stack), max_unavailable=1,
                                                            dry_run=False)  # fmt: skip
    assert tags_of(stack)["node-02"][UPGRADE_TAG] == f"{release.folder_name}:staged"
    nodes.resumed = True  # type: ignore[attr-defined]
    result = Upgrade(stack, release, nodes, healthy_except()).run(
        discover(stack), max_unavailable=1, dry_run=False)  # fmt: skip
    assert [(n.node, n.outcome) for n in result.nodes] == [
        ("node-01", "already"), ("node-02", "upgraded"), ("node-03", "upgraded")]  # fmt: skip
    assert nodes.stages == Counter({"node-01": 1, "node-02": 1, "node-03": 1})  # none staged twice
    assert [nodes.restarts(n) for n in NODES] == [1, 1, 1]


def test_lost_tags_do_not_restart_a_switched_node(rig: tuple[Stack, Nodes], wheel: Path):
    """`pulumi up` rewrites the instances' tags: a rerun finds the link already switched."""
    stack, nodes = rig
    release = publish(stack, wheel)
    Upgrade(stack, release, nodes, healthy_except()).run(discover(stack), max_unavailable=1,
                                                         dry_run=False)  # fmt: skip
    ids = [n.instance_id for n in discover(stack)]
    with acting_as(DEPLOYER):  # what a `pulumi up` does to the instances' tags
        aws.ec2(stack).delete_tags(Resources=ids, Tags=[{"Key": UPGRADE_TAG}, {"Key": AGENT_TAG}])
    again = Upgrade(stack, release, nodes, healthy_except()).run(
        discover(stack), max_unavailable=1, dry_run=False)  # fmt: skip
    assert [n.outcome for n in again.nodes] == ["upgraded"] * 3
    assert [nodes.restarts(n) for n in NODES] == [1, 1, 1]  # no second restart
    assert nodes.stages == Counter({n: 1 for n in NODES})


class Counted(Nodes):
    """Counts nodes between the start of their stage and the end of their health check; the
    first two meet at a barrier, which only passes if they are in flight together."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        super().__init__(root, env)
        self.lock, self.in_flight, self.peak = threading.Lock(), 0, 0
        self.barrier = threading.Barrier(2, timeout=120)

    def stage(self, node: Node, release: Release) -> str:
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        if node.name in ("node-01", "node-02"):
            self.barrier.wait()
        return super().stage(node, release)

    def health(self, node: str) -> Health:
        with self.lock:
            self.in_flight -= 1
        return Health(node, True)


def test_max_unavailable_bounds_the_nodes_in_flight(rig: tuple[Stack, Nodes], wheel: Path):
    stack, plain = rig
    nodes = Counted(plain.root.parent / "counted", plain.env)
    release = publish(stack, wheel)
    result = Upgrade(stack, release, nodes, nodes.health).run(
        discover(stack), max_unavailable=2, dry_run=False)  # fmt: skip
    assert [n.outcome for n in result.nodes] == ["upgraded"] * 3
    assert nodes.peak == 2  # node-01 and node-02 together (the barrier), never three


def test_without_a_wheel_it_builds_what_pulumi_up_builds(
    rig: tuple[Stack, Nodes], wheel: Path, tmp_path: Path
) -> None:
    """The same reproducible build as the program: the digest an upgrade rolls out is the one a
    later `pulumi up` declares, so that `up` changes no node's user data."""
    skip = shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    sources = shutil.copytree(REPO / "agent", tmp_path / "checkout" / "agent", ignore=skip)
    result = CliRunner().invoke(app, ["upgrade", "--agent-dir", str(sources), "--dry-run",
                                      "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    program = build_agent_wheel(sources, tmp_path / "as-pulumi-up-builds")
    assert (doc["sha256"], doc["key"]) == (program.sha256, program.key)
    assert (tmp_path / "checkout" / "build" / "agent-wheel" / program.sha256).is_dir()


def test_cli_dry_run_and_bad_input(rig: tuple[Stack, Nodes], wheel: Path, tmp_path: Path):
    stack, _ = rig
    result = CliRunner().invoke(app, ["upgrade", "--wheel", str(wheel), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [(n["node"], n["outcome"]) for n in doc["nodes"]] == [(n, "planned") for n in NODES]
    assert rig_s3(stack).list_objects_v2(Bucket=stack.bucket).get("KeyCount", 0) == 0
    bad = tmp_path / "agent.tar.gz"
    bad.write_text("x")
    result = CliRunner().invoke(app, ["upgrade", "--wheel", str(bad), "--yes"])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {bad} is not a wheel file; leave out --wheel to build the checkout's agent/ "
        "(as `pulumi up` does)\n"
    )
    result = CliRunner().invoke(app, ["upgrade", "--wheel", str(wheel), "--max-unavailable", "0",
                                      "--yes"])  # fmt: skip
    assert result.exit_code == 2
    assert "--max-unavailable must be at least 1, not 0" in result.stderr
    # refused before anything is published: the bucket holds no wheel
    assert rig_s3(stack).list_objects_v2(Bucket=stack.bucket).get("KeyCount", 0) == 0
    not_a_checkout = tmp_path / "elsewhere"
    not_a_checkout.mkdir()
    result = CliRunner().invoke(app, ["upgrade", "--agent-dir", str(not_a_checkout), "--yes"])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {not_a_checkout} holds no agent sources (no pyproject.toml); run `cctview-fleet "
        "upgrade` from a cctview-fleet checkout, or pass --agent-dir DIR or --wheel FILE\n"
    )
