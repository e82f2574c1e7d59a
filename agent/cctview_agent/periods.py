"""Periods: the windows of time whose frames are closed, manifested and shipped together.

A period is an hour in production and shorter in tests and demos; the same code serves both.
Periods are aligned to the Unix epoch and their length divides an hour, so every period's frames
lie in one ``<YYYY-MM-DD>/<HH>`` folder of the storage layout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from cctview_agent.errors import ConfigError

HOUR = 3600


def validate_period_length(length: int | float, *, key: str = "period") -> int:
    """The period length in whole seconds, or a ConfigError naming ``key``."""
    if isinstance(length, bool) or not isinstance(length, int | float) or length != int(length):
        raise ConfigError(f"{key} must be a whole number of seconds, e.g. {key} = 3600", key=key)
    seconds = int(length)
    if seconds <= 0 or HOUR % seconds != 0:
        raise ConfigError(
            f"{key} = {length} must divide an hour (3600, 1800, 900, 600, 300, 60, ...) "
            f"so that a period never spans two hour folders",
            key=key,
        )
    return seconds


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """``[start, start + length)`` in Unix seconds, UTC; ``start`` is a multiple of ``length``."""

    start: int
    length: int

    def __post_init__(self) -> None:
        if self.length <= 0 or HOUR % self.length or self.start % self.length:
            raise ValueError(f"not an aligned period: start={self.start} length={self.length}")

    @classmethod
    def containing(cls, ts_ms: int, length: int) -> Period:
        """The period a frame taken at ``ts_ms`` (Unix milliseconds) belongs to."""
        seconds = ts_ms // 1000
        return cls(seconds - seconds % length, length)

    @classmethod
    def current(cls, length: int, *, now: float | None = None) -> Period:
        return cls.containing(int((time.time() if now is None else now) * 1000), length)

    @property
    def end(self) -> int:
        return self.start + self.length

    @property
    def start_ms(self) -> int:
        return self.start * 1000

    @property
    def end_ms(self) -> int:
        return self.end * 1000

    def contains(self, ts_ms: int) -> bool:
        return self.start_ms <= ts_ms < self.end_ms

    def closable(self, now: float, grace: float) -> bool:
        """True once the period has ended plus ``grace`` seconds (late writes have landed)."""
        return now >= self.end + grace

    def next(self) -> Period:
        return Period(self.end, self.length)

    @property
    def started_at(self) -> datetime:
        return datetime.fromtimestamp(self.start, UTC)

    @property
    def date(self) -> str:
        """``YYYY-MM-DD`` of the period's hour folder."""
        return self.started_at.strftime("%Y-%m-%d")

    @property
    def hour(self) -> str:
        """``HH`` of the period's hour folder."""
        return self.started_at.strftime("%H")

    @property
    def key(self) -> str:
        """A name that sorts by time and survives any file system: ``20250404T130000Z-3600s``."""
        return f"{self.started_at.strftime('%Y%m%dT%H%M%SZ')}-{self.length}s"

    @classmethod
    def from_key(cls, key: str) -> Period:
        """Inverse of :attr:`key`; a ValueError for anything else."""
        stamp, _, length = key.partition("-")
        if not length.endswith("s"):
            raise ValueError(f"not a period key: {key!r}")
        started = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        return cls(int(started.timestamp()), int(length[:-1]))

    def __str__(self) -> str:
        return self.key
