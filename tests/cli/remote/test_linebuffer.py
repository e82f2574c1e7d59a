"""The bounded line splitter the SSH layer reads node output through (no SSH needed)."""

from __future__ import annotations

from cctview_fleet.remote.linebuffer import LineBuffer


def test_lines_come_whole_across_chunks_and_crlf_is_stripped() -> None:
    buffer = LineBuffer(limit=16)
    assert buffer.feed(b"one\r\ntw") == ["one"]
    assert buffer.feed(b"o\n\nthr") == ["two", ""]
    assert buffer.flush() == "thr"
    assert buffer.flush() is None


def test_a_long_line_is_cut_once_and_its_rest_dropped_until_the_newline() -> None:
    buffer = LineBuffer(limit=4)
    assert buffer.feed(b"abcdefgh") == ["abcd [line cut at 4 bytes]"]
    assert buffer.feed(b"ijklmn") == []  # still the same line: dropped, nothing held
    assert len(buffer._pending) == 0
    assert buffer.feed(b"op\nok\n") == ["ok"]
    assert buffer.feed(b"abcd\n") == ["abcd"]  # exactly the bound is not cut
    assert buffer.flush() is None
