"""The node's request budget: at most N requests to the camera service in any one second.

No rate limit is published for webcams.nyctmc.org, and a blocked fleet loses everything, so the
agent keeps its own: every poll takes a slot from :class:`RequestBudget` first. The limit is exact
over a sliding one-second window (the times of the last N requests are kept), not a token bucket
that would allow a burst of 2N across a window edge. Waiters are served first come, first served.

A 403 from the service means "you are blocked" more than "this camera is broken": it cuts the
whole node's budget to :data:`FORBIDDEN_SHARE` for :data:`FORBIDDEN_COOLDOWN_S` seconds (renewed
by every further 403), so the node backs off as one client, as the service sees it.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque

WINDOW_S = 1.0
FORBIDDEN_SHARE = 0.25
FORBIDDEN_COOLDOWN_S = 120.0
GUARD_S = 0.01  # waits a little longer than the window, so jitter on the way cannot add a request
WAITED_S = 0.01  # a request that got its slot later than this after asking "waited"


class RequestBudget:
    """A sliding-window limiter shared by every camera task of one agent (one event loop)."""

    def __init__(self, per_second: float) -> None:
        self.per_second = per_second
        self.granted = 0
        self.waited = 0  # requests that had to wait for a slot (the budget held them back)
        self.peak = 0  # most requests granted in one window, for status and tests
        self._times: deque[float] = deque()
        self._lock = asyncio.Lock()
        self._slow_until = 0.0

    def limit(self, now: float) -> int:
        """Requests allowed in the window ending at ``now`` (at least one)."""
        rate = self.per_second
        if now < self._slow_until:
            rate *= FORBIDDEN_SHARE
        return max(1, math.floor(rate * WINDOW_S))

    def forbidden(self, now: float) -> None:
        """The service answered 403: slow the whole node down for a while."""
        self._slow_until = now + FORBIDDEN_COOLDOWN_S

    def slowed(self, now: float) -> bool:
        return now < self._slow_until

    def slowed_now(self) -> bool:
        """:meth:`slowed` on the running loop's clock (False outside a loop)."""
        try:
            return self.slowed(asyncio.get_running_loop().time())
        except RuntimeError:
            return False

    async def acquire(self) -> None:
        """Wait for a slot in the window, then take it."""
        loop = asyncio.get_running_loop()
        asked = loop.time()
        async with self._lock:
            while True:
                now = loop.time()
                times = self._times
                while times and times[0] <= now - WINDOW_S:
                    times.popleft()
                if len(times) < self.limit(now):
                    break
                await asyncio.sleep(times[0] + WINDOW_S + GUARD_S - now)
            times.append(now)
            self.granted += 1
            self.waited += now - asked > WAITED_S
            self.peak = max(self.peak, len(times))
