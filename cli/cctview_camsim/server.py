"""The simulator's state and its aiohttp application.

Routes (the first two as webcams.nyctmc.org lays them out, the rest for tests):

    GET  /api/cameras                 the catalog, API shape, imageUrl pointing here
    GET  /api/cameras/{id}/image      the camera's current JPEG (query string ignored)
    GET  /_sim/stats                  what was served, per camera (see stats.py)
    GET  /_sim/served/{id}            digests of the versions a camera served as new
    GET  /_sim/faults                 the active spec and camera -> fault assignment
    POST /_sim/faults                 {"spec": "..."} replaces the faults ("" clears them)
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable, Mapping, Sequence

from aiohttp import web

from cctview_agent.cameras import Camera
from cctview_agent.errors import ConfigError
from cctview_camsim.catalog import catalog_json
from cctview_camsim.faults import FaultKind, FaultSpec, assign_faults, parse_fault_spec
from cctview_camsim.frames import Frame, FrameClock, FrameRenderer
from cctview_camsim.responses import BEHAVIOURS, FaultContext, jpeg_response
from cctview_camsim.stats import ServeStats

SHUTDOWN_TIMEOUT = 1.0  # seconds SIGTERM waits for open requests (hangs, drips) before closing


class Simulator:
    """Cameras, their frames, their faults and the counts of what was served."""

    def __init__(
        self,
        cameras: Sequence[Camera],
        *,
        refresh: float,
        seed: int,
        faults: FaultSpec | None = None,
        hang_limit: float = 60.0,
    ) -> None:
        self.cameras = {camera.id: camera for camera in cameras}
        self.seed = seed
        self.hang_limit = hang_limit
        self.clock = FrameClock(refresh)
        self.renderer = FrameRenderer(self.clock)
        self.stats = ServeStats(list(self.cameras), refresh=refresh, started_at=time.time())
        self.spec = FaultSpec(text="", rules=())
        self.faults: Mapping[str, FaultKind] = {}
        self._frozen: dict[str, Frame] = {}
        self._frozen_versions: dict[str, int] = {}
        self._catalogs: dict[str, bytes] = {}
        if faults is not None:
            self.set_faults(faults)

    def set_faults(self, spec: FaultSpec) -> None:
        """Replace the active faults; frozen cameras stop at the frame they last served."""
        assignment = assign_faults(spec, self.cameras, self.seed)  # ConfigError on unknown ids
        now = time.time()
        frozen_versions = {}
        for camera_id, kind in assignment.items():
            if kind is not FaultKind.FROZEN:
                continue
            previous = self._frozen_versions.get(camera_id)
            last = self.stats.camera(camera_id).last_version
            if previous is not None:
                frozen_versions[camera_id] = previous
            elif last is not None:
                frozen_versions[camera_id] = last
            else:
                frozen_versions[camera_id] = self.clock.version_at(camera_id, now)
        self._frozen = {k: v for k, v in self._frozen.items() if k in frozen_versions}
        self._frozen_versions = frozen_versions
        self.spec = spec
        self.faults = assignment

    def catalog(self, origin: str) -> bytes:
        """The catalog body with imageUrls under ``origin`` (cached; a few origins at most)."""
        body = self._catalogs.get(origin)
        if body is None:
            if len(self._catalogs) >= 8:
                self._catalogs.clear()
            body = self._catalogs[origin] = catalog_json(list(self.cameras.values()), origin)
        return body

    def frozen_frame(self, camera: Camera) -> Frame:
        frame = self._frozen.get(camera.id)
        if frame is None:
            version = self._frozen_versions[camera.id]
            frame = self._frozen[camera.id] = self.renderer.render(camera, version)
        return frame


SIMULATOR = web.AppKey("simulator", Simulator)
_NO_FRAME = Frame(version=-1, data=b"", digest="")  # for faults that send no picture


async def get_catalog(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    sim.stats.catalog_requests += 1
    body = sim.catalog(str(request.url.origin()))
    return web.Response(body=body, content_type="application/json", charset="utf-8")


async def get_image(request: web.Request) -> web.StreamResponse:
    sim = request.app[SIMULATOR]
    sim.stats.in_flight += 1
    try:
        return await _answer_image(request, sim)
    finally:
        sim.stats.in_flight -= 1


async def _answer_image(request: web.Request, sim: Simulator) -> web.StreamResponse:
    camera = sim.cameras.get(request.match_info["camera_id"])
    if camera is None:
        return web.json_response({"message": "Camera not found"}, status=404)
    kind = sim.faults.get(camera.id)
    if kind is None and camera.is_online is False:
        kind = FaultKind.OFFLINE  # the catalog itself says so: serve the placeholder
    if kind is None or kind is FaultKind.FROZEN:
        if kind is FaultKind.FROZEN:
            frame = sim.frozen_frame(camera)
            sim.stats.fault_served(camera.id, kind.value)
        else:
            frame = sim.renderer.current(camera)
        sim.stats.frame_served(camera.id, frame.version, frame.digest)
        return jpeg_response(frame.data, version=frame.version)
    count = sim.stats.camera(camera.id).faults[kind.value]
    sim.stats.fault_served(camera.id, kind.value)
    needs_frame = kind in (FaultKind.DRIP, FaultKind.TRUNCATE, FaultKind.RESET)
    frame = sim.renderer.current(camera) if needs_frame else _NO_FRAME
    context = FaultContext(frame=frame, count=count, limit=sim.hang_limit)
    return await BEHAVIOURS[kind](request, context)


async def get_stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[SIMULATOR].stats.to_dict())


async def get_served(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    camera_id = request.match_info["camera_id"]
    if camera_id not in sim.cameras:
        return web.json_response({"message": "Camera not found"}, status=404)
    return web.json_response({"id": camera_id, "served": sim.stats.served_digests(camera_id)})


def _faults_body(sim: Simulator) -> dict[str, object]:
    return {"spec": sim.spec.text, "cameras": {k: v.value for k, v in sim.faults.items()}}


async def get_faults(request: web.Request) -> web.Response:
    return web.json_response(_faults_body(request.app[SIMULATOR]))


async def post_faults(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    try:
        payload = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return web.json_response({"error": 'body must be JSON: {"spec": "..."}'}, status=400)
    spec_text = payload.get("spec") if isinstance(payload, dict) else None
    if not isinstance(spec_text, str):
        return web.json_response({"error": 'body must be JSON: {"spec": "..."}'}, status=400)
    try:
        sim.set_faults(parse_fault_spec(spec_text))
    except ConfigError as error:
        return web.json_response({"error": str(error)}, status=400)
    return web.json_response(_faults_body(sim))


def build_app(sim: Simulator) -> web.Application:
    app = web.Application()
    app[SIMULATOR] = sim
    app.router.add_get("/api/cameras", get_catalog)
    app.router.add_get("/api/cameras/{camera_id}/image", get_image)
    app.router.add_get("/_sim/stats", get_stats)
    app.router.add_get("/_sim/served/{camera_id}", get_served)
    app.router.add_get("/_sim/faults", get_faults)
    app.router.add_post("/_sim/faults", post_faults)
    return app


async def run(
    sim: Simulator,
    *,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None,
    stop: asyncio.Event,
    ready: Callable[[str], None],
) -> None:
    """Serve until ``stop`` is set; ``ready`` gets the base URL once the port is bound."""
    runner = web.AppRunner(
        build_app(sim),
        access_log=None,  # a log line per frame costs more CPU than the frame
        handler_cancellation=True,  # a client that gives up cancels its hang/drip handler
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context, reuse_address=True)
        await site.start()
        sockets = runner.addresses
        bound_port = sockets[0][1]
        scheme = "https" if ssl_context is not None else "http"
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        if ":" in shown:
            shown = f"[{shown}]"
        ready(f"{scheme}://{shown}:{bound_port}")
        await stop.wait()
    finally:
        await runner.cleanup()
