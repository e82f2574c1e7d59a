"""Splitting a node's byte stream into lines, with a bound on what one line may hold.

A node's output is untrusted: a process (or a compromised node) that prints without ever writing
a newline would otherwise grow the partial line in the operator's memory without limit. A line
longer than the bound is cut there, marked, and the rest of it, up to the next newline, dropped.
"""

from __future__ import annotations

MAX_LINE_BYTES = 64 * 1024
CUT_MARK = " [line cut at {limit} bytes]"


class LineBuffer:
    """Feed bytes, get whole lines back (decoded, ``\\r`` stripped); holds at most one bound."""

    def __init__(self, limit: int = MAX_LINE_BYTES) -> None:
        self.limit = limit
        self._pending = bytearray()
        self._skipping = False  # inside an over-long line whose head was already given out

    def feed(self, data: bytes) -> list[str]:
        lines: list[str] = []
        start = 0
        while start < len(data):
            end = data.find(b"\n", start)
            chunk = data[start:] if end < 0 else data[start:end]
            start = len(data) if end < 0 else end + 1
            if not self._skipping:
                self._pending += chunk[: self.limit + 1 - len(self._pending)]
                if len(self._pending) > self.limit:
                    lines.append(self._cut())
            if end >= 0:
                if not self._skipping:
                    lines.append(self._take())
                self._skipping = False
        return lines

    def flush(self) -> str | None:
        """The last line when the stream ended without a newline (None if there is none)."""
        if self._skipping or not self._pending:
            return None
        return self._take()

    def _take(self) -> str:
        line = bytes(self._pending).decode(errors="replace").rstrip("\r")
        self._pending.clear()
        return line

    def _cut(self) -> str:
        del self._pending[self.limit :]
        self._skipping = True
        return self._take() + CUT_MARK.format(limit=self.limit)
