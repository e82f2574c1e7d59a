"""Volume rotation while the agent runs: ``data_dir`` is a link swapped at an arbitrary moment.
Frames land whole on one volume or the other, none is lost at the switch, and the period the
switch splits gets a manifest on each volume listing its own half."""

from __future__ import annotations

import itertools
import os
import time

from cctview_agent.layout import DataLayout
from cctview_agent.periods import Period
from tests.agent.agentproc import (
    check_data_tree,
    frame_times,
    running_agent,
    write_assignment_from,
    write_config,
)

PERIOD = 2


def test_link_swap_splits_a_period_across_volumes(camsim, tmp_path) -> None:
    sim = camsim(cameras=2, refresh=0.1)  # every poll gets a new frame
    write_assignment_from(sim, tmp_path / "assignment.json")
    volumes = tmp_path / "volumes"
    old, new = volumes / "vol-a", volumes / "vol-b"
    old.mkdir(parents=True)
    new.mkdir()
    link = tmp_path / "data"
    link.symlink_to(old)
    config = write_config(
        tmp_path,
        data_dir=str(link),
        volumes_dir=str(volumes),
        poll_interval=0.25,
        period=PERIOD,
        grace=0.5,
    )
    with running_agent(config) as agent:
        time.sleep(2.3)
        swap = tmp_path / ".data.next"
        swap.symlink_to(new)
        os.replace(swap, link)  # what `volume switch` does
        switched_at_ms = int(time.time() * 1000)
        time.sleep(PERIOD + 2.0)
        assert agent.terminate()[0] == 0
        final = agent.status()
    assert final["active_volume"] == str(new)
    split = Period.containing(switched_at_ms, PERIOD)
    for camera_id in sim.camera_ids:
        before, after = frame_times(old, camera_id), frame_times(new, camera_id)
        assert before and after, "frames on both volumes"
        assert max(before) < switched_at_ms + 300 and min(after) > switched_at_ms - 300
        holes = [b - a for a, b in itertools.pairwise(sorted(before + after))]
        assert max(holes) < 750, f"a {max(holes)} ms hole (3 intervals: a gap) at the switch"
        for volume in (old, new):
            halves = DataLayout(volume).frames_in(camera_id, split)
            if halves:  # the split period is closed on each volume holding part of it
                assert DataLayout(volume).manifest_path(camera_id, split).exists(), volume
    for volume in (old, new):
        report = check_data_tree(volume)
        assert report.problems == [], report.problems
