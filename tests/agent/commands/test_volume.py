"""``cctview-agent volume``: each rotation step prints one JSON line, and refuses in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cctview_agent.config import AgentConfig, config_from_mapping
from cctview_agent.errors import ConfigError
from cctview_agent.main import main
from tests.agent.volumes.volumenode import (
    NEW,
    OLD,
    make_node,
    old_period,
    store_frames,
)


def write_config(tmp_path: Path, config: AgentConfig) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(config.to_toml())
    assert config_from_mapping({"volume_mode": config.volume_mode}).volume_mode == "folder"
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_rotation_steps_print_json_and_refuse_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_node(tmp_path)
    cfg = str(write_config(tmp_path, config))
    store_frames(tmp_path / "volumes" / OLD, old_period(), 2)
    code, out, _ = run_cli(capsys, "--config", cfg, "volume", "prepare", "--volume-id", NEW)
    assert code == 0 and json.loads(out)["mode"] == "folder"
    code, out, _ = run_cli(capsys, "--config", cfg, "volume", "switch", "--volume-id", NEW)
    assert code == 0 and json.loads(out) == {"volume_id": NEW, "previous": OLD, "changed": True}
    code, out, _ = run_cli(
        capsys, "--config", cfg, "volume", "drain-status", "--volume-id", OLD, "--json"
    )
    drained = json.loads(out)
    assert code == 0 and not drained["drained"] and len(drained["open"]) == 1
    code, out, err = run_cli(capsys, "--config", cfg, "volume", "retire", "--volume-id", OLD)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"error: refusing to retire {OLD}: ")
    code, out, _ = run_cli(capsys, "--config", cfg, "volume", "list", "--json")
    rows = {row["volume_id"]: row for row in json.loads(out)}
    assert rows[NEW]["active"] and not rows[OLD]["active"]
    assert 0 <= rows[NEW]["disk"]["used_percent"] <= 100


def test_cli_bad_volume_id_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(write_config(tmp_path, make_node(tmp_path)))
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", cfg, "volume", "switch", "--volume-id", "sdf"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'sdf' is not an EBS volume id" in err


def test_config_refuses_an_unknown_volume_mode() -> None:
    with pytest.raises(ConfigError, match="volume_mode must be one of auto, block, folder"):
        config_from_mapping({"volume_mode": "lvm"})
