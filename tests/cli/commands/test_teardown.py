"""`cctview-fleet teardown` against the moto server: finds and deletes exactly the leftovers."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cctview_fleet.app import app
from cctview_fleet.cloud.stacks import HOME_ENV, STACK_ENV, Stack, save_stack
from tests.fixtures.s3 import MotoServer


def tags(kind: str, pairs: dict[str, str]) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in pairs.items()]}]


class Account:
    """A fleet's resources in moto, with neighbours that teardown must not touch."""

    def __init__(self, moto: MotoServer, bucket: str) -> None:
        self.ec2 = moto.client("ec2")
        self.s3 = moto.client("s3")
        self.bucket = bucket
        self.fleet = f"t{uuid.uuid4().hex[:10]}"
        self.other = f"o{uuid.uuid4().hex[:10]}"
        self.stack = Stack(
            name=self.fleet,
            endpoint_url=moto.endpoint_url,
            bucket=bucket,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        instance = self.ec2.run_instances(
            ImageId="ami-12c6146b", InstanceType="t2.micro", MinCount=1, MaxCount=1,
            TagSpecifications=tags("instance", {"cctview:fleet": self.fleet,
                                                "cctview:node": "node-01"}),
        )["Instances"][0]  # fmt: skip
        self.instance = instance["InstanceId"]
        self.zone = instance["Placement"]["AvailabilityZone"]
        v = self.volume
        self.live1 = v(self.fleet, "node-01", "1", attach="/dev/sdf")  # the fleet itself
        self.live2 = v(self.fleet, "node-01", "2", attach="/dev/sdg", rotation="in-use")
        self.orphan1 = v(self.fleet, "node-02", "1")  # retained, no proof of sync
        self.kept2 = v(self.fleet, "node-02", "2", rotation="kept", size=20)
        self.retired3 = v(self.fleet, "node-03", "3", rotation="retired")
        self.neighbour = v(self.other, "node-01", "2", rotation="kept")
        self.untagged = self.ec2.create_volume(AvailabilityZone=self.zone, Size=1)["VolumeId"]
        self.root = self.ec2.create_volume(
            AvailabilityZone=self.zone, Size=8,
            TagSpecifications=tags("volume", {"cctview:fleet": self.fleet,
                                              "cctview:role": "root"}),
        )["VolumeId"]  # fmt: skip
        self.snapshot = self.snap(self.kept2, self.fleet)
        self.other_snapshot = self.snap(self.neighbour, self.other)
        self.s3.put_object(Bucket=bucket, Key="cctview/frames/a.tar", Body=b"x" * 1000)
        self.upload = self.s3.create_multipart_upload(Bucket=bucket, Key="cctview/frames/b.tar")
        self.s3.upload_part(Bucket=bucket, Key="cctview/frames/b.tar", PartNumber=1,
                            Body=b"y" * 4096, UploadId=self.upload["UploadId"])  # fmt: skip

    def volume(self, fleet: str, node: str, generation: str, *, attach: str = "",
               rotation: str = "", size: int = 8) -> str:  # fmt: skip
        pairs = {"cctview:fleet": fleet, "cctview:node": node, "cctview:generation": generation}
        if rotation:
            pairs["cctview:rotation"] = rotation
        made = self.ec2.create_volume(
            AvailabilityZone=self.zone,
            Size=size,
            VolumeType="gp3",
            TagSpecifications=tags("volume", pairs),
        )
        volume_id = made["VolumeId"]
        if attach:
            self.ec2.attach_volume(VolumeId=volume_id, InstanceId=self.instance, Device=attach)
        return str(volume_id)

    def snap(self, volume_id: str, fleet: str) -> str:
        return str(self.ec2.create_snapshot(
            VolumeId=volume_id,
            TagSpecifications=tags("snapshot", {"cctview:fleet": fleet,
                                                "cctview:volume": volume_id}),
        )["SnapshotId"])  # fmt: skip

    def volumes(self) -> set[str]:
        return {v["VolumeId"] for v in self.ec2.describe_volumes()["Volumes"]}

    def snapshots(self) -> set[str]:
        return {
            s["SnapshotId"] for s in self.ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
        }

    def uploads(self) -> list[str]:
        found = self.s3.list_multipart_uploads(Bucket=self.bucket).get("Uploads") or []
        return [u["UploadId"] for u in found]


@pytest.fixture
def account(moto_server: MotoServer, s3_bucket: str, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Account:  # fmt: skip
    made = Account(moto_server, s3_bucket)
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    monkeypatch.setenv(STACK_ENV, made.fleet)
    monkeypatch.delenv("CCTVIEW_PRICES", raising=False)
    save_stack(made.stack)
    return made


def cli(*args: str, stdin: str | None = None) -> Any:
    result = CliRunner().invoke(app, ["teardown", *args], input=stdin, env={"COLUMNS": "250"})
    assert "Traceback" not in result.output, result.output
    return result


def test_lists_exactly_the_leftovers_with_sizes_and_costs(account: Account) -> None:
    result = cli("--dry-run", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    listed = {item["id"]: item for item in doc["leftovers"]}
    a = account
    assert set(listed) == {a.live2, a.orphan1, a.kept2, a.retired3, a.snapshot,
                           a.upload["UploadId"]}  # fmt: skip
    assert listed[a.kept2]["blocked"] == "" and listed[a.retired3]["blocked"] == ""
    assert listed[a.live2]["blocked"].startswith(f"attached to {a.instance}")
    assert listed[a.orphan1]["blocked"].startswith("may hold periods no sync shipped")
    assert listed[a.kept2]["monthly_usd"] == round(20 * 0.08, 2)
    assert listed[a.kept2]["size_bytes"] == 20 * 1024**3
    assert listed[a.snapshot]["monthly_usd"] == round(20 * 0.05, 2)  # upper bound: volume size
    upload = listed[a.upload["UploadId"]]
    assert (upload["kind"], upload["key"], upload["size_bytes"]) == (
        "upload",
        "cctview/frames/b.tar",
        4096,
    )
    assert doc["deleted"] == [] and doc["failed"] == {}
    protected, bucket = doc["destroy_needs"]
    assert protected.startswith("2 first data volumes are protected in Pulumi's state: ")
    assert bucket.startswith(f"the bucket {a.bucket} holds 1 objects (0.000 GB) and Pulumi never")
    assert a.kept2 in a.volumes() and a.uploads()  # a dry run deletes nothing


def test_yes_deletes_the_deletable_and_nothing_else(account: Account) -> None:
    a = account
    before_volumes, before_snapshots = a.volumes(), a.snapshots()
    result = cli("--yes", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    gone = {a.kept2, a.retired3, a.snapshot, a.upload["UploadId"]}
    assert set(doc["deleted"]) == gone
    assert before_volumes - a.volumes() == {a.kept2, a.retired3}
    assert before_snapshots - a.snapshots() == {a.snapshot}
    assert a.uploads() == []
    for kept in (a.live1, a.live2, a.orphan1, a.neighbour, a.untagged, a.root):
        assert kept in a.volumes(), kept
    assert a.other_snapshot in a.snapshots()
    # told to, the detached first volume without proof of sync goes too; attached ones never
    again = json.loads(cli("--yes", "--json", "--include-unsynced").stdout)
    assert again["deleted"] == [a.orphan1]
    assert a.live2 in a.volumes()


def test_table_asks_first_and_a_no_deletes_nothing(account: Account) -> None:
    result = cli(stdin="n\n")
    assert result.exit_code == 0, result.output
    assert "left by fleet" in result.stdout and "a month in all" in result.stdout
    assert "Delete 4 of them?" in result.stderr
    assert "nothing deleted (4 deletable)" in result.stderr
    assert "next, pulumi destroy: 2 first data volumes are protected" in result.stderr
    assert account.kept2 in account.volumes()
