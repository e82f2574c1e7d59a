"""``cctview-fleet upgrade``: a rolling agent upgrade that survives its own interruption.

1. **publish**: the wheel goes to ``_agent/<sha256>/<filename>`` in the fleet's bucket (the key
   scheme the Pulumi program uses), never over a different object, and is read back and hashed;
2. **per node**, at most ``max_unavailable`` at a time: stage (download, check the digest,
   install beside the running agent), switch (move the link, restart), check health through
   ``status``; an unhealthy node is rolled back at once (the link goes back, restart) and the
   upgrade stops there, the remaining nodes untouched; a healthy one's frames lost in the switch
   are counted (:class:`SwitchLosses`, :mod:`cctview_fleet.nodes.switchloss`) and reported;
3. **progress in EC2 tags**: ``cctview:upgrade=<sha16>:<step>`` on each instance after each step
   (as rotate-volumes keeps its state on volumes), so a killed CLI, or another operator, resumes
   where it stopped: done nodes are skipped, a staged or switched node repeats the next step.
   A finished node also gets ``cctview:agent-sha256`` and ``cctview:agent-key``: which wheel it
   runs, and what a replacement's user data installs at boot. The program declares the
   instances' tags and keeps these two as it finds them, but drops the progress tag at the next
   ``pulumi up``; a node whose link already points at the release is then only health-checked,
   never restarted twice.

Nothing here deletes a wheel: published objects are never overwritten or removed, and the
program keeps its own (``retain_on_delete``), so a wheel any node or the stack still uses is
always there. The node side is :mod:`cctview_fleet.rollout.release`, behind :class:`NodeReleases`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import botocore.exceptions

from cctview_agent.fleetconstants import AGENT_KEY_TAG, AGENT_TAG, UPGRADE_TAG
from cctview_fleet.cloud import aws
from cctview_fleet.cloud.inventory import Node
from cctview_fleet.cloud.stacks import Stack
from cctview_fleet.errors import ConfigError, FleetError, RolloutError, StorageServiceError
from cctview_fleet.nodes.health import Health
from cctview_fleet.nodes.switchloss import SwitchLoss
from cctview_fleet.rollout.release import Release
from cctview_fleet.rollout.wheels import WHEEL_DIR, build_agent_wheel, sha256_file, wheel_key


class Step(StrEnum):
    STAGED = "staged"
    SWITCHED = "switched"
    DONE = "done"
    ROLLED_BACK = "rolled-back"


class NodeReleases(Protocol):
    """The node side (SSH in production; the tests' own in tests)."""

    def stage(self, node: Node, release: Release) -> str: ...  # the staged agent's --version

    def switch(self, node: Node, release: Release) -> None: ...

    def rollback(self, node: Node) -> str: ...  # where the link points again

    def current(self, node: Node) -> str: ...  # where the link points now


class SwitchLosses(Protocol):
    """Counts the frames a node's switch cost
    (:class:`cctview_fleet.nodes.switchloss.StatusLosses`)."""

    def before(self, node: str) -> frozenset[str]: ...  # the cameras collecting now

    # after a healthy switch: the loss over ``cameras`` (None: every camera the agent measured)
    def after(self, node: str, cameras: frozenset[str] | None) -> SwitchLoss: ...


@dataclass(frozen=True, slots=True)
class NodeUpgrade:
    node: str
    outcome: str  # "upgraded", "already", "rolled back", "failed", "planned"
    detail: str = ""
    frames_lost: SwitchLoss | None = None  # counted when the switch happened in this run


@dataclass(frozen=True, slots=True)
class UpgradeResult:
    release: Release
    nodes: tuple[NodeUpgrade, ...]
    stopped: bool = False
    untouched: tuple[str, ...] = ()


def check_max_unavailable(max_unavailable: int) -> None:
    """Refuse a bad ``--max-unavailable`` before anything is built, published or touched."""
    if max_unavailable < 1:
        raise ConfigError(
            f"--max-unavailable must be at least 1, not {max_unavailable}; "
            "e.g. --max-unavailable 1",
            key="max-unavailable",
        )


def agent_wheel(wheel: Path | None, agent_dir: Path) -> Path:
    """``wheel``, or the wheel of ``agent_dir`` built as ``pulumi up`` builds it."""
    if wheel is not None:
        return wheel
    if not (agent_dir / "pyproject.toml").is_file():
        raise ConfigError(
            f"{agent_dir} holds no agent sources (no pyproject.toml); run `cctview-fleet upgrade` "
            "from a cctview-fleet checkout, or pass --agent-dir DIR or --wheel FILE",
            key="agent-dir",
        )
    return build_agent_wheel(agent_dir, agent_dir.resolve().parent / WHEEL_DIR).path


def release_for(stack: Stack, wheel: Path) -> Release:
    """Where ``wheel`` is (or will be) published: its digest and key; nothing is uploaded."""
    if not wheel.is_file() or wheel.suffix != ".whl":
        raise ConfigError(
            f"{wheel} is not a wheel file; leave out --wheel to build the checkout's agent/ "
            "(as `pulumi up` does)",
            key="wheel",
        )
    if not stack.bucket:
        raise ConfigError(f"stack {stack.name} has no bucket; run `cctview-fleet stack import`")
    sha = sha256_file(wheel)
    return Release(stack.bucket, wheel_key(sha, wheel.name), sha, stack.region)


def publish(stack: Stack, wheel: Path) -> Release:
    """Upload ``wheel`` by digest (no overwrite of a different object) and verify it."""
    release = release_for(stack, wheel)
    key, sha = release.key, release.sha256
    s3 = aws.s3(stack)
    checksum = base64.b64encode(bytes.fromhex(sha)).decode()
    with aws.translate_errors(stack, "s3", f"publishing {key}"):
        try:  # never over an existing object; one already there is checked below
            s3.put_object(Bucket=stack.bucket, Key=key, Body=wheel.read_bytes(),
                          ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum,
                          ContentType="application/zip", IfNoneMatch="*")  # fmt: skip
        except botocore.exceptions.ClientError as exc:
            if aws.error_code(exc) not in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise
        stored = s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read()
    if hashlib.sha256(stored).hexdigest() != sha:
        raise StorageServiceError(
            f"s3://{stack.bucket}/{key} does not hash to {sha}; someone wrote other bytes under "
            "a digest key: delete it and publish again"
        )
    return release


def tag_value(release: Release, step: Step) -> str:
    return f"{release.folder_name}:{step.value}"


def progress(node: Node, release: Release) -> Step | None:
    """The step this upgrade reached on ``node`` (None: not started, or another upgrade's)."""
    value = node.tags.get(UPGRADE_TAG, "")
    name, _, step = value.partition(":")
    if name != release.folder_name:
        return None
    try:
        return Step(step)
    except ValueError:
        return None


def _tag(stack: Stack, node: Node, **pairs: str) -> None:
    with aws.translate_errors(stack, "ec2", f"tagging {node.instance_id} ({node.name})"):
        aws.ec2(stack).create_tags(
            Resources=[node.instance_id], Tags=[{"Key": k, "Value": v} for k, v in pairs.items()]
        )


def batches(names: Sequence[str], size: int) -> list[list[str]]:
    return [list(names[i : i + size]) for i in range(0, len(names), size)]


@dataclass
class Upgrade:
    """One rollout of ``release`` over ``nodes``."""

    stack: Stack
    release: Release
    releases: NodeReleases
    health: Callable[[str], Health]
    report: Callable[[str], None] = lambda line: None
    losses: SwitchLosses | None = None

    def one(self, node: Node) -> NodeUpgrade:
        """Stage, switch, check, roll back if unhealthy; each step tagged before the next."""
        step = progress(node, self.release)
        if step is Step.DONE:
            return NodeUpgrade(node.name, "already", "this release, done earlier")
        if step is None and self.releases.current(node).strip().endswith(
            f"/{self.release.folder_name}/bin/cctview-agent"
        ):
            # switched already, but the tags are gone (a `pulumi up` rewrites the instance's
            # tags): no second restart, only the health check
            step = Step.SWITCHED
        if step not in (Step.STAGED, Step.SWITCHED):
            version = self.releases.stage(node, self.release)
            _tag(self.stack, node, **{UPGRADE_TAG: tag_value(self.release, Step.STAGED)})
            self.report(f"{node.name}: staged {version.strip()}")
        collecting: frozenset[str] | None = None
        if step is not Step.SWITCHED:
            collecting = self.losses.before(node.name) if self.losses else None
            self.releases.switch(node, self.release)
            _tag(self.stack, node, **{UPGRADE_TAG: tag_value(self.release, Step.SWITCHED)})
            self.report(f"{node.name}: switched and restarted")
        health = self.health(node.name)
        if health.healthy:
            loss = self.losses.after(node.name, collecting) if self.losses else None
            if loss is not None and not loss.within_target:
                self.report(f"{node.name}: frames lost in the switch: {loss.describe()}")
            # the wheel tags are also what the user data of a replacement installs
            _tag(self.stack, node, **{UPGRADE_TAG: tag_value(self.release, Step.DONE),
                                      AGENT_TAG: self.release.sha256,
                                      AGENT_KEY_TAG: self.release.key})  # fmt: skip
            running = health.status.agent_version if health.status else None
            return NodeUpgrade(node.name, "upgraded", running or "", loss)
        back = self.releases.rollback(node)
        _tag(self.stack, node, **{UPGRADE_TAG: tag_value(self.release, Step.ROLLED_BACK)})
        self.report(f"{node.name}: unhealthy ({health.why}); rolled back to {back.strip()}")
        return NodeUpgrade(node.name, "rolled back", health.why)

    def _plan(self, node: Node) -> NodeUpgrade:
        step = progress(node, self.release)
        if step is Step.DONE:
            return NodeUpgrade(node.name, "already", "done earlier")
        return NodeUpgrade(node.name, "planned", f"resumes after {step}" if step else "")

    def _guarded(self, node: Node) -> NodeUpgrade:
        try:
            return self.one(node)
        except FleetError as exc:
            return NodeUpgrade(node.name, "failed", str(exc))

    def run(self, nodes: Sequence[Node], *, max_unavailable: int, dry_run: bool) -> UpgradeResult:
        check_max_unavailable(max_unavailable)
        ordered = sorted(nodes, key=lambda n: n.name)
        if dry_run:
            return UpgradeResult(self.release, tuple(self._plan(n) for n in ordered))
        by_name = {n.name: n for n in ordered}
        done: list[NodeUpgrade] = []
        groups = batches([n.name for n in ordered], max_unavailable)
        for index, group in enumerate(groups):
            with ThreadPoolExecutor(max_workers=len(group)) as pool:
                results = list(pool.map(self._guarded, [by_name[name] for name in group]))
            done += results
            if any(r.outcome in ("rolled back", "failed") for r in results):
                rest = tuple(name for later in groups[index + 1 :] for name in later)
                return UpgradeResult(self.release, tuple(done), True, rest)
        return UpgradeResult(self.release, tuple(done))


def raise_unless_finished(result: UpgradeResult) -> None:
    if not result.stopped:
        return
    bad = [n for n in result.nodes if n.outcome in ("rolled back", "failed")]
    first = bad[0]
    raise RolloutError(
        f"upgrade stopped: {first.node} {first.outcome} ({first.detail}); "
        f"not touched: {', '.join(result.untouched) or 'none'}. Fix it, then run the same "
        "`cctview-fleet upgrade` again: done nodes are skipped"
    )
