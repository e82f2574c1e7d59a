"""The agent against the real camera simulator over HTTPS: every fault mode is counted as what it
is, nothing corrupt is stored, stored frames match what the simulator served as new, periods close
with complete manifests, and SIGTERM ends the agent cleanly within 5 s."""

from __future__ import annotations

import time

import pytest

from cctview_agent.layout import DataLayout
from cctview_agent.manifests import Manifest
from tests.agent.agentproc import (
    check_data_tree,
    log_events,
    running_agent,
    write_assignment_from,
    write_config,
)

# simulator fault kind -> how the agent must count it (failure kind, or a counter of its own)
EXPECTED = {
    "404": "http_404",
    "5xx": "http_5xx",
    "hang": "timeout",
    "drip": "timeout",
    "truncate": "truncated",
    "html": "content_type",
    "reset": "reset",
    "oversize": "oversize",
}
RUN_SECONDS = 9.0


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One agent run over a simulator where every camera but one misbehaves in its own way."""
    from tests.fixtures.camsim import running_camsim

    folder = tmp_path_factory.mktemp("faults")
    with running_camsim(folder / "sim", cameras=12, refresh=0.5, https=True, seed=3) as sim:
        ids = sim.camera_ids
        roles = {"healthy": [ids[0]], "offline": [ids[1], ids[2]], "frozen": [ids[3]]}
        for index, kind in enumerate(EXPECTED, start=4):
            roles[kind] = [ids[index]]
        spec = ",".join(
            f"{kind}={'+'.join(cams)}" for kind, cams in roles.items() if kind != "healthy"
        )
        sim.set_faults(spec)
        write_assignment_from(sim, folder / "assignment.json")
        config = write_config(
            folder,
            poll_interval=0.5,
            timeout=1.5,
            period=5,
            grace=0.5,
            frozen_after=2.0,
            offline_poll_interval=2.0,
            ca_file=str(sim.cert_path),
        )
        with running_agent(config) as agent:
            running_status = None
            deadline = time.monotonic() + RUN_SECONDS
            while time.monotonic() < deadline:
                time.sleep(0.5)
                running_status = agent.status()
            code, took = agent.terminate()
            final = agent.status()
        sim_stats = sim.stats()["cameras"]
    return {
        "folder": folder,
        "roles": roles,
        "code": code,
        "took": took,
        "running_status": running_status,
        "final": final,
        "sim": sim_stats,
        "log": log_events(folder / "agent.log"),
    }


def _camera(status: dict, camera_id: str) -> dict:
    return next(c for c in status["cameras"] if c["id"] == camera_id)


def test_sigterm_exits_zero_within_five_seconds(fault_run: dict) -> None:
    # A hanging and a dripping camera have requests in flight when SIGTERM arrives.
    assert fault_run["code"] == 0
    assert fault_run["took"] < 5.0
    assert fault_run["final"]["running"] is False


@pytest.mark.parametrize("sim_kind", sorted(EXPECTED))
def test_fault_is_counted_as_its_kind(fault_run: dict, sim_kind: str) -> None:
    camera_id = fault_run["roles"][sim_kind][0]
    served = fault_run["sim"][camera_id]["faults"].get(sim_kind, 0)
    camera = _camera(fault_run["final"], camera_id)
    failures = camera["failures"]
    kind = EXPECTED[sim_kind]
    if kind == "http_5xx":
        counted = sum(n for k, n in failures.items() if k in ("http_500", "http_502", "http_503"))
    else:
        counted = failures.get(kind, 0)
    assert served >= 2, f"the simulator served {sim_kind} only {served} times"
    # The one request in flight at SIGTERM is counted by the simulator, not by the agent.
    assert served - 1 <= counted <= served, (sim_kind, served, failures)
    assert sum(failures.values()) == counted, f"{sim_kind} counted as other kinds too: {failures}"
    assert camera["frames_stored"] == 0
    assert camera["state"] == "failing"
    assert camera["consecutive_failures"] >= 2
    assert camera["backoff_s"] > 0


def test_offline_placeholders_are_counted_not_stored(fault_run: dict) -> None:
    for camera_id in fault_run["roles"]["offline"]:
        served = fault_run["sim"][camera_id]["faults"].get("offline", 0)
        camera = _camera(fault_run["final"], camera_id)
        assert served >= 2
        assert served - 1 <= camera["placeholders"] <= served
        assert camera["frames_stored"] == 0, "a placeholder was kept as a frame"
        assert camera["last_frame_age_s"] is None
        assert camera["state"] == "offline"
        assert not list(
            DataLayout(fault_run["folder"] / "data").frames_root.glob(f"{camera_id}/*/*/*.jpg")
        )


def test_frozen_feed_with_a_ticking_clock_is_stored_once_and_shown_frozen(
    fault_run: dict,
) -> None:
    camera_id = fault_run["roles"]["frozen"][0]
    sim = fault_run["sim"][camera_id]
    camera = _camera(fault_run["final"], camera_id)
    assert camera["frames_stored"] == sim["new"] == 1
    # Its clock ticks, so the bytes change: the repeats are recognised by their picture.
    served = sim["faults"]["frozen"]
    assert camera["same_pictures"] >= 2
    assert served - 2 <= camera["same_pictures"] + camera["duplicates"] <= served - 1
    assert camera["state"] == "frozen"
    assert camera["frozen_s"] >= 2.0


def test_healthy_camera_stores_every_new_frame(fault_run: dict) -> None:
    camera_id = fault_run["roles"]["healthy"][0]
    sim = fault_run["sim"][camera_id]
    camera = _camera(fault_run["final"], camera_id)
    assert sim["new"] >= RUN_SECONDS  # refresh 0.5 s, polled every 0.5 s
    assert sim["new"] - 1 <= camera["frames_stored"] <= sim["new"]
    assert sim["repeat"] - 1 <= camera["duplicates"] <= sim["repeat"]
    assert camera["failures"] == {}
    totals = fault_run["final"]["totals"]
    served_new = sum(stats["new"] for stats in fault_run["sim"].values())
    # Stored = new frames served, minus the placeholders the first offline camera took back.
    assert served_new - 2 <= totals["frames_stored"] <= served_new


def test_nothing_corrupt_and_every_closed_period_complete(fault_run: dict) -> None:
    root = fault_run["folder"] / "data"
    report = check_data_tree(root)
    assert report.problems == []
    assert report.frames > 0
    assert report.manifests >= 2, "period = 5 s over a 9 s run closes at least one period"
    healthy = fault_run["roles"]["healthy"][0]
    manifests = [
        Manifest.read(p) for cid, _per, p in DataLayout(root).manifests() if cid == healthy
    ]
    assert manifests
    for manifest in manifests:
        assert manifest.node == "node-test"
        assert manifest.agent_version
        assert manifest.polls >= len(manifest.frames)


def test_failing_camera_period_has_manifest_with_failures(fault_run: dict) -> None:
    root = fault_run["folder"] / "data"
    camera_id = fault_run["roles"]["404"][0]
    manifests = [
        Manifest.read(p) for cid, _per, p in DataLayout(root).manifests() if cid == camera_id
    ]
    assert manifests, "a polled camera-period with no frame still gets a manifest"
    assert all(m.frames == () and m.coverage == 0.0 for m in manifests)
    assert sum(m.failures.get("http_404", 0) for m in manifests) >= 1


def test_status_while_running_has_the_documented_shape(fault_run: dict) -> None:
    status = fault_run["running_status"]
    assert status["running"] is True
    for key in (
        "node",
        "agent_version",
        "pid",
        "updated_at_ms",
        "data_dir",
        "active_volume",
        "open_period",
        "last_closed_period",
        "schedule",
    ):
        assert key in status, key
    assert set(status["disk"]) >= {
        "total_bytes",
        "free_bytes",
        "used_percent",
        "writing_paused",
        "dropped_frames",
    }
    assert set(status["totals"]) >= {
        "cameras",
        "cameras_ok",
        "frames_stored",
        "frames_per_minute",
        "duplicates",
        "placeholders",
        "failures",
    }
    assert status["totals"]["cameras"] == 12
    camera = status["cameras"][0]
    assert set(camera) >= {
        "id",
        "name",
        "state",
        "frames_stored",
        "duplicates",
        "placeholders",
        "failures",
        "last_frame_age_s",
        "backoff_s",
        "consecutive_failures",
    }


def test_log_has_one_line_per_state_change(fault_run: dict) -> None:
    events = fault_run["log"]
    names = [e["event"] for e in events]
    assert names[0] == "agent_started" and names[-1] == "agent_stopped"
    healthy = fault_run["roles"]["healthy"][0]
    healthy_lines = [
        e for e in events if e.get("camera") == healthy and e["event"] == "camera_state"
    ]
    assert [e["state"] for e in healthy_lines] == ["ok"], "one line per change, none per frame"
    assert "period_closed" in names
