"""First boot survives a busy dpkg lock and a flaky network, and says how it ended."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from cctview_fleet.nodes.bootoutcome import from_console, parse_state
from cctview_infra.agentpackage import AgentWheel
from cctview_infra.userdata import FIRST_BOOT_HELPERS, FIRST_BOOT_STATE, render_user_data
from tests.infra.test_userdata import spec_for


@pytest.fixture(scope="module")
def script(agent_wheel: AgentWheel, agent_unit: str) -> str:
    return render_user_data(spec_for(), agent_unit)


def helpers(state: Path) -> str:
    """The script's own helpers, writing the outcome to ``state`` instead of /var/lib."""
    return FIRST_BOOT_HELPERS.replace(str(FIRST_BOOT_STATE), str(state))


def run(body: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    state = tmp_path / "first-boot.json"
    text = "set -euo pipefail\n" + helpers(state) + "\n" + body
    done = subprocess.run(["bash", "-c", text], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "RETRY_DELAY": "0"})  # fmt: skip
    return done, json.loads(state.read_text())


def test_network_steps_are_retried_and_apt_waits_for_the_dpkg_lock(script: str) -> None:
    lines = script.splitlines()
    apt = [line for line in lines if line.startswith(("apt-get", "retry apt-get"))]
    assert len(apt) == 2
    assert all(line.startswith("retry apt-get ") and line.endswith(" -o DPkg::Lock::Timeout=300")
               for line in apt)  # fmt: skip
    pips = [line for line in lines if "pip' install" in line or "pip install" in line
            or "/pip install" in line]  # fmt: skip
    assert pips and all(line.startswith("retry ") and "--retries 5" in line for line in pips)
    assert '"mode": "standard"' in script and "for attempt in range(1, 11)" in script
    assert "trap 'finish $?' EXIT" in script


def test_retry_outlasts_two_failures(tmp_path: Path) -> None:
    counter = tmp_path / "tries"
    flaky = f'n=$(cat {counter} 2>/dev/null || echo 0); echo $((n+1)) > {counter}; [ "$n" -ge 2 ]'
    done, state = run(f"retry bash -c '{flaky}'\nstep '5/5 done'\n", tmp_path)
    assert done.returncode == 0, done.stderr
    assert counter.read_text().strip() == "3"
    assert "cctview-bootstrap: retry 1 of bash" in done.stdout
    assert state["outcome"] == "ok" and state["exit"] == 0 and state["step"] == "5/5 done"


def test_a_failed_first_boot_says_where_it_stopped(tmp_path: Path) -> None:
    done, state = run("step '2/5 agent abc'\nretry false\nstep 'never'\n", tmp_path)
    assert done.returncode == 1
    assert (state["outcome"], state["exit"], state["step"]) == ("failed", 1, "2/5 agent abc")
    assert done.stdout.strip().splitlines()[-1] == (
        "cctview-bootstrap: first boot failed (exit 1) at step: 2/5 agent abc"
    )


def test_status_and_trust_read_back_what_first_boot_wrote(tmp_path: Path) -> None:
    """The state file (`status`, over SSH) and the console line (`trust`, through EC2) of the
    script's own `finish` parse into the same outcome."""
    done, _ = run('step "4/5 data volume vol-0abc (waiting)"\nexit 3\n', tmp_path)
    state = parse_state((tmp_path / "first-boot.json").read_text())
    console = from_console("[  9.1] cloud-init[1]: ...\n" + done.stdout + "\nlogin: ")
    assert state is not None and console is not None
    assert (state.outcome, state.exit_status, state.step) == (
        "failed", 3, "4/5 data volume vol-0abc (waiting)"
    )  # fmt: skip
    assert state.at.endswith("Z") and not state.ok
    assert (
        console.describe()
        == state.describe()
        == ("failed (exit 3) at step: 4/5 data volume vol-0abc (waiting)")
    )
    assert "see /var/log/cctview-bootstrap.log on the node" in state.problem()
    done, _ = run('step "done: node-01 runs cctview-agent 1.0"\n', tmp_path)
    ok = parse_state((tmp_path / "first-boot.json").read_text())
    assert ok is not None and ok.ok and ok.describe() == "ok"
    assert from_console(done.stdout) == replace(ok, at="")


@pytest.mark.parametrize("text", ["", "{", "[]", '{"outcome": "maybe"}'])
def test_no_or_foreign_state_is_no_outcome(text: str) -> None:
    assert parse_state(text) is None
    assert from_console(text) is None
