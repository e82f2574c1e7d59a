"""`cctview-fleet sync-s3`: --from DIR against a real moto server, and the whole fleet over real
SSH (local fleet: moto, camera simulator, one sshd and one real agent per node)."""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cctview_agent.layout import DataLayout
from cctview_agent.manifests import Manifest
from cctview_agent.periods import Period
from cctview_fleet.app import app
from cctview_fleet.cloud.stacks import HOME_ENV, Stack, save_stack
from cctview_fleet.nodes.sync import SyncRequest, SyncSummary, parse_event
from tests.fixtures.s3 import MotoServer, stored_frames, write_period

PERIOD = Period(1743771600, 60)
CAM_A = "0bcfbc92-d455-4f62-846a-32afbefa3b4b"
CAM_B = "53a1d1b9-b9c7-4bd1-b2a6-7ea42bfaa0ab"


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def keys(moto: MotoServer, bucket: str) -> list[str]:
    listing = moto.client().list_objects_v2(Bucket=bucket).get("Contents", [])
    return sorted(o["Key"] for o in listing)


def test_agent_command_line_carries_the_flags() -> None:
    request = SyncRequest("b", "p", delete_local=True, dry_run=True, bwlimit="2M")
    assert request.agent_words() == [
        "sync", "--bucket", "b", "--prefix", "p", "--json-progress",
        "--delete-local", "--dry-run", "--bwlimit", "2M",
    ]  # fmt: skip
    assert parse_event('{"event":"bytes","sent":5}') == {"event": "bytes", "sent": 5}
    assert parse_event("warning: something") is None
    read = SyncSummary.from_dict(
        {
            "uploaded": 2,
            "failed": 1,
            "failures": [{"camera_id": "c", "period": "p", "status": "failed", "error": "x"}],
        },
        node="n",
    )
    assert (read.node, read.uploaded, read.failed, read.failures[0].error) == ("n", 2, 1, "x")
    assert SyncSummary.from_dict(read.to_dict()) == read


