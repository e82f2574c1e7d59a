"""cctview-agent sync against a real moto server: round trip, idempotence, resume after kill -9,
a dropped link, two halves of a reassigned camera, and that nothing local is lost unverified."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from cctview_agent.config import AgentConfig
from cctview_agent.errors import SyncError
from cctview_agent.layout import DataLayout
from cctview_agent.manifests import Manifest
from cctview_agent.periods import Period
from cctview_agent.s3layout import PeriodObject, parse_key
from cctview_agent.samples import SampleMetadata
from cctview_agent.sync.lock import sync_lock
from cctview_agent.sync.options import SyncOptions
from cctview_agent.sync.run import run_sync
from tests.fixtures.s3 import FaultyProxy, MotoServer, frames_in_tar, stored_frames, write_period

PERIOD = Period(1743771600, 60)  # 2025-04-04T13:00:00Z, one minute (tests use short periods)
CAM_A = "0bcfbc92-d455-4f62-846a-32afbefa3b4b"
CAM_B = "53a1d1b9-b9c7-4bd1-b2a6-7ea42bfaa0ab"


def agent_sync(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cctview_agent.main", "sync", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def objects(moto: MotoServer, bucket: str) -> dict[str, bytes]:
    client = moto.client()
    listing = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {
        o["Key"]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listing
    }


def _body(client: Any, bucket: str, key: str) -> bytes:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def summary_of(stdout: str) -> dict[str, Any]:
    events = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    assert events[-1]["event"] == "summary", events[-1]
    return events[-1]


# --- against moto


def test_round_trip_frames_come_back_byte_for_byte(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str, s3_env: dict[str, str]
) -> None:
    data = tmp_path / "data"
    position = (40.7128, -74.006)
    write_period(data, CAM_A, PERIOD, 30, step_ms=2000, camera_name="A St", position=position)
    write_period(data, CAM_B, PERIOD, 25, step_ms=2000)
    write_period(data, CAM_A, PERIOD.next(), 20, step_ms=2000)
    summary = run_sync([data], SyncOptions(bucket=s3_bucket, prefix="rt", node="node-01"))
    assert (summary.uploaded, summary.failed, summary.frames) == (3, 0, 75)
    assert summary.bytes_verified == summary.bytes_uploaded > 75 * 15_000
    stored = objects(moto_server, s3_bucket)
    assert len(stored) == 6
    # The frames folders hold shards only; manifests sit under the parallel prefix.
    assert all(k.endswith(".tar") for k in stored if k.startswith("rt/frames/"))
    assert all(k.endswith(".manifest.json") for k in stored if k.startswith("rt/manifests/"))
    for camera, period in ((CAM_A, PERIOD), (CAM_B, PERIOD), (CAM_A, PERIOD.next())):
        [tar_key] = [
            k for k in stored if f"camera={camera}/{period.key}" in k and k.endswith(".tar")
        ]
        assert frames_in_tar(stored[tar_key]) == stored_frames(data, camera, period)
        target, _kind = parse_key(tar_key)  # type: ignore[misc]
        manifest_key = target.manifest_key("rt")
        assert manifest_key.startswith("rt/manifests/date=")
        local_manifest = DataLayout(data).manifest_path(camera, period).read_bytes()
        assert stored[manifest_key] == local_manifest
        manifest = Manifest.from_json(local_manifest)
        metadata = frames_in_tar(stored[tar_key], ".json")
        assert metadata == {
            f.ts_ms: SampleMetadata.of(manifest, f).to_json() for f in manifest.frames
        }
        first = json.loads(metadata[manifest.frames[0].ts_ms])
        assert first["node"] == "node-01" and first["period"] == period.key
        assert first["time"].endswith("Z") and first["ts_ms"] == manifest.frames[0].ts_ms
        assert first["digest"] == manifest.frames[0].digest
        if (camera, period) == (CAM_A, PERIOD):
            assert (first["camera_name"], first["latitude"], first["longitude"]) == (
                "A St",
                *position,
            )
        # Offsets recorded in the manifest point at the members' bytes in the uploaded tar.
        for frame, (jpg, meta, size) in zip(manifest.frames, manifest.shard_members, strict=True):
            tar = stored[tar_key]
            assert tar[jpg : jpg + frame.size] == stored_frames(data, camera, period)[frame.ts_ms]
            assert tar[meta : meta + size] == metadata[frame.ts_ms]
        receipt = json.loads(DataLayout(data).receipt_path(camera, period).read_text())
        assert receipt["tar_key"] == tar_key and receipt["bucket"] == s3_bucket


def test_second_run_uploads_nothing(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str
) -> None:
    data = tmp_path / "data"
    write_period(data, CAM_A, PERIOD, 10)
    write_period(data, CAM_B, PERIOD, 10)
    args = ("--bucket", s3_bucket, "--data", str(data), "--json-progress")
    first = agent_sync(*args, env=moto_server.env)
    assert first.returncode == 0, first.stderr
    assert summary_of(first.stdout)["uploaded"] == 2
    puts = moto_server.count("PUT", s3_bucket)
    assert puts == 4, "a camera-period costs two PUTs: tar and manifest"

    second = agent_sync(*args, env=moto_server.env)
    assert second.returncode == 0, second.stderr
    assert summary_of(second.stdout)["already_synced"] == 2
    assert moto_server.count("PUT", s3_bucket) == puts

    # Receipts lost (a crash after upload, before the receipt): HEAD finds the objects, no PUT.
    for receipt in (data / "synced").rglob("*.json"):
        receipt.unlink()
    third = agent_sync(*args, env=moto_server.env)
    assert third.returncode == 0, third.stderr
    assert summary_of(third.stdout)["present"] == 2
    assert moto_server.count("PUT", s3_bucket) == puts
    assert len(list((data / "synced").rglob("*.json"))) == 2


def test_kill_9_mid_multipart_upload_then_rerun_finishes(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str
) -> None:
    data = tmp_path / "data"
    write_period(data, CAM_A, PERIOD, 560, step_ms=100)  # ~11 MB: three 5 MiB parts
    multipart = ("--multipart-threshold", "5M", "--part-size", "5M")
    args = ("--bucket", s3_bucket, "--data", str(data), "--json-progress", *multipart)
    process = subprocess.Popen(
        [sys.executable, "-m", "cctview_agent.main", "sync", *args, "--bwlimit", "4M"],
        env={**os.environ, **moto_server.env},
        stdout=subprocess.PIPE,
        text=True,
    )
    client = moto_server.client()
    try:
        deadline = time.monotonic() + 30
        parts: list[Any] = []
        while time.monotonic() < deadline and not parts:
            uploads = client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])
            if uploads:
                upload = uploads[0]
                parts = client.list_parts(
                    Bucket=s3_bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                ).get("Parts", [])
            time.sleep(0.05)
        assert parts, "the slowed sync never finished a first part"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.stdout is not None
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    assert "Contents" not in client.list_objects_v2(Bucket=s3_bucket)
    assert not (data / "synced").exists()

    rerun = agent_sync(*args, env=moto_server.env)
    assert rerun.returncode == 0, rerun.stderr
    summary = summary_of(rerun.stdout)
    assert (summary["uploaded"], summary["resumed_uploads"]) == (1, 1)
    assert summary["requests"]["upload_part"] < 3, "parts uploaded before the kill are kept"
    assert client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    stored = objects(moto_server, s3_bucket)
    [tar] = [v for k, v in stored.items() if k.endswith(".tar")]
    assert frames_in_tar(tar) == stored_frames(data, CAM_A, PERIOD)


def test_leftover_upload_of_a_finished_period_is_aborted(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str, s3_env: dict[str, str]
) -> None:
    data = tmp_path / "data"
    write_period(data, CAM_A, PERIOD, 5)
    client = moto_server.client()
    stale = PeriodObject(CAM_B, PERIOD, "node-01", PERIOD.start_ms).tar_key("cctview")
    foreign = PeriodObject(CAM_B, PERIOD, "node-02", PERIOD.start_ms).tar_key("cctview")
    client.create_multipart_upload(Bucket=s3_bucket, Key=stale)
    client.create_multipart_upload(Bucket=s3_bucket, Key=foreign)
    summary = run_sync([data], SyncOptions(bucket=s3_bucket, node="node-01"))
    assert summary.aborted_uploads == 1
    left = [u["Key"] for u in client.list_multipart_uploads(Bucket=s3_bucket)["Uploads"]]
    assert left == [foreign], "another node's upload may be running: it is left alone"


def test_dropped_connection_fails_in_one_line_and_rerun_completes(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str
) -> None:
    data = tmp_path / "data"
    write_period(data, CAM_A, PERIOD, 40)
    write_period(data, CAM_B, PERIOD, 40)
    before = {cam: stored_frames(data, cam, PERIOD) for cam in (CAM_A, CAM_B)}
    port = int(moto_server.endpoint_url.rsplit(":", 1)[1])
    with FaultyProxy(port) as proxy:
        proxy.cut_after = 200_000  # every connection dies a quarter into the first tar
        env = {**moto_server.env, "AWS_ENDPOINT_URL": proxy.endpoint_url}
        failed = agent_sync("--bucket", s3_bucket, "--data", str(data), "--delete-local", env=env)
        assert failed.returncode != 0
        assert proxy.cuts >= 1
        lines = failed.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: cannot reach"), failed.stderr
        assert "rerun" in lines[0]
        assert {cam: stored_frames(data, cam, PERIOD) for cam in (CAM_A, CAM_B)} == before
        assert not (data / "synced").exists()

        proxy.cut_after = None  # the link is back
        again = agent_sync("--bucket", s3_bucket, "--data", str(data), env=env)
        assert again.returncode == 0, again.stderr
    assert len(list((data / "synced").rglob("*.json"))) == 2
    for key, body in objects(moto_server, s3_bucket).items():
        if key.endswith(".tar"):
            camera = parse_key(key)[0].camera_id  # type: ignore[index]
            assert frames_in_tar(body) == before[camera]


def test_corrupted_upload_fails_verification_and_keeps_the_local_period(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str
) -> None:
    """moto stores whatever checksum a client sends, but computes the ETag from the bytes it
    got: a byte flipped on the wire is caught by the ETag check, and nothing is deleted."""
    data = tmp_path / "data"
    write_period(data, CAM_A, PERIOD, 20)
    before = stored_frames(data, CAM_A, PERIOD)
    port = int(moto_server.endpoint_url.rsplit(":", 1)[1])
    with FaultyProxy(port) as proxy:
        proxy.corrupt = ".tar"
        env = {**moto_server.env, "AWS_ENDPOINT_URL": proxy.endpoint_url}
        result = agent_sync("--bucket", s3_bucket, "--data", str(data), "--delete-local", env=env)
    assert result.returncode == 1
    assert "failed verification (ETag" in result.stderr
    assert stored_frames(data, CAM_A, PERIOD) == before
    assert DataLayout(data).manifest_path(CAM_A, PERIOD).exists()
    assert not DataLayout(data).receipt_path(CAM_A, PERIOD).exists()


def test_camera_reassigned_mid_period_keeps_both_halves(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str, s3_env: dict[str, str]
) -> None:
    first, second = tmp_path / "node-01", tmp_path / "node-02"
    write_period(first, CAM_A, PERIOD, 15, node="node-01", step_ms=2000)
    write_period(second, CAM_A, PERIOD, 15, node="node-02", first_offset_ms=30_000, step_ms=2000)
    for root, node in ((first, "node-01"), (second, "node-02")):
        summary = run_sync([root], SyncOptions(bucket=s3_bucket, node=node))
        assert summary.uploaded == 1 and summary.failed == 0
    stored = objects(moto_server, s3_bucket)
    tars = {parse_key(k)[0].node: v for k, v in stored.items() if k.endswith(".tar")}  # type: ignore[index]
    assert set(tars) == {"node-01", "node-02"} and len(stored) == 4
    assert frames_in_tar(tars["node-01"]) == stored_frames(first, CAM_A, PERIOD)
    assert frames_in_tar(tars["node-02"]) == stored_frames(second, CAM_A, PERIOD)


def test_existing_object_is_never_overwritten(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str, s3_env: dict[str, str]
) -> None:
    data = tmp_path / "data"
    manifest = write_period(data, CAM_A, PERIOD, 8)
    write_period(data, CAM_B, PERIOD, 8)
    key = PeriodObject(CAM_A, PERIOD, "node-01", manifest.frames[0].ts_ms).tar_key("cctview")
    moto_server.client().put_object(Bucket=s3_bucket, Key=key, Body=b"someone else's bytes")
    options = SyncOptions(bucket=s3_bucket, node="node-01", delete_local=True)
    summary = run_sync([data], options)
    assert (summary.uploaded, summary.failed) == (1, 1)
    [failure] = [o for o in summary.outcomes if o.status == "failed"]
    assert failure.camera_id == CAM_A and "not overwritten" in failure.error
    body = moto_server.client().get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    assert body == b"someone else's bytes"
    assert len(stored_frames(data, CAM_A, PERIOD)) == 8
    assert stored_frames(data, CAM_B, PERIOD) == {}, "the verified period was deleted"


def test_delete_local_only_after_verification(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str, s3_env: dict[str, str]
) -> None:
    data = tmp_path / "data"
    write_period(data, CAM_A, PERIOD, 10)
    bad = write_period(data, CAM_B, PERIOD, 10)
    layout = DataLayout(data)
    damaged = layout.period_dir(CAM_B, PERIOD) / bad.frames[3].name
    damaged.write_bytes(damaged.read_bytes()[:-10])  # disk damage after the manifest was written
    summary = run_sync([data], SyncOptions(bucket=s3_bucket, node="n1", delete_local=True))
    assert (summary.uploaded, summary.failed, summary.deleted) == (1, 1, 1)
    assert stored_frames(data, CAM_A, PERIOD) == {}
    assert not layout.manifest_path(CAM_A, PERIOD).exists()
    assert layout.receipt_path(CAM_A, PERIOD).exists()
    assert len(stored_frames(data, CAM_B, PERIOD)) == 10, "an unverified period is kept whole"
    assert layout.manifest_path(CAM_B, PERIOD).exists()
    assert all(CAM_B not in key for key in objects(moto_server, s3_bucket))


def test_two_syncs_do_not_race(tmp_path: Path, moto_server: MotoServer, s3_bucket: str) -> None:
    data = tmp_path / "data"
    write_period(data, CAM_A, PERIOD, 3)
    with sync_lock(data.resolve()):
        result = agent_sync("--bucket", s3_bucket, "--data", str(data), env=moto_server.env)
    assert result.returncode != 0
    assert result.stderr.startswith("error: another sync is running on")
    assert f"(pid {os.getpid()})" in result.stderr
    assert moto_server.count("PUT", s3_bucket) == 0


def test_dry_run_lists_without_touching_s3(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str
) -> None:
    data = tmp_path / "data"
    write_period(data, CAM_A, PERIOD, 3)
    before = len(moto_server.request_log())
    args = ("--bucket", s3_bucket, "--data", str(data), "--dry-run", "--json-progress")
    result = agent_sync(*args, env=moto_server.env)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["status"] for e in events if e["event"] == "period"] == ["would-upload"]
    assert len(moto_server.request_log()) == before
    assert not (data / "synced").exists()


@pytest.mark.parametrize(
    ("case", "expect"),
    [
        ("unknown-bucket", "error: bucket 'no-such-bucket-here' does not exist"),
        ("no-credentials", "error: no AWS credentials found"),
        ("unreachable", "error: cannot reach http://127.0.0.1:9"),
        ("no-bucket-flag", "error: no bucket given; pass --bucket NAME"),
    ],
)
def test_bad_input_gives_one_line(
    case: str, expect: str, tmp_path: Path, moto_server: MotoServer, s3_bucket: str
) -> None:
    data = tmp_path / "data"
    write_period(data, CAM_A, PERIOD, 3)
    env = dict(moto_server.env)
    bucket = s3_bucket
    if case == "unknown-bucket":
        bucket = "no-such-bucket-here"
    elif case == "no-credentials":
        env.update(
            AWS_ACCESS_KEY_ID="",
            AWS_SECRET_ACCESS_KEY="",
            AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
            AWS_CONFIG_FILE=str(tmp_path / "none"),
            AWS_EC2_METADATA_DISABLED="true",
        )
    elif case == "unreachable":
        env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
    elif case == "no-bucket-flag":
        bucket = ""
    result = agent_sync("--bucket", bucket, "--data", str(data), env=env)
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(expect), result.stderr
    assert "Traceback" not in result.stderr
    assert len(stored_frames(data, CAM_A, PERIOD)) == 3


def test_run_sync_raises_sync_error_for_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(SyncError, match="does not exist"):
        run_sync([tmp_path / "nope"], SyncOptions(bucket="b"))


def test_kill_9_mid_single_put_leaves_nothing_then_rerun_uploads(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str
) -> None:
    data = tmp_path / "data"
    write_period(data, CAM_A, PERIOD, 30)  # ~600 KB, one PUT
    args = ("--bucket", s3_bucket, "--data", str(data), "--json-progress")
    process = subprocess.Popen(
        [sys.executable, "-m", "cctview_agent.main", "sync", *args, "--bwlimit", "150K"],
        env={**os.environ, **moto_server.env},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:  # wait until the body is on its way
            if json.loads(line)["event"] == "bytes":
                break
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.stdout is not None
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    assert "Contents" not in moto_server.client().list_objects_v2(Bucket=s3_bucket)
    rerun = agent_sync(*args, env=moto_server.env)
    assert rerun.returncode == 0, rerun.stderr
    assert summary_of(rerun.stdout)["uploaded"] == 1
    [tar] = [v for k, v in objects(moto_server, s3_bucket).items() if k.endswith(".tar")]
    assert frames_in_tar(tar) == stored_frames(data, CAM_A, PERIOD)


def test_config_syncs_the_data_folder_and_older_volumes(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str
) -> None:
    """data_dir links to the active volume; an older volume still mounted beside it drains too."""
    volumes = tmp_path / "volumes"
    write_period(volumes / "vol-old", CAM_A, PERIOD, 4)
    write_period(volumes / "vol-new", CAM_A, PERIOD.next(), 4)
    (tmp_path / "data").symlink_to(volumes / "vol-new")
    config = tmp_path / "agent.toml"
    config.write_text(
        AgentConfig(data_dir=tmp_path / "data", volumes_dir=volumes, node="node-07").to_toml()
    )
    result = agent_sync(
        "--bucket",
        s3_bucket,
        "--json-progress",
        env={**moto_server.env, "CCTVIEW_AGENT_CONFIG": str(config)},
    )
    assert result.returncode == 0, result.stderr
    summary = summary_of(result.stdout)
    assert (summary["uploaded"], summary["node"]) == (2, "node-07")
    assert DataLayout(volumes / "vol-old").receipt_path(CAM_A, PERIOD).exists()
    assert DataLayout(volumes / "vol-new").receipt_path(CAM_A, PERIOD.next()).exists()


def test_retention_deletes_only_verified_periods_older_than_it(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str, s3_env: dict[str, str]
) -> None:
    data = tmp_path / "data"
    layout = DataLayout(data)
    old, recent = PERIOD, Period.current(PERIOD.length)  # ended long ago / still open now
    write_period(data, CAM_A, old, 5, step_ms=2000)
    write_period(data, CAM_B, old, 5, step_ms=2000)
    write_period(data, CAM_A, recent, 5, step_ms=1)
    options = SyncOptions(bucket=s3_bucket, prefix="ret", node="node-01", retain_seconds=3600)
    # nothing is in S3 yet: a run that cannot upload deletes nothing, whatever the retention
    with pytest.raises(SyncError, match="does not exist"):
        run_sync(
            [data], SyncOptions(bucket="no-such-bucket", prefix="ret", node="n", retain_seconds=0)
        )
    assert layout.frames_in(CAM_B, old) and layout.frames_in(CAM_A, recent)
    uploaded = run_sync([data], options)
    assert (uploaded.uploaded, uploaded.failed) == (3, 0)
    # verified and older than the retention: deleted, on the next run (receipts first, then age)
    second = run_sync([data], options)
    assert second.deleted == 2 and second.uploaded == 0
    assert not layout.frames_in(CAM_A, old) and not layout.frames_in(CAM_B, old)
    assert layout.receipt_path(CAM_A, old).exists()  # the record that it is safe in S3 stays
    assert len(layout.frames_in(CAM_A, recent)) == 5  # verified but recent: kept


# --- a receipt counts only for the fleet's bucket (finding 4 of the hardening issue)


def test_a_copy_in_another_bucket_does_not_count_for_the_fleet(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str, s3_env: dict[str, str]
) -> None:
    """`sync --bucket other` used to leave receipts that the hourly sync took for its own: the
    periods never reached the fleet's bucket and retention then deleted them."""
    other = f"other-{s3_bucket}"
    moto_server.client("s3").create_bucket(Bucket=other)
    data = tmp_path / "data"
    layout = DataLayout(data)
    write_period(data, CAM_A, PERIOD, 5, step_ms=2000)
    fleet = SyncOptions(bucket=s3_bucket, prefix="cctview", node="node-01", retain_seconds=0)
    away = SyncOptions(bucket=other, prefix="cctview", node="node-01", fleet=fleet.target)
    assert run_sync([data], away).uploaded == 1  # an operator's copy elsewhere
    with pytest.raises(SyncError, match=f"count only copies in the fleet's s3://{s3_bucket}/"):
        run_sync([data], SyncOptions(bucket=other, retain_seconds=0, fleet=fleet.target))
    assert len(layout.frames_in(CAM_A, PERIOD)) == 5
    hourly = run_sync([data], fleet)  # the node's hourly sync, with retention
    assert (hourly.uploaded, hourly.already_synced, hourly.deleted) == (1, 0, 0)
    assert any(CAM_A in key for key in objects(moto_server, s3_bucket))
    assert json.loads(layout.receipt_path(CAM_A, PERIOD).read_text())["bucket"] == s3_bucket
    assert len(layout.frames_in(CAM_A, PERIOD)) == 5  # in the fleet's bucket only now
    assert run_sync([data], fleet).deleted == 1  # verified in the fleet's bucket: may go
    assert not layout.frames_in(CAM_A, PERIOD)


def test_the_agent_refuses_to_delete_for_a_copy_outside_the_fleets_bucket(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str
) -> None:
    """The fleet's bucket comes from agent.toml: `sync --bucket other --retain-days` is refused."""
    write_period(tmp_path / "data", CAM_A, PERIOD, 3)
    config = tmp_path / "agent.toml"
    config.write_text(
        AgentConfig(data_dir=tmp_path / "data", node="node-07", bucket=s3_bucket).to_toml()
    )
    env = {**moto_server.env, "CCTVIEW_AGENT_CONFIG": str(config)}
    refused = agent_sync("--bucket", f"x{s3_bucket}", "--retain-days", "0", env=env)
    assert refused.returncode != 0 and refused.stdout == ""
    assert refused.stderr == (
        f"error: --delete-local and --retain-days count only copies in the fleet's "
        f"s3://{s3_bucket}/cctview, not s3://x{s3_bucket}/cctview; sync to another bucket "
        "without them\n"
    )
    assert agent_sync("--bucket", s3_bucket, "--retain-days", "0", env=env).returncode == 0
