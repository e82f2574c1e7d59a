"""`cctview-fleet plan` on the real camera list, and the cost model behind it."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cctview_agent.fleetconstants import DEFAULT_PRICES
from cctview_fleet.app import app
from cctview_fleet.errors import ConfigError
from cctview_fleet.planning.capacity import Limit, node_capacity, volume_gib_for
from cctview_fleet.planning.costs import (
    PRICES_ENV,
    free_tier_warnings,
    load_prices,
    prices_from_mapping,
)
from cctview_fleet.planning.sizing import make_plan, nodes_needed


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("CCTVIEW_CATALOG", raising=False)
    monkeypatch.delenv(PRICES_ENV, raising=False)
    monkeypatch.delenv("CCTVIEW_FREE_TIER", raising=False)


def run(*args: str) -> Any:
    result = CliRunner().invoke(app, ["plan", *args], env={"COLUMNS": "200"})
    assert "Traceback" not in result.output, result.output
    return result


def plan_json(catalog: Path, *args: str) -> dict[str, Any]:
    result = run("--cameras", "lower-manhattan", "--catalog", str(catalog), "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_lower_manhattan_needs_12_nodes(real_catalog_path: Path) -> None:
    data = plan_json(real_catalog_path)
    cameras = data["cameras"]
    assert 230 <= cameras <= 240
    assert data["cameras_per_node"] == 21
    assert data["nodes"] == 12 == math.ceil(cameras / 21)
    assert data["selection"] == "--cameras lower-manhattan"
    assert data["frames_per_day"] == cameras * 86_400
    assert data["gib_per_day"] == round(cameras * 86_400 * 20_000 / 1024**3, 3)
    monthly = data["monthly"]
    assert monthly["ec2"]["quantity"] == 12 * 730
    # the default free tier is none: the legacy 12 months are over for every account
    assert monthly["ec2"]["usd"] == round(12 * 730 * 0.0116, 2)
    assert monthly["ebs"]["quantity"] == 12 * (8 + 8)
    assert monthly["ebs"]["usd"] == round(192 * 0.08, 2)
    stored_gb = cameras * 86_400 * 20_000 * 30 / 1e9
    assert monthly["s3_storage"]["quantity"] == round(stored_gb, 3)
    puts_packed = cameras * 24 * 2 * 730 / 24
    assert monthly["s3_requests_packed"]["quantity"] == round(puts_packed, 3)
    puts_per_frame = cameras * 86_400 * 730 / 24
    assert monthly["s3_requests_per_frame"]["quantity"] == round(puts_per_frame, 3)
    # 3,600 frames per camera-hour against 2 PUTs: the packed layout's whole point.
    assert puts_per_frame / puts_packed == 1800
    assert monthly["total_usd_packed"] < monthly["total_usd_per_frame"]
    assert data["prices_as_of"] == DEFAULT_PRICES.as_of
    assert monthly["ipv4"]["quantity"] == 12 * 730
    assert monthly["ipv4"]["usd"] == round(12 * 730 * 0.005, 2)
    assert monthly["total_usd_packed"] == round(
        sum(monthly[k]["usd"] for k in ("ec2", "ipv4", "ebs", "snapshots", "s3_storage",
                                        "s3_requests_packed")), 2)  # fmt: skip
    assert data["free_tier"] == "none"
    assert data["credit_months"] is None
    assert len(data["warnings"]) == 3  # EC2 hours, public IPv4 and EBS are billed


def test_table_prints_nodes_costs_and_warnings(real_catalog_path: Path) -> None:
    result = run("--cameras", "lower-manhattan", "--catalog", str(real_catalog_path))
    assert result.exit_code == 0, result.output
    cameras = plan_json(real_catalog_path)["cameras"]
    assert f"{cameras} cameras (--cameras lower-manhattan) at 21 per node: 12 nodes" in (
        result.stdout
    )
    for line in ("EC2 t2.micro", "8,760 h", "0 h", "$101.62", "EBS", "192 GB", "$15.36",
                 "Public IPv4", "$43.80", "EBS snapshots", "A node takes 28 cameras (disk binds;",
                 "S3 storage", "S3 PUTs, packed", "S3 PUTs, per frame", "total, packed",
                 "total, per frame", "Monthly cost"):  # fmt: skip
        assert line in result.stdout, line
    assert (
        "warning: 12 nodes x 730 h = 8,760 instance-hours a month has no free allowance in this "
        "free tier"
    ) in " ".join(result.stderr.split())
    assert "free tier: none;" in " ".join(result.stdout.split())
    legacy = run("--cameras", "lower-manhattan", "--catalog", str(real_catalog_path),
                 "--free-tier", "legacy")  # fmt: skip
    for line in ("750 h", "$92.92", "$12.96", "$40.05"):
        assert line in legacy.stdout, line
    assert "exceeds the free tier's 750 h" in " ".join(legacy.stderr.split())
    assert "warning: EBS in total 192 GB" in result.stderr


def test_plan_warns_when_a_volume_holds_less_than_two_sync_intervals(tmp_path: Path) -> None:
    """21 cameras of 20 KB at 1 fps fill 3 GiB in about 2.1 h, 2 GiB in 1.4 h: too little to
    survive one missed hourly sync by deleting what S3 already holds."""
    assert not [w for w in make_plan(21, data_volume_gib=3).warnings if "sync intervals" in w]
    (day_long,) = make_plan(21, data_volume_gib=40, period_s=86_400).warnings[-1:]
    assert "less than two sync intervals (48 h)" in day_long  # a period ships once it closes
    catalog = tmp_path / "cameras.json"
    catalog.write_text(json.dumps([
        {"id": f"cam-{i}", "name": "", "latitude": 40.71, "longitude": -74.0} for i in range(21)
    ]))  # fmt: skip
    result = run("--bbox", "-75,40,-73,41", "--catalog", str(catalog), "--data-volume-gib", "2")
    assert result.exit_code == 0, result.output
    assert (
        "warning: a node's 2 GiB data volume holds 1.4 h of frames, less than two sync intervals "
        "(2 h): one missed sync would pause recording; use --data-volume-gib 3 or more, or fewer "
        "--cameras-per-node"
    ) in " ".join(result.stderr.split())


def test_options_change_the_plan(real_catalog_path: Path) -> None:
    base = plan_json(real_catalog_path)
    bigger = plan_json(real_catalog_path, "--cameras-per-node", "250", "--retention-days", "7",
                       "--frame-kb", "10", "--data-volume-gib", "22",
                       "--free-tier", "legacy")  # fmt: skip
    assert bigger["nodes"] == 1
    assert bigger["monthly"]["ec2"]["usd"] == 0  # one node: inside the 750 free hours
    assert bigger["monthly"]["ebs"]["usd"] == 0  # 8 + 22 = 30 GB: inside the free tier
    # 250 cameras on one node are over its CPU, network and disk limits: said, with the way out
    (over,) = bigger["warnings"]
    assert over.startswith("250 cameras per node is over the node's limit for cpu (191), ")
    assert bigger["capacity"]["binding_limit"] == "disk"
    assert bigger["gib_per_day"] == pytest.approx(base["gib_per_day"] / 2, abs=0.001)
    stored = bigger["monthly"]["s3_storage"]["quantity"]
    assert stored == pytest.approx(base["monthly"]["s3_storage"]["quantity"] / 2 * 7 / 30, 1e-3)


def test_prices_file_overrides_the_table(real_catalog_path: Path, tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"ec2_hour_usd": 0.02, "as_of": "2026-11 test"}))
    data = plan_json(real_catalog_path, "--prices", str(prices))
    assert data["monthly"]["ec2"]["usd"] == round(12 * 730 * 0.02, 2)
    assert data["prices_as_of"] == "2026-11 test"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--cameras", "lower-manhatan"], 2, "error: unknown camera set 'lower-manhatan'"),
        (["--cameras", "downtown", "--cameras-per-node", "0"], 2, "--cameras-per-node"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(
    real_catalog_path: Path, args: list[str], code: int, message: str
) -> None:
    result = run(*args, "--catalog", str(real_catalog_path))
    assert result.exit_code == code
    assert message in result.stderr
    assert result.stdout == ""


def test_bad_prices_file_is_one_line(real_catalog_path: Path, tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"ec2_hour": 0.02}))
    result = run("--cameras", "downtown", "--catalog", str(real_catalog_path),
                 "--prices", str(prices))  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {prices}: unknown price 'ec2_hour'; known: as_of, ")
    assert result.stderr.count("\n") == 1


def test_prices_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"s3_gb_month_usd": 0.03}')
    monkeypatch.setenv(PRICES_ENV, str(path))
    assert load_prices().s3_gb_month_usd == 0.03
    assert load_prices(None).ebs_gb_month_usd == DEFAULT_PRICES.ebs_gb_month_usd


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ([], "must be a JSON object"),
        ({"ec2_hour_usd": -1}, "ec2_hour_usd must be a non-negative number, not -1"),
        ({"ec2_hour_usd": True}, "ec2_hour_usd must be a non-negative number"),
        ({"as_of": 3}, "as_of must be text"),
    ],
)
def test_price_overrides_are_validated(raw: Any, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        prices_from_mapping(raw)


def test_free_tier_warnings_thresholds() -> None:
    assert free_tier_warnings(1, 30) == []  # 730 h and 30 GB: exactly inside
    ec2, ipv4 = free_tier_warnings(2, 30)
    assert ec2.startswith("2 nodes x 730 h = 1,460 instance-hours a month exceeds")
    assert ipv4.startswith("2 public IPv4 addresses x 730 h = 1,460 address-hours a month exceeds")
    (ebs,) = free_tier_warnings(1, 31)
    assert ebs.startswith("EBS in total 31 GB (root and data volumes) exceeds the free tier's 30")


def test_nodes_needed_and_plan_guards() -> None:
    assert [nodes_needed(n, 21) for n in (0, 1, 21, 22, 235, 252, 253)] == [0, 1, 1, 2, 12, 12, 13]
    with pytest.raises(ConfigError, match="cameras per node must be at least 1"):
        nodes_needed(10, 0)
    with pytest.raises(ConfigError, match="fps = 0"):
        make_plan(10, fps=0)


def test_free_tier_regimes(real_catalog_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one_node = ("--cameras-per-node", "250", "--data-volume-gib", "22", "--frame-kb", "1")
    legacy = plan_json(real_catalog_path, *one_node, "--free-tier", "legacy")
    assert legacy["free_tier"] == "legacy"
    assert legacy["monthly"]["ec2"]["usd"] == 0
    assert legacy["monthly"]["ipv4"]["usd"] == 0  # 730 address-hours inside the 750 free
    credits = plan_json(real_catalog_path, *one_node, "--free-tier", "credits")
    monthly = credits["monthly"]
    assert monthly["ec2"]["usd"] == round(730 * 0.0116, 2)  # no 750 free hours any more
    assert monthly["ipv4"]["usd"] == round(730 * 0.005, 2)
    assert monthly["ebs"]["usd"] == round(30 * 0.08, 2)
    assert credits["credit_months"] == round(min(6, 200 / monthly["total_usd_packed"]), 2)
    paid = plan_json(real_catalog_path, *one_node)  # the default: none
    assert paid["free_tier"] == "none"
    assert paid["monthly"]["total_usd_packed"] == monthly["total_usd_packed"]
    assert paid["credit_months"] is None
    assert any("has no free allowance in this free tier" in w for w in paid["warnings"])
    monkeypatch.setenv("CCTVIEW_FREE_TIER", "legacy")  # the environment still picks one
    assert plan_json(real_catalog_path, *one_node)["monthly"]["ec2"]["usd"] == 0


def test_retained_volumes_and_snapshots_are_billed(real_catalog_path: Path) -> None:
    base = plan_json(real_catalog_path, "--free-tier", "none")
    kept = plan_json(real_catalog_path, "--free-tier", "none", "--retained-gib", "40",
                     "--snapshot-gb", "10")  # fmt: skip
    assert kept["retained_gib"] == 40
    assert kept["monthly"]["ebs"]["quantity"] == 192 + 40
    assert kept["monthly"]["snapshots"]["usd"] == round(10 * 0.05, 2)
    extra = kept["monthly"]["total_usd_packed"] - base["monthly"]["total_usd_packed"]
    assert extra == pytest.approx(40 * 0.08 + 10 * 0.05, abs=0.011)


def test_bad_free_tier_is_one_line(real_catalog_path: Path) -> None:
    result = run("--cameras", "downtown", "--catalog", str(real_catalog_path),
                 "--free-tier", "12-month")  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr == (
        "error: free tier '12-month' is not one of legacy, credits, none; accounts created on "
        "or after 2025-07-15 have 'credits', e.g. --free-tier credits\n"
    )


def test_node_capacity_limits() -> None:
    # 21 cameras at 1 fps x 20 KB: disk (8 GiB, 4 h) binds before network, CPU and memory.
    capacity = node_capacity(fps=1, frame_bytes=20_000, data_volume_gib=8)
    assert capacity.disk == math.floor(8 * 1024**3 * 0.95 / (20_000 * 3600 * 4)) == 28
    assert capacity.network == 60_000_000 // (2 * 20_000 * 8) == 187
    assert capacity.cpu == math.floor(0.10 / (0.521 / 1000)) == 191
    assert capacity.memory > 10_000
    assert (capacity.binding, capacity.recommended) == (Limit.DISK, 28)
    # A big volume moves the limit to the network: on t2, EBS traffic shares it.
    big = node_capacity(fps=1, frame_bytes=20_000, data_volume_gib=100)
    assert (big.binding, big.recommended) == (Limit.NETWORK, 187)
    # Small frames: the CPU cost per frame binds.
    small = node_capacity(fps=1, frame_bytes=5_000, data_volume_gib=100)
    assert (small.binding, small.recommended) == (Limit.CPU, 191)
    assert volume_gib_for(21, fps=1, frame_bytes=20_000, hold_hours=4) == 6


def test_capacity_warning_names_the_volume_that_fits() -> None:
    plan = make_plan(235, cameras_per_node=40)
    (over,) = [w for w in plan.warnings if "cameras per node" in w]
    assert over == (
        "40 cameras per node is over the node's limit for disk (28): use --cameras-per-node 28 "
        f"or --data-volume-gib {volume_gib_for(40, fps=1, frame_bytes=20_000, hold_hours=4)}"
    )
