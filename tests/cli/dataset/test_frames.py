"""Getting data out: cctview_fleet.dataset.frames and `cctview-fleet frames ls|get` against moto, on
objects uploaded by the real sync. Frames must come back byte for byte, verified."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cctview_agent.layout import DataLayout
from cctview_agent.periods import Period
from cctview_agent.s3layout import PeriodObject
from cctview_agent.sync.options import SyncOptions
from cctview_agent.sync.run import run_sync
from cctview_fleet.app import app
from cctview_fleet.cloud.stacks import HOME_ENV, Stack, save_stack
from cctview_fleet.dataset.frames import Dataset, extract, iter_frames, list_periods
from cctview_fleet.errors import ManifestError
from tests.fixtures.s3 import MotoServer, stored_frames, write_period

H13 = Period(1743771600, 60)  # 2025-04-04 13:00
H14 = Period(1743775200, 60)  # 2025-04-04 14:00
NEXT_DAY = Period(1743858000, 60)  # 2025-04-05 13:00
CAM_A = "0bcfbc92-d455-4f62-846a-32afbefa3b4b"
CAM_B = "53a1d1b9-b9c7-4bd1-b2a6-7ea42bfaa0ab"


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def uploaded_bucket(
    moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    """Four camera-periods over two days, plus one camera-period in two halves (two nodes),
    uploaded once for the module by the real sync; tests that change objects use their own."""
    root = tmp_path_factory.mktemp("dataset")
    bucket = f"test-ds-{uuid.uuid4().hex[:12]}"
    moto_server.client().create_bucket(Bucket=bucket)
    client = moto_server.node_client("ds")  # the nodes of a fleet with bucket prefix "ds"
    data = root / "node-01"
    for camera, period, count in ((CAM_A, H13, 8), (CAM_B, H13, 5), (CAM_A, H14, 6)):
        write_period(data, camera, period, count, step_ms=5000)
    write_period(data, CAM_A, NEXT_DAY, 4, step_ms=5000)
    half = root / "node-02"
    write_period(half, CAM_A, H13, 3, node="node-02", first_offset_ms=45_000, step_ms=5000)
    for folder, node in ((data, "node-01"), (half, "node-02")):
        options = SyncOptions(bucket=bucket, prefix="ds", node=node)
        assert run_sync([folder], options, client=client).failed == 0
    return root, bucket


@pytest.fixture
def uploaded(uploaded_bucket: tuple[Path, str], s3_env: dict[str, str]) -> Path:
    return uploaded_bucket[0]


@pytest.fixture
def s3_bucket(uploaded_bucket: tuple[Path, str]) -> str:  # the module's bucket, for these tests
    return uploaded_bucket[1]


def test_list_periods_by_date_hour_and_camera(uploaded: Path, s3_bucket: str) -> None:
    everything = list_periods(s3_bucket, "ds")
    assert len(everything) == 5
    by_hour = list_periods(s3_bucket, "ds", date="2025-04-04", hour=13)
    assert [(p.camera_id, p.node) for p in by_hour] == [
        (CAM_A, "node-01"),
        (CAM_A, "node-02"),
        (CAM_B, "node-01"),
    ]
    by_camera = list_periods(s3_bucket, "ds", camera=CAM_A)
    assert [(p.date, p.hour, p.node) for p in by_camera] == [
        ("2025-04-04", "13", "node-01"),
        ("2025-04-04", "13", "node-02"),
        ("2025-04-04", "14", "node-01"),
        ("2025-04-05", "13", "node-01"),
    ]
    assert len(list_periods(s3_bucket, "ds", camera=CAM_A, date="2025-04-05")) == 1
    assert list_periods(s3_bucket, "ds", date="2025-04-06") == []


def test_frames_come_back_byte_for_byte_and_halves_merge_in_order(
    uploaded: Path, s3_bucket: str
) -> None:
    got = list(iter_frames(s3_bucket, "ds", camera=CAM_A, date="2025-04-04", hour="13"))
    first = stored_frames(uploaded / "node-01", CAM_A, H13)
    second = stored_frames(uploaded / "node-02", CAM_A, H13)
    assert [ts for _cam, ts, _data in got] == sorted(first) + sorted(second)
    assert {ts: data for _cam, ts, data in got} == {**first, **second}
    assert {cam for cam, _ts, _data in got} == {CAM_A}


def test_extract_writes_the_node_layout(uploaded: Path, s3_bucket: str, tmp_path: Path) -> None:
    result = extract(s3_bucket, tmp_path / "out", "ds", date="2025-04-04")
    assert (result.periods, result.frames) == (4, 8 + 5 + 6 + 3)
    out = DataLayout(tmp_path / "out")
    assert stored_frames(out.root, CAM_B, H13) == stored_frames(uploaded / "node-01", CAM_B, H13)
    assert stored_frames(out.root, CAM_A, H14) == stored_frames(uploaded / "node-01", CAM_A, H14)


def test_a_period_without_its_manifest_is_not_listed(
    uploaded: Path, moto_server: MotoServer, s3_bucket: str
) -> None:
    orphan = PeriodObject(CAM_B, H14, "node-03", H14.start_ms).tar_key("ds")
    moto_server.client().put_object(Bucket=s3_bucket, Key=orphan, Body=b"\0" * 1024)
    assert all(p.node != "node-03" for p in list_periods(s3_bucket, "ds"))


def test_a_damaged_object_is_refused(
    uploaded: Path, moto_server: MotoServer, s3_bucket: str
) -> None:
    [stored] = list_periods(s3_bucket, "ds", camera=CAM_B)
    client = moto_server.client()
    body = client.get_object(Bucket=s3_bucket, Key=stored.tar_key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        first = archive.getmembers()[0]
        offset = first.offset_data + 200
    damaged = body[:offset] + bytes([body[offset] ^ 0xFF]) + body[offset + 1 :]
    client.put_object(Bucket=s3_bucket, Key=stored.tar_key, Body=damaged)
    try:
        with pytest.raises(ManifestError, match="does not match its manifest digest"):
            list(Dataset(s3_bucket, "ds").period_frames(stored))
    finally:
        client.put_object(Bucket=s3_bucket, Key=stored.tar_key, Body=body)  # for the others


@pytest.fixture
def stack(tmp_path: Path, moto_server: MotoServer, s3_bucket: str, monkeypatch: Any) -> Stack:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    saved = Stack(
        name="data",
        bucket=s3_bucket,
        prefix="ds",
        endpoint_url=moto_server.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    save_stack(saved)
    return saved


def test_frames_ls_and_get(uploaded: Path, stack: Stack, tmp_path: Path) -> None:
    listed = cli("frames", "ls", "--stack", "data", "--date", "2025-04-04", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert len(rows) == 4 and {r["hour"] for r in rows} == {"13", "14"}
    table = cli("frames", "ls", "--stack", "data", "--camera", CAM_B)
    assert table.exit_code == 0 and "1 periods" in table.stdout

    got = cli(
        "frames", "get", "--stack", "data", "--camera", CAM_A, "--date", "2025-04-05",
        "--out", str(tmp_path / "got"), "--json",
    )  # fmt: skip
    assert got.exit_code == 0, got.output
    assert json.loads(got.stdout)["frames"] == 4
    assert stored_frames(tmp_path / "got", CAM_A, NEXT_DAY) == stored_frames(
        uploaded / "node-01", CAM_A, NEXT_DAY
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["ls", "--date", "04/04/2025"],
            "error: --date '04/04/2025' is not a date; use YYYY-MM-DD",
        ),
        (["ls", "--hour", "13"], "error: --hour needs --date"),
        (["ls", "--date", "2025-04-04", "--hour", "24"], "error: --hour 24 must be 0 to 23 (UTC)"),
        (["get", "--out", "x"], "error: give --camera, --date or both"),
    ],
)
def test_frames_bad_input_is_one_line(args: list[str], message: str, stack: Stack) -> None:
    result = cli("frames", *args, "--stack", "data")
    assert result.exit_code == 2
    assert result.output.startswith(message) and result.output.count("\n") == 1, result.output


def test_frames_unknown_bucket(stack: Stack) -> None:
    empty = cli("frames", "ls", "--stack", "data", "--prefix", "nothing-here", "--json")
    assert empty.exit_code == 0 and json.loads(empty.stdout) == []
    missing = Stack(
        name="gone",
        bucket="no-such-bucket-z",
        endpoint_url=stack.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    save_stack(missing)
    gone = cli("frames", "ls", "--stack", "gone")
    assert gone.exit_code == 1
    assert gone.output.startswith("error: bucket 'no-such-bucket-z' of stack 'gone' does not exist")