def test_from_dir_syncs_a_local_folder_and_is_idempotent(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str, s3_env: dict[str, str]
) -> None:
    data = tmp_path / "data"
    write_period(data, CAM_A, PERIOD, 12)
    write_period(data, CAM_B, PERIOD, 9)
    first = cli("sync-s3", "--from", str(data), "--bucket", s3_bucket, "--json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)["local"]
    assert (report["uploaded"], report["failed"], report["frames"], report["error"]) == (
        2,
        0,
        21,
        None,
    )
    assert len(keys(moto_server, s3_bucket)) == 4
    puts = moto_server.count("PUT", s3_bucket)

    second = cli("sync-s3", "--from", str(data), "--bucket", s3_bucket)
    assert second.exit_code == 0, second.output
    assert "sync-s3 to s3://" in second.stdout and "local" in second.stdout
    assert moto_server.count("PUT", s3_bucket) == puts


def test_from_dir_uses_the_stack_and_deletes_only_verified_periods(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    save_stack(
        Stack(
            name="solo",
            bucket=s3_bucket,
            prefix="solo",
            endpoint_url=moto_server.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    )
    data = tmp_path / "data"
    write_period(data, CAM_A, PERIOD, 6)
    bad = write_period(data, CAM_B, PERIOD, 6)
    frame = DataLayout(data).period_dir(CAM_B, PERIOD) / bad.frames[0].name
    frame.write_bytes(b"not the frame the manifest lists")
    result = cli("sync-s3", "--from", str(data), "--stack", "solo", "--delete-local", "--json")
    assert result.exit_code == 1
    assert result.output.endswith("error: sync-s3 failed on 1 of 1 nodes: local\n")
    report = json.loads(result.stdout[: result.stdout.rindex("}") + 1])["local"]
    assert report["error"].startswith("local: 1 of 2 periods failed and were kept locally")
    assert (report["uploaded"], report["deleted"]) == (1, 1)
    assert {key.split("/")[1] for key in keys(moto_server, s3_bucket)} == {"frames", "manifests"}
    assert all(key.startswith("solo/") for key in keys(moto_server, s3_bucket))
    assert stored_frames(data, CAM_A, PERIOD) == {}
    assert len(stored_frames(data, CAM_B, PERIOD)) == 6


def test_from_dir_bad_input_is_one_line(
    tmp_path: Path, moto_server: MotoServer, s3_env: dict[str, str]
) -> None:
    data = tmp_path / "data"
    write_period(data, CAM_A, PERIOD, 2)
    unknown = cli("sync-s3", "--from", str(data), "--bucket", "no-such-bucket-x")
    assert unknown.exit_code == 1
    assert unknown.output == (
        f"error: bucket 'no-such-bucket-x' does not exist ({moto_server.endpoint_url}); "
        "create it (`pulumi up`) or pass the right --bucket\n"
    )
    not_data = cli("sync-s3", "--from", str(tmp_path), "--bucket", "b")
    assert not_data.exit_code == 2
    assert not_data.output.startswith(f"error: {tmp_path} is not a cctview data folder")
    assert not_data.output.count("\n") == 1


# --- the fleet over real SSH


def _complete_periods(fleet: Any, node: str) -> list[tuple[str, Period, Path]]:
    return list(DataLayout(fleet.paths(node).data).manifests())


@pytest.mark.sshd
@pytest.mark.slow
def test_sync_s3_over_ssh_ships_every_node_and_names_failures(local_fleet: Any) -> None:
    fleet = local_fleet(nodes=2, cameras=6, period=5, https=False)
    assigned = cli("assign", "--cameras", "all", "--cameras-per-node", "3", "--json")
    assert assigned.exit_code == 0, assert_output(assigned)
    # node-02 also holds an old period whose frame was damaged on disk after it was closed
    damaged = write_period(fleet.paths("node-02").data, CAM_B, PERIOD, 4, node="node-02")
    frame = DataLayout(fleet.paths("node-02").data).period_dir(CAM_B, PERIOD)
    (frame / damaged.frames[1].name).write_bytes(b"bit rot")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # real agents close real 5 s periods
        if all(len(_complete_periods(fleet, n)) >= 4 for n in fleet.node_names):
            break
        time.sleep(0.5)
    snapshot = {
        (node, camera, period.key): Manifest.read(path)
        for node in fleet.node_names
        for camera, period, path in _complete_periods(fleet, node)
        if camera != CAM_B
    }
    assert len(snapshot) >= 4, "the agents closed too few periods"
    # The real agents record each camera's position from their assignment, and the offsets.
    assert all(m.latitude is not None and m.longitude is not None for m in snapshot.values())
    assert all(len(m.shard_members) == len(m.frames) for m in snapshot.values())

    dry = cli("sync-s3", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert all(r["dry_run"] and r["periods"] >= 1 for r in json.loads(dry.stdout).values())

    result = cli("sync-s3", "--json")
    assert result.exit_code == 1, result.output
    assert result.output.endswith("error: sync-s3 failed on 1 of 2 nodes: node-02\n")
    reports = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    assert reports["node-01"]["error"] is None and reports["node-01"]["uploaded"] >= 1
    assert reports["node-02"]["failed"] == 1 and reports["node-02"]["uploaded"] >= 1
    assert "1 of" in reports["node-02"]["error"] and CAM_B in reports["node-02"]["error"]

    from cctview_fleet.dataset.frames import Dataset

    dataset = Dataset.for_stack(fleet.stack)
    stored = {(p.node, p.camera_id, p.period.key): p for p in dataset.periods()}
    assert all(camera != CAM_B for _node, camera, _key in stored)
    for (node, camera, key), manifest in snapshot.items():
        frames = {f.ts_ms: f.data for f in dataset.period_frames(stored[(node, camera, key)])}
        local = stored_frames(fleet.paths(node).data, camera, manifest.period)
        assert frames == {ts: local[ts] for ts in frames} and len(frames) == len(manifest.frames)

    unknown = cli("sync-s3", "node-09")
    assert unknown.exit_code != 0
    assert unknown.output.startswith("error: unknown node node-09; the fleet has: node-01, node-02")

    broken = cli("sync-s3", "--bucket", "no-such-bucket-y", "node-01", "--json")
    assert broken.exit_code == 1
    error = json.loads(broken.stdout[: broken.stdout.rindex("}") + 1])["node-01"]["error"]
    assert error.startswith("node-01: bucket 'no-such-bucket-y' does not exist")
    assert broken.output.endswith("error: sync-s3 failed on 1 of 1 nodes: node-01\n")


def assert_output(result: Any) -> str:
    return f"exit {result.exit_code}: {result.output}"


def test_tar_member_names_are_camera_folders(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str, s3_env: dict[str, str]
) -> None:
    data = tmp_path / "data"
    write_period(data, CAM_A, PERIOD, 3)
    assert cli("sync-s3", "--from", str(data), "--bucket", s3_bucket).exit_code == 0
    [tar_key] = [k for k in keys(moto_server, s3_bucket) if k.endswith(".tar")]
    body = moto_server.client().get_object(Bucket=s3_bucket, Key=tar_key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:  # a .jpg and a .json per frame
        assert [m.name.split("/")[0] for m in archive.getmembers()] == [CAM_A] * 6
