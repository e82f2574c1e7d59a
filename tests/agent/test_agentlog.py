"""The agent's log: JSON lines, rotated by size."""

from __future__ import annotations

import json

from cctview_agent.agentlog import close_log, open_log


def test_log_is_json_lines_and_rotates(tmp_path) -> None:
    path = tmp_path / "agent.log"
    log = open_log(path, max_bytes=2000)
    try:
        for i in range(100):
            log.info("camera_state", camera=f"cam-{i}", state="ok")
    finally:
        close_log()
    assert (tmp_path / "agent.log.1").exists()
    assert path.stat().st_size <= 2000
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[-1]["camera"] == "cam-99" and lines[-1]["event"] == "camera_state"
    assert lines[-1]["ts"].endswith("Z")
