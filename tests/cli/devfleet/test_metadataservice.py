"""The user data reads its wheel and volume from the instance's tags over IMDSv2: the script's own
reader against the local fleet's metadata service (a real process) and the emulator's EC2 tags."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cctview_fleet.devfleet.metadataservice import HOST, Listener
from cctview_fleet.devfleet.processes import free_port
from cctview_infra.userdata import BOOT_TAGS, READ_TAGS, UserDataSpec, render_user_data
from tests.fixtures.s3 import MotoServer

SHA = "ab" * 32
KEY = f"_agent/{SHA}/cctview_agent-1.0-py3-none-any.whl"


@pytest.fixture
def instance(moto_server: MotoServer) -> str:
    ec2 = moto_server.client("ec2")
    image = ec2.register_image(Name="debian-12-test", Architecture="x86_64",
                               RootDeviceName="/dev/xvda")["ImageId"]  # fmt: skip
    made = ec2.run_instances(ImageId=image, InstanceType="t2.micro", MinCount=1, MaxCount=1)
    return str(made["Instances"][0]["InstanceId"])


@pytest.fixture
def metadata_url(moto_server: MotoServer, instance: str, tmp_path: Path) -> Iterator[str]:
    """The stand-in as `dev up` runs it: its own process, one port for the node."""
    listener = Listener("node-01", free_port(HOST), instance)
    log = (tmp_path / "metadata.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "cctview_fleet.devfleet.metadataservice",
         "--moto", moto_server.endpoint_url, f"--listen={listener.argument()}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://{HOST}:{listener.port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/latest/meta-data/", timeout=1)
            except urllib.error.HTTPError:
                break  # it answers (401 without a token)
            except OSError:
                assert process.poll() is None, (tmp_path / "metadata.log").read_text()
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def tag(moto_server: MotoServer, instance: str, **pairs: str) -> None:
    moto_server.client("ec2").create_tags(
        Resources=[instance], Tags=[{"Key": k, "Value": v} for k, v in pairs.items()]
    )


def read_tags(metadata_url: str) -> subprocess.CompletedProcess[str]:
    """The user data's reader, as the node's python runs it (botocore finds the endpoint)."""
    env = {**os.environ, "AWS_EC2_METADATA_SERVICE_ENDPOINT": metadata_url}
    return subprocess.run([sys.executable, "-", *BOOT_TAGS], input=READ_TAGS, text=True,
                          env=env, capture_output=True, timeout=120)  # fmt: skip


def request(url: str, *, token: str | None = None, method: str = "GET") -> tuple[int, str]:
    headers = {"X-aws-ec2-metadata-token": token} if token else {}
    if method == "PUT":
        headers = {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method, headers=headers),
                                    timeout=10) as response:  # fmt: skip
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def test_the_user_data_embeds_the_reader_for_exactly_the_boot_tags() -> None:
    script = render_user_data(
        UserDataSpec("node-01", "us-east-1", "b", 8), "[Service]\nExecStart=/bin/true\n"
    )
    assert READ_TAGS in script
    assert BOOT_TAGS == ("cctview:agent-key", "cctview:agent-sha256", "cctview:data-volume")


def test_boot_reads_what_upgrade_and_rotation_set_last(
    moto_server: MotoServer, instance: str, metadata_url: str
) -> None:
    tag(moto_server, instance, **{"cctview:agent-key": KEY, "cctview:agent-sha256": SHA,
                                  "cctview:data-volume": "vol-0123456789abcdef0"})  # fmt: skip
    first = read_tags(metadata_url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [KEY, SHA, "vol-0123456789abcdef0"]
    newer = "cd" * 32
    tag(moto_server, instance, **{"cctview:agent-key": f"_agent/{newer}/cctview_agent-2.0-py3-"
                                  "none-any.whl", "cctview:agent-sha256": newer,
                                  "cctview:data-volume": "vol-0fedcba9876543210"})  # fmt: skip
    again = read_tags(metadata_url)
    assert again.stdout.splitlines()[1:] == [newer, "vol-0fedcba9876543210"]


def test_no_volume_tag_reads_as_none(
    moto_server: MotoServer, instance: str, metadata_url: str
) -> None:
    tag(moto_server, instance, **{"cctview:agent-key": KEY, "cctview:agent-sha256": SHA})
    found = read_tags(metadata_url)
    assert found.returncode == 0, found.stderr
    assert found.stdout.split("\n") == [KEY, SHA, "", ""]


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({}, "name no agent wheel (instance metadata tags enabled?"),
        ({"cctview:agent-key": f"_agent/{'0' * 64}/x.whl", "cctview:agent-sha256": SHA},
         "name no agent wheel"),
        ({"cctview:agent-key": KEY, "cctview:agent-sha256": SHA,
          "cctview:data-volume": "vol-x; rm -rf /"}, "is no volume id"),
    ],
)  # fmt: skip
def test_bad_or_missing_tags_stop_first_boot_with_one_line(
    moto_server: MotoServer, instance: str, metadata_url: str, tags: dict[str, str], message: str
) -> None:
    if tags:
        tag(moto_server, instance, **tags)
    found = read_tags(metadata_url)
    assert found.returncode != 0
    assert found.stdout == ""
    lines = found.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], found.stderr


def test_the_stand_in_is_imdsv2_only_and_forwards_credentials(
    moto_server: MotoServer, instance: str, metadata_url: str
) -> None:
    tag(moto_server, instance, Name="n1")
    assert request(f"{metadata_url}/latest/meta-data/tags/instance")[0] == 401  # no IMDSv1
    status, token = request(f"{metadata_url}/latest/api/token", method="PUT")
    assert status == 200 and token
    assert request(f"{metadata_url}/latest/meta-data/tags/instance", token="forged")[0] == 401
    listing: Any = request(f"{metadata_url}/latest/meta-data/tags/instance", token=token)
    assert listing == (200, "Name")
    assert request(f"{metadata_url}/latest/meta-data/tags/instance/Name", token=token) == (
        200,
        "n1",
    )
    assert request(f"{metadata_url}/latest/meta-data/tags/instance/nope", token=token)[0] == 404
    # the role's credentials come from the emulator, as before the stand-in
    assert request(f"{metadata_url}/latest/meta-data/iam/security-credentials/", token=token) == (
        200,
        "default-role",
    )
