"""The library half of `assign` (:mod:`cctview_fleet.assignment.run`), without typer or a fleet.

Pushing to real nodes over sshd is covered by the command's tests (test_fleet_commands.py);
here: the selection rules, the resize hint per stack, and a plan that the fleet cannot take.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cctview_fleet.assignment.run import resize_hint, run_assign, select_for_stack
from cctview_fleet.cloud.inventory import Node
from cctview_fleet.cloud.stacks import LOCAL_STACK, Stack
from cctview_fleet.errors import AssignmentError, SelectionError
from cctview_fleet.remote.ssh import Connections

# Lower Manhattan, south of Canal Street.
BBOX = "-74.02,40.70,-73.97,40.72"


def _no_warnings(message: str) -> None:
    raise AssertionError(f"unexpected warning: {message}")


def test_a_selection_is_required() -> None:
    with pytest.raises(SelectionError, match="assign needs a selection: pass --cameras SET"):
        select_for_stack(Stack("dev"), "  ", None, None, online_only=False, warn=_no_warnings)


def test_bbox_selects_only_cameras_inside_it(real_catalog_path: Path) -> None:
    selection = select_for_stack(
        Stack("dev"), None, str(real_catalog_path), BBOX, online_only=False, warn=print
    )
    assert selection.cameras
    for camera in selection.cameras:
        assert -74.02 <= camera.longitude <= -73.97
        assert 40.70 <= camera.latitude <= 40.72


def test_resize_hint_names_the_local_fleet_or_pulumi() -> None:
    assert resize_hint(Stack(LOCAL_STACK), 3) == (
        "run `cctview-fleet dev down && cctview-fleet dev up --nodes 3`"
    )
    assert resize_hint(Stack("prod"), 7) == (
        "run `pulumi config set cctview-fleet:nodeCount 7 && pulumi up`"
    )


def test_a_fleet_without_running_nodes_is_refused_with_the_hint(real_catalog_path: Path) -> None:
    """Stopped nodes are skipped, never read over SSH; the plan then has no node to use."""
    stack = Stack(LOCAL_STACK)
    selection = select_for_stack(
        stack, None, str(real_catalog_path), BBOX, online_only=False, warn=print
    )
    stopped = [Node("node-01", "i-1", "stopped")]
    connections = Connections(stack)
    try:
        with pytest.raises(AssignmentError, match="cctview-fleet dev up --nodes"):
            run_assign(
                stack,
                stopped,
                connections,
                selection,
                parallel=2,
                cameras_per_node=1000,
                dry_run=True,
            )
    finally:
        connections.close()
