"""Is a node healthy again after a rollout step? The check ``roll`` and ``upgrade`` wait on.

Healthy means what ``status`` shows for a working node: the instance runs, the agent runs, it is
not paused for disk, and (if it has cameras) frames are arriving. A replaced node is a new
instance with a new address and a new host key: it is rediscovered on every look, and its key is
trusted only the way ``trust`` would (the EC2 console vouches for it); a key the console
contradicts, or one nothing vouches for, stops the rollout with a message instead of a guess.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cctview_fleet.cloud.inventory import Node, discover
from cctview_fleet.cloud.stacks import Stack
from cctview_fleet.defaults import DEFAULT_HEALTH_TIMEOUT
from cctview_fleet.errors import HostKeyError, InventoryError, NodeError
from cctview_fleet.nodes import trust as trusting
from cctview_fleet.nodes.status import NodeStatus, node_status
from cctview_fleet.nodes.waiting import look_until
from cctview_fleet.remote.ssh import Connections

DEFAULT_HEALTH_INTERVAL = 10.0  # a replaced node (roll) boots and installs for minutes
# An agent restart (upgrade's switch) is healthy within seconds: looking every 10 s would keep
# each node out of the rollout for up to 10 s longer than it needs (one look is ~1 s of SSH).
RESTART_HEALTH_INTERVAL = 3.0


@dataclass(frozen=True, slots=True)
class Health:
    """One look at a node: healthy or not, and why not."""

    node: str
    healthy: bool
    why: str = ""
    status: NodeStatus | None = None
    instance_id: str = ""


def verdict(status: NodeStatus) -> str:
    """Why ``status`` is not healthy ("" when it is): the same judgement as ``status``'s ``ok``
    (agent down or not collecting, with its ``problem``), plus the instance and the disk."""
    if status.instance_state != "running":
        return f"instance is {status.instance_state}"
    if not status.agent_running:
        return status.problem or "the agent is not running"
    if not status.ok:
        return status.problem or "the agent is not collecting"
    if status.writing_paused:
        return "writing is paused (disk)"
    if status.cameras_assigned and not status.frames_per_minute:
        return f"no frames yet from {status.cameras_assigned} cameras"
    return ""


def _find(stack: Stack, name: str) -> Node:
    try:
        (node,) = discover(stack, [name])
    except InventoryError as exc:
        raise NodeError(name, f"is not in the fleet any more ({exc})") from exc
    return node


def _trust_if_new(stack: Stack, node: Node, known_hosts: Path, timeout: float) -> None:
    check = trusting.inspect_node(stack, node, known_hosts, timeout=timeout)
    if check.known is trusting.Known.SAME:
        return
    if check.refused:
        raise trusting.refuse(check)
    if not check.may_add_without_asking:
        raise HostKeyError(
            node.name,
            f"is a new instance ({node.instance_id}) whose host key {check.fingerprint} nothing "
            f"vouches for (no console fingerprints); confirm it with `cctview-fleet trust "
            f"{node.name}`, then run the command again to resume",
        )
    trusting.record(check, known_hosts)


def look(stack: Stack, name: str, *, connect_timeout: float = 5.0) -> Health:
    """One health look at node ``name``; an unreachable node is unhealthy, not an error. A host
    key that cannot be trusted is an error (waiting would not fix it)."""
    node = _find(stack, name)
    connections = Connections(stack, connect_timeout)
    try:
        _trust_if_new(stack, node, connections.settings.known_hosts, connect_timeout)
        status = node_status(node, connections)
    except HostKeyError:
        raise
    except NodeError as exc:
        return Health(name, False, str(exc).removeprefix(f"{name}: "), None, node.instance_id)
    finally:
        connections.close()
    why = verdict(status)
    return Health(name, not why, why, status, node.instance_id)


def wait_healthy(
    check: Callable[[], Health],
    *,
    timeout: float = DEFAULT_HEALTH_TIMEOUT,
    interval: float = DEFAULT_HEALTH_INTERVAL,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Health:
    """Look until healthy or ``timeout`` seconds passed; the last look either way."""
    return look_until(
        check, lambda health: health.healthy, timeout=timeout, interval=interval, sleep=sleep,
        clock=clock,
    )  # fmt: skip
