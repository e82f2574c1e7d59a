"""A poller driven by a small host of the test's own, not the Agent: the PollerHost protocol is
all it needs. Real parts behind it (store, closer, disk guard, registry, an aiohttp session) and a
real HTTP server on loopback that serves what a camera serves: new pictures, the service's PNG
card, an error.
"""

from __future__ import annotations

import asyncio
import io
import random
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from PIL import Image

from cctview_agent.cameras import Camera
from cctview_agent.config import AgentConfig
from cctview_agent.layout import DataLayout
from cctview_agent.polling.budget import RequestBudget
from cctview_agent.polling.fetch import open_session
from cctview_agent.polling.host import PollerHost
from cctview_agent.polling.placeholders import PlaceholderRegistry
from cctview_agent.polling.poller import CameraPoller
from cctview_agent.polling.scheduler import LearningSlots, ScheduleStats
from cctview_agent.storage.closer import PeriodCloser
from cctview_agent.storage.diskguard import DiskGuard
from cctview_agent.storage.frames import FrameStore
from tests.agent.agentproc import RecordingLog


def _image(seed: int, kind: str) -> bytes:
    """A noisy picture (so never "tiny"); the service's offline card is a PNG sent as a JPEG."""
    noise = random.Random(seed).randbytes(352 * 240 * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (352, 240), noise).save(buffer, kind)
    return buffer.getvalue()


@dataclass
class SmallHost:
    """Exactly the PollerHost protocol, with the agent's real parts; records writes."""

    config: AgentConfig
    session: aiohttp.ClientSession
    log: RecordingLog = field(default_factory=RecordingLog)
    frames_total: int = 0
    anchor: float = 0.0
    stopping: bool = False
    placeholders: PlaceholderRegistry = field(default_factory=PlaceholderRegistry)
    schedule: ScheduleStats = field(default_factory=ScheduleStats)
    write_errors: list[str] = field(default_factory=list)
    writes_ok: int = 0

    def __post_init__(self) -> None:
        config = self.config
        self.timeout = aiohttp.ClientTimeout(total=10)
        self.store = FrameStore(config.data_dir, config.period)
        self.guard = DiskGuard(0, self.log)  # type: ignore[arg-type]
        self.closer = PeriodCloser(config, self.store, self.log)  # type: ignore[arg-type]
        self.budget = RequestBudget(config.max_requests_per_s)
        self.learning = LearningSlots(config.max_requests_per_s, config.poll_interval)

    def may_learn(self, poller: CameraPoller) -> bool:
        return True

    def write_failed(self, camera_id: str, exc: OSError) -> None:
        self.write_errors.append(f"{camera_id}: {exc}")

    def write_succeeded(self) -> None:
        self.writes_ok += 1


async def _drive(tmp_path: Path) -> tuple[SmallHost, CameraPoller, list[str]]:
    answers = [
        web.Response(body=_image(40, "JPEG"), content_type="image/jpeg"),
        web.Response(body=_image(200, "JPEG"), content_type="image/jpeg"),
        web.Response(body=_image(90, "PNG"), content_type="image/jpeg"),
        web.Response(status=503, text="busy"),
    ]

    async def frame(request: web.Request) -> web.Response:
        return answers.pop(0)

    app = web.Application()
    app.router.add_get("/cam.jpg", frame)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    (tmp_path / "data").mkdir()
    config = AgentConfig(data_dir=tmp_path / "data", period=60, grace=1, reserve_bytes=0)
    session = open_session(None, user_agent="test")
    try:
        host = SmallHost(config, session)
        checked: PollerHost = host  # the protocol is all a poller is given
        camera = Camera(
            id="cam-a",
            name="A",
            latitude=40.7,
            longitude=-74.0,
            image_url=f"http://127.0.0.1:{port}/cam.jpg",
        )
        poller = CameraPoller(camera, checked)
        outcomes = [await poller.poll_once() for _ in range(4)]
    finally:
        await session.close()
        await runner.cleanup()
        host.store.close()
    return host, poller, outcomes


def test_a_poller_runs_on_a_host_that_only_implements_the_protocol(tmp_path: Path) -> None:
    host, poller, outcomes = asyncio.run(_drive(tmp_path))
    assert outcomes == ["new", "new", "offline", "failed"]
    assert (poller.frames_stored, host.frames_total, host.writes_ok) == (2, 2, 2)
    assert host.write_errors == []
    assert poller.state == "failing" and poller.failures == {"http_503": 1}
    frames = sorted(DataLayout(tmp_path / "data").frames_root.rglob("*.jpg"))
    assert len(frames) == 2
    states = [fields["state"] for event, fields in host.log.lines if event == "camera_state"]
    assert states == ["ok", "offline", "failing"]
