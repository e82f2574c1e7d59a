"""The agent's command line: bad settings and flags are one ``error:`` line and exit 2, no
traceback; ``status`` works while the agent is down; ``assign`` validates before it writes."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cctview_agent.main import SUBCOMMANDS, main
from tests.agent.agentproc import agent_env, run_cli, write_config

NOBODY = 65534

CAMERA = {
    "id": "cam-1",
    "name": "Worth St @ Centre St",
    "latitude": 40.71,
    "longitude": -74.0,
    "area": "Manhattan",
    "is_online": True,
    "image_url": "http://127.0.0.1:9/api/cameras/cam-1/image",
}


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    ("setting", "needle"),
    [
        ("poll_interval = -1", "poll_interval"),
        ("poll_interval = 'fast'", "poll_interval"),
        ("period = 7", "period"),
        ("grace = -2", "grace"),
        ("timeout = 0", "timeout"),
        ("timeout = 600", "timeout"),
        ("max_frame_bytes = 10", "max_frame_bytes"),
        ("reserve_bytes = 1.5", "reserve_bytes"),
        ("frozen_after = 0", "frozen_after"),
        ("data_dir = ''", "data_dir"),
        ("pol_interval = 1", "unknown setting 'pol_interval'"),
        ("poll_interval = ", "not valid TOML"),
    ],
)
def test_bad_setting_is_refused_with_one_line(tmp_path, capsys, setting, needle) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(setting + "\n")
    assert main(["--config", str(config), "run"]) == 2
    assert needle in _one_line_error(capsys)


def test_bad_setting_in_a_real_process_has_no_traceback(tmp_path) -> None:
    config = write_config(tmp_path, period=7)
    result = run_cli(config, "run")
    assert result.returncode == 2
    assert result.stderr.decode().startswith("error: ")
    assert "must divide an hour" in result.stderr.decode()
    assert len(result.stderr.decode().strip().splitlines()) == 1


def test_missing_ca_file_is_refused_at_start(tmp_path) -> None:
    (tmp_path / "assignment.json").write_text(json.dumps([CAMERA]))
    config = write_config(tmp_path, ca_file=str(tmp_path / "nope.pem"))
    result = run_cli(config, "run")
    assert result.returncode == 2, result.stderr
    assert result.stderr.decode().startswith("error: ca_file ")
    assert "Traceback" not in result.stderr.decode()


def test_missing_config_and_bad_flag(tmp_path, capsys) -> None:
    assert main(["--config", str(tmp_path / "nope.toml"), "status"]) == 2
    assert "does not exist" in _one_line_error(capsys)
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", str(tmp_path / "nope.toml"), "status", "--jsn"])
    assert exit_info.value.code == 2
    assert "--jsn" in _one_line_error(capsys)


def test_config_defaults_to_the_environment(tmp_path, capsys, monkeypatch) -> None:
    config = write_config(tmp_path)
    monkeypatch.setenv("CCTVIEW_AGENT_CONFIG", str(config))
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["running"] is False
    assert status["node"] == "node-test"
    assert status["active_volume"] == str((tmp_path / "data").resolve())
    assert status["last_synced_period"] is None


@pytest.mark.parametrize(
    "words",
    [
        ["--config", "{config}", "status", "--json"],
        ["status", "--config", "{config}", "--json"],
        ["status", "--json", "--config={config}"],
        ["volume", "list", "--config", "{config}", "--json"],
    ],
)
def test_config_before_or_after_the_subcommand(tmp_path, capsys, monkeypatch, words) -> None:
    config = write_config(tmp_path)
    monkeypatch.setenv("CCTVIEW_AGENT_CONFIG", str(tmp_path / "elsewhere.toml"))  # not used
    assert main([word.format(config=config) for word in words]) == 0, capsys.readouterr().err
    json.loads(capsys.readouterr().out)


def test_run_takes_config_after_the_subcommand_in_a_real_process(tmp_path) -> None:
    # `cctview-agent run --config FILE`, the order a new user types: the bad setting in FILE is
    # reported, so FILE (not the default /etc/cctview/agent.toml) is the one read.
    config = write_config(tmp_path, period=7)
    result = subprocess.run(
        [sys.executable, "-m", "cctview_agent.main", "run", "--config", str(config)],
        capture_output=True,
        timeout=30,
        env=agent_env(),
    )
    assert result.returncode == 2, result.stderr
    assert "must divide an hour" in result.stderr.decode()


def test_status_reports_newest_sync_receipt(tmp_path, capsys) -> None:
    config = write_config(tmp_path)
    for key in ("20250404T120000Z-3600s", "20250404T130000Z-3600s"):
        receipt = tmp_path / "data" / "synced" / "cam-1" / f"{key}.json"
        receipt.parent.mkdir(parents=True, exist_ok=True)
        receipt.write_text("{}")
    assert main(["--config", str(config), "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["last_synced_period"] == "20250404T130000Z-3600s"
    assert main(["--config", str(config), "status"]) == 0
    assert "NOT RUNNING" in capsys.readouterr().out


def test_reload_without_agent_says_so(tmp_path, capsys) -> None:
    config = write_config(tmp_path)
    assert main(["--config", str(config), "reload"]) == 3
    assert "no agent is running" in _one_line_error(capsys)


def test_assign_writes_validated_file_and_show_prints_it(tmp_path, capsys, monkeypatch) -> None:
    config = write_config(tmp_path)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(json.dumps([CAMERA]).encode())))
    assert main(["--config", str(config), "assign", "-"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["cameras"] == 1 and summary["added"] == 1 and summary["reloaded"] is False
    assert main(["--config", str(config), "assign", "--show"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown == [CAMERA]


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        (b"[{", "not valid JSON"),
        (json.dumps([{**CAMERA, "image_url": None}]).encode(), "no http(s) image_url"),
        (json.dumps([CAMERA, CAMERA]).encode(), "appears twice"),
        (json.dumps({"a": 1}).encode(), "not a JSON array"),
        # hostile ids: they would become paths outside (or below) the frames folder
        (json.dumps([{**CAMERA, "id": "../../x"}]).encode(), "camera id '../../x' is not allowed"),
        (json.dumps([{**CAMERA, "id": "/etc"}]).encode(), "camera id '/etc' is not allowed"),
        (json.dumps([{**CAMERA, "id": "cam/1"}]).encode(), "camera id 'cam/1' is not allowed"),
    ],
)
def test_bad_assignment_is_refused_and_old_one_kept(tmp_path, capsys, monkeypatch, payload, needle):
    config = write_config(tmp_path)
    current = tmp_path / "assignment.json"
    current.write_text(json.dumps([CAMERA]))
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(payload)))
    assert main(["--config", str(config), "assign", "-"]) != 0
    assert needle in _one_line_error(capsys)
    assert json.loads(current.read_text()) == [CAMERA]


def test_assign_needs_dash(tmp_path, capsys) -> None:
    config = write_config(tmp_path)
    assert main(["--config", str(config), "assign"]) == 2
    assert "stdin" in _one_line_error(capsys)


def test_subcommand_registry_shape() -> None:
    # Other features add their subcommand with one line in SUBCOMMANDS.
    for module in SUBCOMMANDS:
        assert callable(module.add_parser)


def test_real_assignment_from_the_catalog_is_accepted(
    tmp_path, capsys, monkeypatch, real_catalog_path: Path
) -> None:
    config = write_config(tmp_path)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(real_catalog_path.read_bytes())))
    assert main(["--config", str(config), "assign", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["cameras"] == 922


@pytest.mark.parametrize(
    ("key", "needle"),
    [
        ("data_dir", "data_dir"),
        ("log_file", "cannot open log_file"),
        ("status_file", "cannot write the pid file"),
    ],
)
def test_unusable_paths_are_refused_at_start(tmp_path, key, needle) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    config = write_config(tmp_path, **{key: str(blocker / "below" / "x")})
    result = run_cli(config, "run")
    assert result.returncode == 2, result.stderr
    err = result.stderr.decode()
    assert err.startswith("error: ") and needle in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root")
def test_assign_into_a_folder_its_user_cannot_write_is_one_line(tmp_path) -> None:
    """First boot used to make /etc/cctview root-owned 0755 and chown only assignment.json to
    the agent's user; ``assign`` writes its temporary file beside it, so it failed with EACCES
    and a traceback. The real CLI runs without the capabilities that let root ignore file modes
    (``setpriv``), in a folder it does not own: the same check ``sudo -n -u cctview`` meets.
    The first-booted local nodes meet it as the real ``cctview`` user (tests/cli)."""
    etc = tmp_path / "etc"
    etc.mkdir()
    config = write_config(tmp_path, assignment=str(etc / "assignment.json"))
    (etc / "assignment.json").write_text("[]\n")
    os.chown(etc, NOBODY, NOBODY)  # neither root's nor writable by others: 0755
    argv = [sys.executable, "-m", "cctview_agent.main", "--config", str(config), "assign", "-"]
    result = subprocess.run(
        ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--", *argv],
        input=json.dumps([CAMERA]).encode(),
        capture_output=True,
        timeout=30,
        env=agent_env(),
    )
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error: cannot write the assignment {etc / 'assignment.json'}: ")
    assert "Permission denied" in err and "chmod 1775" in err
    assert json.loads((etc / "assignment.json").read_text()) == []  # the old one is kept
