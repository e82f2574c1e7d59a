"""What a camera poller needs from the agent that runs it, and nothing more.

:class:`~cctview_agent.polling.poller.CameraPoller` depends on this protocol, not on
:class:`~cctview_agent.service.runner.Agent`: the list below is the whole contract between one
camera's
loop and the process, so a change to the agent that leaves it alone cannot break a poller, and a
test can drive a poller with a small host of its own. The parts are the agent's shared ones: one
budget of requests, one store, one disk guard, one closer, one registry of placeholder pictures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import aiohttp

    from cctview_agent.agentlog import EventLog
    from cctview_agent.config import AgentConfig
    from cctview_agent.polling.budget import RequestBudget
    from cctview_agent.polling.placeholders import PlaceholderRegistry
    from cctview_agent.polling.poller import CameraPoller
    from cctview_agent.polling.scheduler import LearningSlots, ScheduleStats
    from cctview_agent.storage.closer import PeriodCloser
    from cctview_agent.storage.diskguard import DiskGuard
    from cctview_agent.storage.frames import FrameStore


class PollerHost(Protocol):
    """The agent as a poller sees it. Read-only but for ``frames_total``, the process's count
    of stored frames, which a poller raises on a write and lowers when it takes a placeholder
    back."""

    frames_total: int

    @property
    def config(self) -> AgentConfig: ...
    @property
    def log(self) -> EventLog: ...
    @property
    def session(self) -> aiohttp.ClientSession: ...
    @property
    def timeout(self) -> aiohttp.ClientTimeout: ...
    @property
    def anchor(self) -> float:
        """The loop time every camera's phase is counted from."""
        ...

    @property
    def stopping(self) -> bool:
        """True at shutdown: a poller then keeps its last state instead of ``stopped``."""
        ...

    @property
    def budget(self) -> RequestBudget: ...
    @property
    def schedule(self) -> ScheduleStats: ...
    @property
    def learning(self) -> LearningSlots: ...
    @property
    def placeholders(self) -> PlaceholderRegistry: ...
    @property
    def store(self) -> FrameStore: ...
    @property
    def closer(self) -> PeriodCloser: ...
    @property
    def guard(self) -> DiskGuard: ...

    def may_learn(self, poller: CameraPoller) -> bool:
        """Whether ``poller`` may spend requests learning its camera's cadence now."""
        ...

    def write_failed(self, camera_id: str, exc: OSError) -> None:
        """A frame could not be written (logged once per kind of error)."""
        ...

    def write_succeeded(self) -> None:
        """A frame was written (ends a run of failed writes, if any)."""
        ...
