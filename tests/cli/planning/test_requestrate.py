"""`cctview-fleet plan` shows the fleet's request rate to the camera service (issue 10)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cctview_camsim.catalog import catalog_json, synthetic_cameras
from cctview_fleet.app import app
from cctview_fleet.planning.requestrate import request_rate


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("CCTVIEW_CATALOG", raising=False)
    path = tmp_path / "cameras.json"
    path.write_bytes(catalog_json(synthetic_cameras(900, 0), "https://webcams.nyctmc.org"))
    return path


def test_plan_prints_the_load_on_the_service(catalog: Path) -> None:
    runner = CliRunner()
    args = ["plan", "--cameras", "lower-manhattan", "--catalog", str(catalog)]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    data = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    rate = data["request_rate"]
    assert rate["cameras"] == data["cameras"] and rate["nodes"] == data["nodes"]
    assert rate["grid_per_s"] == data["cameras"]  # one request a second per camera
    assert 0.3 * data["cameras"] <= rate["adaptive_per_s"] <= 0.5 * data["cameras"]
    line = (
        f"load on the camera service: ~{rate['adaptive_per_s']:,.0f} requests/s "
        f"(~{rate['adaptive_per_node_s']:,.1f} per node"
    )
    assert line in result.output


def test_request_rate_scales_with_cameras_and_nodes() -> None:
    rate = request_rate(235, 12)
    assert rate.grid_per_s == 235.0
    assert round(rate.adaptive_per_s) == round(235 * 0.343 * 1.3)
    assert rate.adaptive_per_node_s == pytest.approx(rate.adaptive_per_s / 12)
