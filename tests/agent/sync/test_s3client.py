"""The S3Client Protocol names only operations a real botocore S3 client has.

mypy trusts the Protocol (botocore is untyped), so a misspelt or invented operation there would
type-check and fail only on a node; this holds it to botocore's own S3 model.
"""

from __future__ import annotations

import inspect

from cctview_agent.sync.s3client import S3Client
from cctview_agent.sync.uploader import make_client


def protocol_members() -> list[str]:
    return [
        name
        for name, _value in inspect.getmembers(S3Client)
        if not name.startswith("_") and name in S3Client.__dict__
    ]


def test_every_protocol_operation_exists_on_a_real_client() -> None:
    client = make_client("http://127.0.0.1:9", "us-east-1")  # nothing is sent
    members = protocol_members()
    assert "head_object" in members and "meta" in members
    missing = [name for name in members if not hasattr(client, name)]
    assert missing == []
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
