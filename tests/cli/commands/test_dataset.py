"""`cctview-fleet dataset index|shards|build|coverage` and `frames get --with-metadata` against
moto, on objects uploaded by the real sync (plus one period in the old key layout)."""

from __future__ import annotations

import io
import json
import tarfile
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cctview_agent.layout import DataLayout
from cctview_agent.manifests import Manifest
from cctview_agent.periods import Period
from cctview_agent.s3layout import PeriodObject
from cctview_agent.samples import SampleMetadata
from cctview_agent.sync.options import SyncOptions
from cctview_agent.sync.packing import plan_tar
from cctview_agent.sync.run import run_sync
from cctview_fleet.app import app
from cctview_fleet.cloud.stacks import HOME_ENV, Stack, save_stack
from cctview_fleet.dataset.frames import Dataset
from cctview_fleet.dataset.sampleindex import SampleIndex
from cctview_fleet.dataset.solar import solar_elevation
from tests.fixtures.s3 import MotoServer, stored_frames, write_period

DAY = Period(1743771600, 60)  # 2025-04-04 13:00 UTC: 09:00 in New York, the sun is up
NIGHT = Period(1743739200, 60)  # 2025-04-04 04:00 UTC: midnight in New York
EMPTY = Period(1743775200, 60)  # 2025-04-04 14:00 UTC: polled, nothing stored
OLD = Period(1743858000, 60)  # 2025-04-05 13:00 UTC: uploaded in the old layout
CAM_A = "0bcfbc92-d455-4f62-846a-32afbefa3b4b"
CAM_B = "53a1d1b9-b9c7-4bd1-b2a6-7ea42bfaa0ab"
MANHATTAN = (40.7580, -73.9855)  # Times Square
BROOKLYN = (40.6782, -73.9442)


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def fleet_bucket(
    moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("datasetcmd")
    bucket = f"test-dsc-{uuid.uuid4().hex[:12]}"
    moto_server.client().create_bucket(Bucket=bucket)
    client = moto_server.node_client("ds")  # the nodes of a fleet with bucket prefix "ds"
    data = root / "node-01"
    a = {"camera_name": "7 Ave @ 42 St", "position": MANHATTAN}
    b = {"camera_name": "Flatbush Ave", "position": BROOKLYN}
    write_period(data, CAM_A, DAY, 6, step_ms=5000, **a)  # type: ignore[arg-type]
    write_period(data, CAM_B, DAY, 5, step_ms=5000, **b)  # type: ignore[arg-type]
    write_period(data, CAM_A, NIGHT, 4, step_ms=5000, **a)  # type: ignore[arg-type]
    write_period(data, CAM_B, EMPTY, 0, **b)  # type: ignore[arg-type]
    options = SyncOptions(bucket=bucket, prefix="ds", node="node-01")
    assert run_sync([data], options, client=client).failed == 0
    # One period as agents before the new layout uploaded it: a tar of .jpg members only, the
    # manifest (without positions or offsets) beside it under frames/.
    old = root / "old-node"
    manifest = write_period(old, CAM_A, OLD, 3, step_ms=5000, shard=False)
    target = PeriodObject(CAM_A, OLD, "node-01", OLD.start_ms)
    tar = plan_tar(DataLayout(old), manifest, with_metadata=False).open().read()
    raw = moto_server.client()
    raw.put_object(Bucket=bucket, Key=target.tar_key("ds"), Body=tar)
    raw.put_object(Bucket=bucket, Key=target.legacy_manifest_key("ds"), Body=manifest.to_json())
    return root, bucket


@pytest.fixture
def stack(
    fleet_bucket: tuple[Path, str],
    moto_server: MotoServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    s3_env: dict[str, str],
) -> Stack:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    saved = Stack(
        name="data",
        bucket=fleet_bucket[1],
        prefix="ds",
        endpoint_url=moto_server.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    save_stack(saved)
    return saved


def _keys(moto: MotoServer, bucket: str, prefix: str) -> list[str]:
    pages = moto.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def test_an_empty_period_leaves_a_manifest_and_no_tar(
    fleet_bucket: tuple[Path, str], moto_server: MotoServer, stack: Stack
) -> None:
    keys = _keys(moto_server, stack.bucket, "ds/")
    assert [k for k in keys if f"camera={CAM_B}/{EMPTY.key}" in k] == [
        PeriodObject(CAM_B, EMPTY, "node-01", EMPTY.start_ms).manifest_key("ds")
    ]
    assert not [k for k in keys if k.endswith(".tar") and "hour=14" in k]
    [empty] = Dataset.for_stack(stack).periods(camera=CAM_B, date=EMPTY.date, hour=14)
    assert (empty.tar_key, empty.size, list(Dataset.for_stack(stack).period_frames(empty))) == (
        "",
        0,
        [],
    )


def test_old_layout_objects_still_read_with_metadata_from_the_manifest(
    fleet_bucket: tuple[Path, str], stack: Stack
) -> None:
    dataset = Dataset.for_stack(stack)
    [old] = dataset.periods(date=OLD.date)
    assert old.metadata is False
    frames = list(dataset.period_frames(old))
    assert {f.ts_ms: f.data for f in frames} == stored_frames(
        fleet_bucket[0] / "old-node", CAM_A, OLD
    )
    assert frames[0].metadata.camera_id == CAM_A and frames[0].metadata.latitude is None


def test_frames_get_with_metadata(fleet_bucket: tuple[Path, str], stack: Stack, tmp_path: Path):
    out = tmp_path / "got"
    result = cli(
        "frames", "get", "--stack", "data", "--date", DAY.date, "--hour", "13",
        "--with-metadata", "--out", str(out), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    frame = next(iter(DataLayout(out).frames_in(CAM_A, DAY)))[1]
    metadata = json.loads(frame.with_suffix(".json").read_text())
    assert metadata["camera_name"] == "7 Ave @ 42 St"
    assert (metadata["latitude"], metadata["longitude"]) == MANHATTAN
    assert metadata["time"] == "2025-04-04T13:00:00.000Z" and metadata["node"] == "node-01"


def test_index_agrees_with_the_shards_and_updates_incrementally(
    fleet_bucket: tuple[Path, str], moto_server: MotoServer, stack: Stack
) -> None:
    first = cli("dataset", "index", "--stack", "data", "--json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["samples"] == 6 + 5 + 4 + 3
    table = SampleIndex(Dataset.for_stack(stack)).read()
    rows = table.to_pylist()
    assert len({(r["camera_id"], r["ts_ms"]) for r in rows}) == len(rows) == 18  # each once
    raw = moto_server.client()
    for row in rows:
        body = raw.get_object(Bucket=stack.bucket, Key=row["shard_key"])["Body"].read()
        jpg = body[row["jpg_offset"] : row["jpg_offset"] + row["jpg_size"]]
        node = "old-node" if row["period"] == OLD.key else "node-01"
        period = Period.from_key(row["period"])
        assert jpg == stored_frames(fleet_bucket[0] / node, row["camera_id"], period)[row["ts_ms"]]
        if row["json_size"]:
            meta = json.loads(body[row["json_offset"] : row["json_offset"] + row["json_size"]])
            assert meta["ts_ms"] == row["ts_ms"] and meta["digest"] == row["digest"].hex()
        else:
            assert row["period"] == OLD.key  # the old layout has no metadata members
        assert row["time"] == datetime.fromtimestamp(row["ts_ms"] / 1000, UTC)
    again = json.loads(cli("dataset", "index", "--stack", "data", "--json").stdout)
    assert again["periods_added"] == 0 and again["samples"] == 18


def test_shards_select_by_camera_hours_and_daylight(
    fleet_bucket: tuple[Path, str], stack: Stack
) -> None:
    assert cli("dataset", "index", "--stack", "data").exit_code == 0
    listed = cli("dataset", "shards", "--stack", "data", "--json")
    assert listed.exit_code == 0, listed.output
    everything = json.loads(listed.stdout)
    assert len(everything) == 4  # three new-layout tars, one old; the empty period has none
    assert all(s["url"].startswith(f"s3://{stack.bucket}/ds/frames/") for s in everything)
    day = json.loads(cli("dataset", "shards", "--stack", "data", "--daylight", "--json").stdout)
    assert {(s["camera_id"], s["hour"]) for s in day} == {(CAM_A, 13), (CAM_B, 13)}
    night = cli("dataset", "shards", "--stack", "data", "--hours", "0-6", "--camera", CAM_A)
    assert night.stdout.count("\n") == 1 and "hour=04" in night.stdout
    manhattan = json.loads(
        cli("dataset", "shards", "--stack", "data", "--preset", "manhattan", "--json").stdout
    )
    assert {s["camera_id"] for s in manhattan} == {CAM_A}
    https = cli("dataset", "shards", "--stack", "data", "--form", "https", "--camera", CAM_B)
    [url] = https.stdout.split()
    with (
        urllib.request.urlopen(url, timeout=30) as response,
        tarfile.open(fileobj=io.BytesIO(response.read())) as archive,
    ):
        assert archive.getnames()[0].startswith(CAM_B)
    pipe = cli("dataset", "shards", "--stack", "data", "--form", "pipe", "--camera", CAM_B)
    assert pipe.stdout.startswith(f"pipe:aws --endpoint-url {stack.endpoint_url} s3 cp s3://")
    bad = cli("dataset", "shards", "--stack", "data", "--from", "April")
    assert bad.exit_code == 2 and bad.output.startswith("error: --from 'April' is not a date")


def test_build_mixes_cameras_and_writes_index_and_card(
    fleet_bucket: tuple[Path, str], moto_server: MotoServer, stack: Stack, tmp_path: Path
) -> None:
    assert cli("dataset", "index", "--stack", "data").exit_code == 0
    out = tmp_path / "train"
    result = cli(
        "dataset", "build", "--stack", "data", "--out", str(out), "--target-size", "150K",
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["samples"] == 18 and report["cameras"] == 2 and len(report["shards"]) > 1
    keys: list[str] = []
    cameras_per_shard = []
    for shard in sorted(out.glob("shard-*.tar")):
        with tarfile.open(shard) as archive:
            names = archive.getnames()
        keys += [n.removesuffix(".jpg") for n in names if n.endswith(".jpg")]
        assert len([n for n in names if n.endswith(".json")]) == len(names) // 2
        cameras_per_shard.append({n.split("/")[0] for n in names})
    assert len(keys) == len(set(keys)) == 18
    assert any(len(c) == 2 for c in cameras_per_shard), "shards mix cameras"
    import pyarrow.parquet as pq

    index = pq.read_table(out / "index.parquet").to_pylist()
    assert len(index) == 18
    row = index[0]
    data = (out / row["shard"]).read_bytes()
    meta = SampleMetadata.from_dict(
        json.loads(data[row["json_offset"] : row["json_offset"] + row["json_size"]])
    )
    assert meta.ts_ms == row["ts_ms"] and meta.digest == row["digest"]
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlicense: other\n") and "num_examples: 18" in card
    to_s3 = cli(
        "dataset", "build", "--stack", "data", "--out",
        f"s3://{stack.bucket}/{stack.prefix}/datasets/train", "--daylight", "--json",
    )  # fmt: skip
    assert to_s3.exit_code == 0, to_s3.output
    assert json.loads(to_s3.stdout)["samples"] == 11
    folder = f"{stack.prefix}/datasets/train/"
    assert sorted(_keys(moto_server, stack.bucket, folder)) == [
        f"{folder}README.md",
        f"{folder}index.parquet",
        f"{folder}shard-000000.tar",
    ]


def test_coverage_table_json_and_plot(
    fleet_bucket: tuple[Path, str], stack: Stack, tmp_path: Path
) -> None:
    assert cli("dataset", "index", "--stack", "data").exit_code == 0
    result = cli("dataset", "coverage", "--stack", "data", "--json")
    counts = {(r["camera_id"], r["hour"]): r["samples"] for r in json.loads(result.stdout)}
    assert counts[(CAM_A, "2025-04-04 13")] == 6 and counts[(CAM_A, "2025-04-04 04")] == 4
    plot = tmp_path / "coverage.png"
    drawn = cli("dataset", "coverage", "--stack", "data", "--plot", str(plot))
    assert drawn.exit_code == 0, drawn.output
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_command_before_any_index_says_what_to_do(stack: Stack) -> None:
    result = cli("dataset", "shards", "--stack", "data", "--prefix", "nothing")
    assert result.exit_code == 2
    assert "has no sample index yet; run `cctview-fleet dataset index` first" in result.output


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2025-06-21T16:57:00", 72.72),  # solar noon at the June solstice: 90 - lat + 23.44
        ("2025-12-21T16:54:00", 25.85),  # solar noon at the December solstice: 90 - lat - 23.44
        ("2025-06-21T09:25:00", -0.83),  # sunrise by NOAA's tables (05:25 EDT)
    ],
)
def test_solar_elevation_in_new_york(when: str, expected: float) -> None:
    ts_ms = int(datetime.fromisoformat(when).replace(tzinfo=UTC).timestamp() * 1000)
    assert solar_elevation(40.7128, -74.0060, ts_ms) == pytest.approx(expected, abs=0.15)


def test_manifests_without_new_fields_still_read() -> None:
    manifest = Manifest.from_json(
        json.dumps(
            {
                "version": 1,
                "camera_id": CAM_A,
                "period": {"start": DAY.start, "length": DAY.length},
                "frames": [["1743771600000.jpg", 1743771600000, 10, "0" * 32]],
            }
        )
    )
    assert (manifest.latitude, manifest.shard_layout, manifest.shard_members) == (None, "", ())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["shards", "--form", "ftp"], "error: --form 'ftp': use one of s3, https, pipe"),
        (["shards", "--hours", "7-"], "error: --hours '7-': use H or H-H (UTC), e.g. --hours 7-19"),
        (["shards", "--hours", "7-25"], "error: --hours must be two UTC hours 0-23"),
        (["shards", "--preset", "atlantis"], "error: --preset 'atlantis' is unknown"),
        (["shards", "--camera", "../x"], "error: --camera '../x' is not a camera id"),
        (["build", "--out", "x", "--target-size", "big"], "error: --target-size 'big' is not"),
        (["build", "--out", "ftp://x/y"], "error: --out 'ftp://x/y': give a local folder or"),
        (["build", "--out", "x", "--target-size", "1K"], "error: --target-size must be at least"),
        (["coverage", "--plot", "c.txt"], "error: --plot c.txt: use a .png, .svg or .pdf"),
        (["index", "--date", "2025-13-01"], "error: --date '2025-13-01' is not a date"),
    ],
)
def test_dataset_bad_input_is_one_line(
    args: list[str], message: str, fleet_bucket: tuple[Path, str], stack: Stack
) -> None:
    assert cli("dataset", "index", "--stack", "data").exit_code == 0
    result = cli("dataset", *args, "--stack", "data")
    assert result.exit_code == 2, result.output
    assert result.output.startswith(message) and result.output.count("\n") == 1, result.output


def test_index_reads_only_manifests_it_does_not_cover(
    tmp_path: Path, s3_bucket: str, s3_env: dict[str, str]
) -> None:
    dataset = Dataset(s3_bucket, "inc")
    options = SyncOptions(bucket=s3_bucket, prefix="inc", node="node-01")
    write_period(tmp_path / "a", CAM_A, DAY, 3, step_ms=5000)
    assert run_sync([tmp_path / "a"], options).failed == 0
    from cctview_fleet.dataset.sampleindex import update_index

    first = update_index(dataset)
    assert (first.periods_added, first.samples) == (1, 3)
    write_period(tmp_path / "b", CAM_B, DAY, 2, step_ms=5000)  # a late node, same hour
    assert run_sync([tmp_path / "b"], options).failed == 0
    read: list[str] = []
    original = dataset.manifest
    dataset.manifest = lambda stored: read.append(stored.camera_id) or original(stored)  # type: ignore[method-assign]
    second = update_index(dataset)
    assert (second.periods_added, second.samples, read) == (1, 5, [CAM_B])
    [hour] = second.hours
    assert hour.key == f"inc/index/samples/date={DAY.date}/hour=13.parquet"
