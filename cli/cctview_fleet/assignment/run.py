"""One `assign` run: the selection for a stack, the plan, and (unless a dry run) push and record.

The library half of ``cctview-fleet assign``: the command parses flags, calls
:func:`select_for_stack` and :func:`run_assign`, and renders the :class:`AssignOutcome` they
return. Kept out of the command so that the flow can be tested, and reused, without typer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cctview_fleet.cloud.stacks import LOCAL_STACK, Stack
from cctview_fleet.errors import SelectionError

if TYPE_CHECKING:
    from cctview_agent.cameras import Camera
    from cctview_fleet.assignment.planner import Plan
    from cctview_fleet.assignment.selection import Selection
    from cctview_fleet.cloud.inventory import Node
    from cctview_fleet.remote.ssh import Connections
    from cctview_fleet.results import FleetResult


def select_for_stack(
    stack: Stack,
    cameras: str | None,
    catalog: str | None,
    bbox: str | None,
    *,
    online_only: bool,
    warn: Callable[[str], None],
) -> Selection:
    """The selection, from ``--catalog`` or else the stack's own catalog (the local simulator)."""
    from cctview_fleet.assignment.selection import BBox, SelectionRequest, check_request, select
    from cctview_fleet.cameras.catalog import load_catalog

    request = SelectionRequest(
        cameras=cameras.strip() if cameras and cameras.strip() else None,
        bbox=BBox.parse(bbox) if bbox is not None else None,
        online_only=online_only,
    )
    if request.cameras is None and request.bbox is None:
        raise SelectionError(
            "assign needs a selection: pass --cameras SET (e.g. --cameras lower-manhattan) "
            "or --bbox MINLON,MINLAT,MAXLON,MAXLAT"
        )
    check_request(request)
    ca_file = None
    if catalog is None and stack.extra.get("catalog_url"):
        catalog = stack.extra["catalog_url"]
        ca_file = Path(stack.extra["ca_file"]) if stack.extra.get("ca_file") else None
    return select(load_catalog(catalog, ca_file=ca_file, warn=warn), request)


def resize_hint(stack: Stack, needed: int) -> str:
    """How to give this stack ``needed`` nodes: the local fleet restarts, a real one re-plans."""
    if stack.name == LOCAL_STACK:
        return f"run `cctview-fleet dev down && cctview-fleet dev up --nodes {needed}`"
    return f"run `pulumi config set cctview-fleet:nodeCount {needed} && pulumi up`"


@dataclass
class AssignOutcome:
    """What one run decided and did; ``pushed`` and ``record_key`` stay None on a dry run."""

    selection: Selection
    plan: Plan
    cameras: dict[str, Camera]
    sources: dict[str, str]
    skipped: dict[str, str]  # nodes left out of the plan, and why
    pushed: FleetResult[dict[str, Any]] | None = None
    record_key: str | None = None


def run_assign(
    stack: Stack,
    nodes: Sequence[Node],
    connections: Connections,
    selection: Selection,
    *,
    parallel: int,
    cameras_per_node: int,
    dry_run: bool,
) -> AssignOutcome:
    """Read the current assignment, plan, and (unless dry-run) push and record."""
    from cctview_fleet.assignment import store
    from cctview_fleet.assignment.planner import nodes_needed, plan

    live = [node for node in nodes if node.running]
    skipped = {node.name: node.state for node in nodes if not node.running}
    current_live = store.read_from_nodes(live, connections, parallel=parallel)
    # The record fills in nodes that could not be read, and those that are gone from EC2.
    record = store.latest_record(stack) if stack.bucket else None
    current = store.merge_current(current_live, record)
    needed = nodes_needed(len(selection.cameras), cameras_per_node)
    new_plan = plan(
        selection.cameras,
        [node.name for node in live],
        current.assignment,
        cameras_per_node=cameras_per_node,
        resize_hint=resize_hint(stack, needed),
    )
    cameras = {camera.id: camera for camera in selection.cameras}
    outcome = AssignOutcome(selection, new_plan, cameras, dict(current.sources), skipped)
    if dry_run:
        return outcome
    outcome.pushed = store.push(live, connections, new_plan, cameras, parallel=parallel)
    document = store.record_document(
        stack,
        new_plan,
        cameras,
        selection=selection.request.describe(),
        pushed={name: result.ok for name, result in outcome.pushed.items()},
    )
    outcome.record_key = store.record(stack, document)
    return outcome
