"""The disk guard on a real, really full file system (a 2 MiB tmpfs): the agent pauses writing,
counts what it drops, keeps running and reporting, and resumes by itself when space returns."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.agent.agentproc import (
    check_data_tree,
    log_events,
    running_agent,
    wait_for,
    write_assignment_from,
    write_config,
)


@pytest.fixture
def small_fs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a 2 MiB tmpfs needs root (CI runs as root)")
    mount = tmp_path / "vol"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.root
def test_real_enospc_pauses_counts_and_resumes(camsim, tmp_path, small_fs) -> None:
    sim = camsim(cameras=4, refresh=0.2)
    write_assignment_from(sim, tmp_path / "assignment.json")
    config = write_config(
        tmp_path, data_dir=str(small_fs / "data"), poll_interval=0.2, period=5, grace=0.5
    )  # reserve_bytes = 0: only a real ENOSPC stops the writes
    with running_agent(config) as agent:
        paused = wait_for(
            lambda: (s := agent.status()) and s["disk"]["writing_paused"] and s, 30, "ENOSPC"
        )
        wait_for(lambda: agent.status()["disk"]["dropped_frames"] >= 5, 10, "drops counted")
        assert agent.process.poll() is None, "the agent died on ENOSPC"
        stored_when_full = agent.status()["totals"]["frames_stored"]
        assert paused["disk"]["free_bytes"] < 256 * 1024
        assert check_data_tree(small_fs / "data", allow_temporaries=False).bad_frames == []

        # Space returns (as after a sync): the guard resumes on its own.
        shutil.rmtree(small_fs / "data" / "frames")
        wait_for(lambda: not agent.status()["disk"]["writing_paused"], 10, "resume")
        wait_for(
            lambda: agent.status()["totals"]["frames_stored"] > stored_when_full + 5,
            10,
            "frames stored again",
        )
        code, took = agent.terminate()
    assert code == 0 and took < 5
    report = check_data_tree(small_fs / "data")
    assert report.bad_frames == [] and report.temporaries == []
    events = [e["event"] for e in log_events(tmp_path / "agent.log")]
    assert events.count("disk_writing_paused") >= 1
    assert events.count("disk_writing_resumed") >= 1
    # one line per transition, not per dropped frame
    assert events.count("disk_writing_paused") <= events.count("disk_writing_resumed") + 1


def test_reserve_keeps_writes_paused_and_counts_drops(camsim, tmp_path) -> None:
    sim = camsim(cameras=2, refresh=0.25)
    write_assignment_from(sim, tmp_path / "assignment.json")
    config = write_config(tmp_path, poll_interval=0.25, reserve_bytes=2**62)
    with running_agent(config) as agent:
        wait_for(lambda: agent.status()["disk"]["dropped_frames"] >= 4, 15, "drops")
        status = agent.status()
        assert status["disk"]["writing_paused"] is True
        assert status["totals"]["frames_stored"] == 0
        assert agent.terminate()[0] == 0
    assert check_data_tree(tmp_path / "data").frames == 0
