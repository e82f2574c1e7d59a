"""``cctview-fleet roll``: apply a ``pulumi up`` one node at a time, healthy before the next.

Pulumi has no rolling replace, and the program refuses an ``up`` that would replace or stop more
than ``maxDisruptedNodes`` running nodes (infra/cctview_infra/disruption.py). ``roll`` applies
such a change in steps, each an ordinary ``pulumi up``:

1. **shared**: ``up --target`` every resource that is not a node's instance or attachment (a new
   key pair, the agent package, the security group...), so the nodes' new inputs exist;
2. **each node in turn**: ``up --target <its instance> --target-dependents`` (its attachment
   follows), then hand its data volume over to a replaced instance (a rotated volume Pulumi
   does not attach: :mod:`cctview_fleet.rotation.handover`), then wait until ``status`` says it
   is healthy (:mod:`cctview_fleet.nodes.health`). A volume that cannot be handed over, or an
   unhealthy node, stops the roll there: the nodes after it keep running untouched;
3. **the rest**: a plain ``up`` for anything not yet in the state (new nodes), which the guard
   lets through only if no running node would still change; skipped when nodes were named.

Steps 1 and 2 run with ``CCTVIEW_ROLL`` set, which tells the program's guard that ``roll`` is
driving. Running ``roll`` again resumes: a node already updated is a no-op ``up`` and an
immediate health pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from cctview_agent.fleetconstants import ROLL_ENV
from cctview_fleet.cloud.pulumicli import ATTACHMENT_TYPE, INSTANCE_TYPE, STACK_TYPE, Pulumi
from cctview_fleet.errors import ConfigError, RolloutError, VolumeError
from cctview_fleet.nodes.health import Health


class StoppedBy(StrEnum):
    """What stopped a node's step (``HEALTH`` also for a healthy one: it was checked last)."""

    HEALTH = "health"
    VOLUME = "volume"  # its data volume could not be handed over (the health check never ran)


@dataclass(frozen=True, slots=True)
class RollStep:
    """One node's step: rolled and healthy, or where it stopped."""

    node: str
    healthy: bool
    why: str = ""
    stopped_by: StoppedBy = StoppedBy.HEALTH


@dataclass(frozen=True, slots=True)
class RollResult:
    steps: tuple[RollStep, ...]
    finished: bool  # the final plain `up` ran
    skipped: tuple[str, ...] = field(default=())  # nodes not reached because one failed


def plan_nodes(instances: dict[str, str], wanted: Sequence[str] | None) -> list[str]:
    """The nodes to roll, in name order; unknown names are refused before anything runs."""
    if not wanted:
        return sorted(instances)
    unknown = sorted(set(wanted) - set(instances))
    if unknown:
        raise ConfigError(
            f"{unknown[0]} has no instance in the stack's state; nodes: "
            f"{', '.join(sorted(instances)) or 'none'}",
            key="nodes",
        )
    return sorted(set(wanted))


def roll(
    pulumi: Pulumi,
    health: Callable[[str], Health],
    *,
    nodes: Sequence[str] | None = None,
    report: Callable[[str], None] = lambda line: None,
    hand_over: Callable[[str], str] = lambda node: "",
) -> RollResult:
    """Run the three steps; ``health(node)`` waits until the node is healthy or gives up.
    ``hand_over(node)`` attaches a replaced node's data volume (a line to report, or "") and
    raises :class:`VolumeError` when it cannot, which stops the roll at that node."""
    resources = pulumi.resources()
    instances = {r.node: r.urn for r in resources if r.type == INSTANCE_TYPE and r.node}
    order = plan_nodes(instances, nodes)
    shared = [
        r.urn
        for r in resources
        if r.type not in (INSTANCE_TYPE, ATTACHMENT_TYPE, STACK_TYPE)
        and not r.type.startswith("pulumi:providers:")
    ]
    env = {ROLL_ENV: "1"}
    if shared:
        report(f"shared resources: pulumi up --target ({len(shared)} resources)")
        pulumi.up(shared, env=env)
    steps: list[RollStep] = []
    for index, node in enumerate(order):
        report(f"{node}: pulumi up --target {instances[node]}")
        pulumi.up([instances[node]], env={ROLL_ENV: node})
        try:
            handed = hand_over(node)
        except VolumeError as exc:
            steps.append(RollStep(node, False, str(exc), StoppedBy.VOLUME))
            return RollResult(tuple(steps), False, tuple(order[index + 1 :]))
        if handed:
            report(handed)
        result = health(node)
        steps.append(RollStep(node, result.healthy, result.why))
        if not result.healthy:
            return RollResult(tuple(steps), False, tuple(order[index + 1 :]))
        report(f"{node}: healthy")
    if nodes:
        # the other nodes may still differ: a plain `up` would be refused (or replace them)
        report("named nodes only: the rest (new nodes, other nodes) is left to a later roll")
        return RollResult(tuple(steps), True)
    report("the rest: pulumi up")
    pulumi.up()
    return RollResult(tuple(steps), True)


def raise_unless_finished(result: RollResult) -> None:
    if result.finished:
        return
    failed = result.steps[-1]
    if failed.stopped_by is StoppedBy.VOLUME:
        # the message names the volume and says what to do and how to resume
        raise RolloutError(
            f"roll stopped at {failed.node}: {failed.why.removeprefix(f'{failed.node}: ')}; "
            f"not touched: {', '.join(result.skipped) or 'none'}"
        )
    raise RolloutError(
        f"roll stopped at {failed.node}: it is not healthy ({failed.why}); "
        f"not touched: {', '.join(result.skipped) or 'none'}. "
        f"Fix {failed.node} (cctview-fleet status/logs {failed.node}), then run "
        "`cctview-fleet roll` again to resume"
    )
