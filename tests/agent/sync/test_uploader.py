"""The uploader's settings: ``--bwlimit`` rates."""

from __future__ import annotations

import pytest

from cctview_agent.sync.uploader import parse_rate


def test_bwlimit_rates_parse() -> None:
    assert [parse_rate(t) for t in ("0", "500K", "2M", "1.5MB", "1g", "800kib/s")] == [
        0.0,
        500 * 1024,
        2 * 1024**2,
        1.5 * 1024**2,
        1024**3,
        800 * 1024,
    ]
    with pytest.raises(ValueError, match="not a rate"):
        parse_rate("fast")
