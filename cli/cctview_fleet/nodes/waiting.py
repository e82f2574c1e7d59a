"""Looking again until an answer is good enough or the time is up: how ``upgrade`` and ``roll``
wait for a node after they changed it (its health, the frames its cameras lost)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

Answer = TypeVar("Answer")


def look_until(
    look: Callable[[], Answer],
    done: Callable[[Answer], bool],
    *,
    timeout: float,
    interval: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Answer:
    """Call ``look`` until ``done`` says its answer will do, or ``timeout`` seconds passed; the
    last answer either way (the caller reports what it still lacks)."""
    deadline = clock() + timeout
    while True:
        answer = look()
        if done(answer) or clock() >= deadline:
            return answer
        sleep(min(interval, max(0.0, deadline - clock())))
