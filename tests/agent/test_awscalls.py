"""The AWS call recorder (cctview_agent/awscalls.py) against a real moto server, and the IAM
checks over what it records: a real sync's calls are allowed by the node role, a call the policy
lacks is refused, a request without TLS is denied by the bucket policy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cctview_agent.awscalls import DEPLOYER, NODE, RECORD_ENV, acting_as, read_calls
from cctview_agent.periods import Period
from cctview_agent.sync.uploader import make_client
from cctview_infra.iam.check import check_calls
from cctview_infra.iam.evaluator import Decision
from tests.fixtures.s3 import MotoServer, write_period

PERIOD = Period(1743771600, 60)
CAM = "0bcfbc92-d455-4f62-846a-32afbefa3b4b"


@pytest.fixture
def node_client(
    tmp_path: Path,
    moto_server: MotoServer,
    s3_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Any, Path]:
    """An agent's S3 client for a fleet with prefix ``cctview``, recording to its own log."""
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv(RECORD_ENV, str(log))
    return make_client(moto_server.endpoint_url, "us-east-1", fleet_prefix="cctview"), log


def test_a_real_sync_is_recorded_with_its_iam_context_and_allowed_by_the_node_role(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str
) -> None:
    data, log = tmp_path / "data", tmp_path / "calls.jsonl"
    write_period(data, CAM, PERIOD, 560, step_ms=100)  # ~11 MB: a multipart upload
    write_period(data, CAM, Period(PERIOD.end_ms // 1000, 60), 3)  # and a single PUT
    multipart = ("--multipart-threshold", "5M", "--part-size", "5M")
    args = ("--bucket", s3_bucket, "--prefix", "fleet", "--data", str(data), *multipart)
    result = subprocess.run(
        [sys.executable, "-m", "cctview_agent.main", "sync", *args],
        env={**os.environ, **moto_server.env, RECORD_ENV: str(log)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    calls, _ = read_calls(log)
    assert {c.principal for c in calls} == {NODE}
    assert {c.fleet_prefix for c in calls} == {"fleet"}
    assert calls[0].operation == "ListMultipartUploads"  # where every sync starts
    assert calls[0].params["Prefix"] == "fleet/frames/"
    by_operation = {c.operation: c for c in calls}
    for operation in ("PutObject", "CompleteMultipartUpload"):
        assert by_operation[operation].headers == {"if-none-match": "*"}, operation
    for operation in ("CreateMultipartUpload", "UploadPart"):
        assert "if-none-match" not in by_operation[operation].headers, operation
    assert "Body" not in by_operation["PutObject"].params  # bodies are never recorded
    assert all(not c.secure_transport and c.host == "127.0.0.1" for c in calls)
    assert check_calls(calls) == []  # the emulator on loopback stands for TLS


def test_a_call_the_policy_lacks_is_refused(
    moto_server: MotoServer, s3_bucket: str, node_client: tuple[Any, Path]
) -> None:
    """moto lets a node delete an object; the IAM check does not."""
    client, log = node_client
    key = "cctview/frames/date=2025-04-04/hour=13/camera=c/x.tar"
    moto_server.client().put_object(Bucket=s3_bucket, Key=key, Body=b"x")
    client.delete_object(Bucket=s3_bucket, Key=key)  # succeeds on the emulator
    client.put_object(Bucket=s3_bucket, Key="cctview/assignments/latest.json", Body=b"{}")
    with acting_as(DEPLOYER):  # the account's owner, outside the CLI: not judged
        client.delete_object(Bucket=s3_bucket, Key="cctview/assignments/latest.json")
    calls, _ = read_calls(log)
    assert [(c.principal, c.operation) for c in calls] == [
        (NODE, "DeleteObject"),
        (NODE, "PutObject"),
        (DEPLOYER, "DeleteObject"),
    ]
    findings = check_calls(calls)
    assert [(f.request.action if f.request else "") for f in findings] == [
        "s3:DeleteObject",
        "s3:PutObject",
    ]
    assert all(f.verdict and f.verdict.decision is Decision.IMPLICIT_DENY for f in findings)
    assert "s3:PutObject on arn:aws:s3:::" in str(findings[1])


def test_a_request_without_tls_is_denied(
    moto_server: MotoServer, s3_bucket: str, node_client: tuple[Any, Path]
) -> None:
    """The same recorded upload, judged as what it was (plain HTTP): the bucket policy denies it
    for every principal, whatever the identity's policy allows."""
    client, log = node_client
    key = "cctview/frames/date=2025-04-04/hour=13/camera=c/y.tar"
    client.put_object(Bucket=s3_bucket, Key=key, Body=b"y", IfNoneMatch="*")
    calls, _ = read_calls(log)
    assert check_calls(calls, loopback_is_tls=True) == []
    (finding,) = check_calls(calls, loopback_is_tls=False)
    assert finding.verdict is not None
    assert (finding.verdict.decision, finding.verdict.statement) == (
        Decision.EXPLICIT_DENY,
        "DenyWithoutTLS",
    )


def test_a_call_that_cannot_be_recorded_fails_in_one_line(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str, s3_env: dict[str, str]
) -> None:
    """Never judged by nothing: an unwritable log stops the call, with what to do."""
    data = tmp_path / "data"
    write_period(data, CAM, PERIOD, 2)
    args = ("--bucket", s3_bucket, "--data", str(data))
    result = subprocess.run(
        [sys.executable, "-m", "cctview_agent.main", "sync", *args],
        env={**os.environ, RECORD_ENV: str(tmp_path / "no-such-folder" / "calls.jsonl")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert f"cannot record AWS calls to {tmp_path}/no-such-folder/calls.jsonl" in result.stderr
