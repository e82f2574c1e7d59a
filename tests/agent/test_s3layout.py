"""Where a camera-period lives in S3: keys partitioned for readers, and parsed back."""

from __future__ import annotations

from cctview_agent.periods import Period
from cctview_agent.s3layout import PeriodObject, frames_prefix, parse_key

PERIOD = Period(1743771600, 60)  # 2025-04-04T13:00:00Z, one minute (tests use short periods)
CAM_A = "0bcfbc92-d455-4f62-846a-32afbefa3b4b"


def test_keys_are_partitioned_and_parse_back() -> None:
    target = PeriodObject(CAM_A, PERIOD, "node.01", 1743771600123)
    key = target.tar_key("/data/")
    assert key == (
        f"data/frames/date=2025-04-04/hour=13/camera={CAM_A}/"
        "20250404T130000Z-60s.node-01.1743771600123.tar"
    )
    assert parse_key(key) == (PeriodObject(CAM_A, PERIOD, "node-01", 1743771600123), "tar")
    assert parse_key(target.manifest_key("data"))[1] == "manifest"  # type: ignore[index]
    assert parse_key("data/frames/something-else.tar") is None
    assert frames_prefix("p", date="2025-04-04", hour="13") == "p/frames/date=2025-04-04/hour=13/"
