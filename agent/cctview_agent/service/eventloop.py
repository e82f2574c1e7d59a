"""Which asyncio event loop the agent runs on.

uvloop (libuv, with its own TLS transport) cuts the agent's CPU per frame noticeably against the
standard loop, which matters on a t2.micro whose credit-free budget is 10 % of a core. It is an
optional extra (``cctview-agent[fast]``): a node without it runs the standard loop, same code.
``CCTVIEW_EVENT_LOOP=asyncio`` forces the standard loop (the benchmark measures both).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
ENV = "CCTVIEW_EVENT_LOOP"


def loop_factory() -> tuple[str, Callable[[], asyncio.AbstractEventLoop] | None]:
    """The loop's name and factory: uvloop when installed and not turned off, else asyncio's."""
    if os.environ.get(ENV, "").strip().lower() != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return "uvloop", uvloop.new_event_loop
    return "asyncio", None


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the chosen loop (``asyncio.Runner`` takes a factory on Python 3.11)."""
    _name, factory = loop_factory()
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
