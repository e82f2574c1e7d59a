"""Issue 11, finding 3: objects in S3 are written by nodes and are untrusted input for readers.

Each case puts a hostile or broken object in moto (starting from what the real sync uploaded)
and checks that `frames get` / the Dataset refuse it before writing anything, and never write
outside --out. Before the fix, the first case wrote a frame to <out>/../escape.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from cctview_agent.periods import Period
from cctview_agent.s3layout import PeriodObject
from cctview_agent.sync.options import SyncOptions
from cctview_agent.sync.run import run_sync
from cctview_fleet.dataset import frames as dataset_module
from cctview_fleet.dataset.frames import Dataset, list_periods
from cctview_fleet.errors import ManifestError
from tests.fixtures.s3 import MotoServer, write_period

PERIOD = Period(1743771600, 60)  # 2025-04-04 13:00
CAM = "53a1d1b9-b9c7-4bd1-b2a6-7ea42bfaa0ab"


@pytest.fixture
def synced(tmp_path: Path, s3_bucket: str, s3_env: dict[str, str]) -> PeriodObject:
    write_period(tmp_path / "node", CAM, PERIOD, 3, step_ms=5000)
    options = SyncOptions(bucket=s3_bucket, prefix="h", node="node-01")
    assert run_sync([tmp_path / "node"], options).failed == 0
    return PeriodObject(CAM, PERIOD, "node-01", PERIOD.start_ms)


def _get(moto: MotoServer, bucket: str, key: str) -> bytes:
    return moto.client().get_object(Bucket=bucket, Key=key)["Body"].read()


def _put(moto: MotoServer, bucket: str, key: str, body: bytes) -> None:
    moto.client().put_object(Bucket=bucket, Key=key, Body=body)


def _edit_manifest(moto: MotoServer, bucket: str, target: PeriodObject, edit: Any) -> None:
    key = target.manifest_key("h")
    data = json.loads(_get(moto, bucket, key))
    edit(data)
    _put(moto, bucket, key, json.dumps(data).encode())


def _extract_refused(bucket: str, out: Path, match: str) -> None:
    with pytest.raises(ManifestError, match=match):
        Dataset(bucket, "h").extract(out, date=PERIOD.date)
    written = [p for p in out.parent.rglob("*") if p.is_file() and "node" not in p.parts]
    assert written == [], f"nothing may be written for a refused period: {written}"


def test_a_manifest_naming_another_camera_cannot_write_outside_out(
    synced: PeriodObject, moto_server: MotoServer, s3_bucket: str, tmp_path: Path
) -> None:
    def escape(data: dict[str, Any]) -> None:
        data["camera_id"] = "../../escape"

    _edit_manifest(moto_server, s3_bucket, synced, escape)
    _extract_refused(s3_bucket, tmp_path / "out", "manifest names camera '../../escape'")
    assert not (tmp_path / "escape").exists()


def test_keys_with_unsafe_parts_are_not_listed(
    synced: PeriodObject, moto_server: MotoServer, s3_bucket: str
) -> None:
    manifest = _get(moto_server, s3_bucket, synced.manifest_key("h"))
    for camera in ("..", ".hidden", "a b"):
        folder = f"h/manifests/date={PERIOD.date}/hour={PERIOD.hour}/camera={camera}/"
        _put(moto_server, s3_bucket, f"{folder}{synced.stem}.manifest.json", manifest)
    assert [p.camera_id for p in list_periods(s3_bucket, "h")] == [CAM]


def _twice(data: dict[str, Any]) -> None:
    data["shard"]["members"].append(data["shard"]["members"][0])


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: [d[k].append(d[k][0]) for k in ("frames",)] and _twice(d), "listed twice"),
        (
            lambda d: d.update(period={**d["period"], "start": d["period"]["start"] + 3600}),
            "period",
        ),
        (lambda d: d["frames"][1].__setitem__(0, "x.jpg"), "not named for its time"),
        (lambda d: d["frames"][1].__setitem__(2, 1 << 40), "has size"),
        (lambda d: d.update(node="node-02"), "manifest names node"),
    ],
    ids=["duplicate-frame", "other-period", "odd-name", "huge-frame", "other-node"],
)
def test_a_manifest_that_disagrees_with_its_key_or_itself_is_refused(
    edit: Any,
    match: str,
    synced: PeriodObject,
    moto_server: MotoServer,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    _edit_manifest(moto_server, s3_bucket, synced, edit)
    _extract_refused(s3_bucket, tmp_path / "out", match)


def test_a_frame_twice_in_the_tar_is_refused(
    synced: PeriodObject, moto_server: MotoServer, s3_bucket: str, tmp_path: Path
) -> None:
    """Before the fix a member repeated in the tar was yielded (and written) twice."""
    key = synced.tar_key("h")
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(_get(moto_server, s3_bucket, key))) as source,
        tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as hostile,
    ):
        members = source.getmembers()
        for member in [*members[:2], *members]:  # the first sample again, in front
            hostile.addfile(member, source.extractfile(member))
    _put(moto_server, s3_bucket, key, out.getvalue())
    _extract_refused(s3_bucket, tmp_path / "out", "its manifest implies")


def test_a_reordered_member_of_the_right_size_is_refused(
    synced: PeriodObject, moto_server: MotoServer, s3_bucket: str, tmp_path: Path
) -> None:
    key = synced.tar_key("h")
    body = bytearray(_get(moto_server, s3_bucket, key))
    first, second = (f"{CAM}/{PERIOD.start_ms + i * 5000}.jpg".encode() for i in (0, 1))
    at = body.index(second)
    body[at : at + len(first)] = first  # the second frame's header now names the first frame
    _put(moto_server, s3_bucket, key, bytes(body))
    _extract_refused(s3_bucket, tmp_path / "out", "expected member")


def test_reads_are_bounded_before_they_are_made(
    synced: PeriodObject,
    moto_server: MotoServer,
    s3_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(dataset_module, "MAX_MANIFEST_BYTES", 100)
        _extract_refused(s3_bucket, tmp_path / "out", "larger than 100 bytes")
    key = synced.tar_key("h")
    _put(moto_server, s3_bucket, key, _get(moto_server, s3_bucket, key) + b"\0" * 10_000_000)
    _extract_refused(s3_bucket, tmp_path / "out", "its manifest implies")
