"""One poll's answer read as a frame or a fault: JPEG validation, the poll URL."""

from __future__ import annotations

import pytest

from cctview_agent.polling.fetch import FetchFailure, poll_url, validate_jpeg

JPEG = b"\xff\xd8" + bytes(range(256)) * 8 + b"\xff\xd9"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (JPEG[: len(JPEG) // 2], "truncated"),
        (b"<html>" + bytes(300), "not_jpeg"),
        (b"\xff\xd8\xff\xd9", "not_jpeg"),  # far too small to be a camera frame
        (JPEG + bytes(5000), "truncated"),  # the end marker is not near the end
    ],
)
def test_validate_jpeg_refuses(body: bytes, kind: str) -> None:
    with pytest.raises(FetchFailure) as failure:
        validate_jpeg(body, 100_000)
    assert failure.value.kind == kind


def test_validate_jpeg_accepts_whole_frames_and_enforces_size() -> None:
    validate_jpeg(JPEG, 100_000)
    validate_jpeg(JPEG + b"\x00\x00", 100_000)  # padding after EOI is fine
    with pytest.raises(FetchFailure) as failure:
        validate_jpeg(JPEG, 1024)
    assert failure.value.kind == "oversize"


def test_poll_url_changes_every_poll() -> None:
    assert str(poll_url("http://h/api/cameras/x/image", 17)) == "http://h/api/cameras/x/image?t=17"
    assert str(poll_url("http://h/img?id=3", 18)) == "http://h/img?id=3&t=18"
