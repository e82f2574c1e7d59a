"""The simulator's state and its aiohttp application.

Routes (the first two as webcams.nyctmc.org lays them out, the rest for tests):

    GET  /api/cameras[/]              the catalog, API shape, imageUrl pointing here
    GET  /api/cameras/{id}/image      the camera's current JPEG (query string ignored)
    GET  /_sim/stats                  what was served, per camera (see stats.py)
    GET  /_sim/served/{id}            digests of the versions a camera served as new
    GET  /_sim/faults                 the active spec and camera -> fault assignment
    POST /_sim/faults                 {"spec": "..."} replaces the faults ("" clears them)
    POST /_sim/catalog                {"add": N, "remove": [ids]}: the list changes while running

Each image request waits the camera's latency (half before the picture is chosen, half after,
like a network round trip) before it is answered.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import ssl
import time
from collections.abc import Callable, Mapping, Sequence

from aiohttp import web

from cctview_agent.cameras import Camera
from cctview_agent.errors import ConfigError
from cctview_camsim.catalog import catalog_json, synthetic_cameras
from cctview_camsim.clocks import Clock, FrameClock, PictureClock
from cctview_camsim.faults import FaultKind, FaultSpec, assign_faults, parse_fault_spec
from cctview_camsim.frames import Frame, FrameRenderer
from cctview_camsim.profiles import CameraProfile, ProfileName, ServiceProfile, service_profile
from cctview_camsim.responses import (
    BEHAVIOURS,
    NO_STORE,
    FaultContext,
    jpeg_response,
    offline,
    rate_limited,
)
from cctview_camsim.stats import ServeStats

SHUTDOWN_TIMEOUT = 1.0  # seconds SIGTERM waits for open requests (hangs, drips) before closing


class Simulator:
    """Cameras, their profiles, frames and faults, and the counts of what was served."""

    def __init__(
        self,
        cameras: Sequence[Camera],
        *,
        refresh: float | None = None,
        seed: int,
        faults: FaultSpec | None = None,
        hang_limit: float = 60.0,
        profile: ServiceProfile | None = None,
        rate_limit_s: float = 5.0,
    ) -> None:
        if profile is None:  # the historical constructor: a fixed grid of ``refresh`` seconds
            profile = service_profile(ProfileName.EASY, refresh=refresh or 2.0)
        self.profile = profile
        self.cameras = {camera.id: camera for camera in cameras}
        self.seed = seed
        self.hang_limit = hang_limit
        self.rate_limit_s = rate_limit_s
        self.started_at = time.time()
        self.clock: Clock
        if profile.name is ProfileName.EASY:
            assert profile.refresh is not None
            self.clock = FrameClock(profile.refresh)
        else:
            self.clock = PictureClock(self.camera_profile, seed=seed, epoch=self.started_at)
        self.renderer = FrameRenderer(self.clock, profile_of=self.camera_profile)
        self.stats = ServeStats(
            list(self.cameras), refresh=profile.refresh, started_at=self.started_at
        )
        self.stats.profile = profile.name.value
        self._profiles: dict[str, CameraProfile] = {}
        self._first_version = {
            camera_id: self.clock.version_at(camera_id, self.started_at)
            for camera_id in self.cameras
        }
        self._rng = random.Random(seed)
        self._allowed_at: dict[str, float] = {}  # 429: when the camera serves a frame again
        self._added = 0
        self.spec = FaultSpec(text="", rules=())
        self.faults: Mapping[str, FaultKind] = {}
        self._frozen_versions: dict[str, int] = {}
        self._catalogs: dict[str, bytes] = {}
        if faults is not None:
            self.set_faults(faults)

    def camera_profile(self, camera_id: str) -> CameraProfile:
        profile = self._profiles.get(camera_id)
        if profile is None:
            profile = self._profiles[camera_id] = self.profile.camera(
                self.cameras[camera_id], self.seed
            )
        return profile

    def set_faults(self, spec: FaultSpec) -> None:
        """Replace the active faults; frozen cameras stop at the picture they last served."""
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
        self._frozen_versions = frozen_versions
        self.spec = spec
        self.faults = assignment

    def change_catalog(self, add: int, remove: Sequence[str]) -> None:
        """The list changes while running: ``add`` new synthetic cameras, drop ``remove``.

        A removed camera's image answers 404 from then on; its fault (if any) is dropped."""
        unknown = [camera_id for camera_id in remove if camera_id not in self.cameras]
        if unknown:
            raise ConfigError(f"no camera with id {unknown[0]!r}", key="remove")
        for camera_id in remove:
            del self.cameras[camera_id]
        if add:
            self._added += 1
            names = {camera.name for camera in self.cameras.values()}
            fresh = synthetic_cameras(add, seed=self.seed + 7919 * self._added)
            now = time.time()
            for camera in fresh:
                if camera.id in self.cameras or camera.name in names:
                    continue
                self.cameras[camera.id] = camera
                self.stats.add_camera(camera.id)
                self._first_version[camera.id] = self.clock.version_at(camera.id, now)
        self.faults = {k: v for k, v in self.faults.items() if k in self.cameras}
        self._catalogs.clear()

    def catalog(self, origin: str) -> bytes:
        """The catalog body with imageUrls under ``origin`` (cached; a few origins at most)."""
        body = self._catalogs.get(origin)
        if body is None:
            if len(self._catalogs) >= 8:
                self._catalogs.clear()
            body = self._catalogs[origin] = catalog_json(list(self.cameras.values()), origin)
        return body

    def frozen_picture(self, camera_id: str) -> int:
        return self._frozen_versions[camera_id]

    def frozen_frame(self, camera: Camera) -> Frame:
        return self.renderer.frozen(camera, self._frozen_versions[camera.id])

    def latency(self, camera_id: str) -> float:
        low, high = self.camera_profile(camera_id).latency
        return self._rng.uniform(low, high) if high > 0 else 0.0

    def rate_limit(self, camera_id: str, now: float) -> float | None:
        """429: seconds the client must wait, or None when this request may have a frame."""
        allowed_at = self._allowed_at.get(camera_id, 0.0)
        if now >= allowed_at:
            self._allowed_at[camera_id] = now + self.rate_limit_s
            return None
        return allowed_at - now

    def shown(self, now: float) -> dict[str, int]:
        """Per camera, how many new pictures went up since it joined: what a perfect collector
        that polls at every change would store (frozen and offline cameras show none)."""
        broken = {FaultKind.FROZEN, FaultKind.OFFLINE}
        return {
            camera_id: 0
            if self.faults.get(camera_id) in broken or camera.is_online is False
            else self.clock.version_at(camera_id, now) - self._first_version[camera_id]
            for camera_id, camera in self.cameras.items()
        }


SIMULATOR = web.AppKey("simulator", Simulator)
_NO_FRAME = Frame(version=-1, data=b"", digest="")  # for faults that send no picture
_NO_FRAME_CONTEXT = FaultContext(frame=_NO_FRAME, count=0, limit=0.0)


async def get_catalog(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    sim.stats.catalog_requests += 1
    body = sim.catalog(str(request.url.origin()))
    return web.Response(
        body=body, content_type="application/json", charset="utf-8", headers=NO_STORE
    )


async def get_image(request: web.Request) -> web.StreamResponse:
    sim = request.app[SIMULATOR]
    sim.stats.arrived()
    sim.stats.polled_by(request.headers.get("User-Agent", ""))
    sim.stats.in_flight += 1
    try:
        camera_id = request.match_info["camera_id"]
        delay = sim.latency(camera_id) if camera_id in sim.cameras else 0.0
        if delay:
            await asyncio.sleep(delay / 2)  # the request on its way in
        response = await _answer_image(request, sim)
        if delay:
            await asyncio.sleep(delay / 2)  # the answer on its way out
        return response
    finally:
        sim.stats.in_flight -= 1


async def _answer_image(request: web.Request, sim: Simulator) -> web.StreamResponse:
    camera = sim.cameras.get(request.match_info["camera_id"])
    if camera is None:
        return web.json_response({"message": "Camera not found"}, status=404, headers=NO_STORE)
    kind = sim.faults.get(camera.id)
    if kind is None and camera.is_online is False:
        kind = FaultKind.OFFLINE  # the catalog itself says so: serve the placeholder
    if kind is FaultKind.RATE_LIMITED:
        now = time.time()
        wait = sim.rate_limit(camera.id, now)
        if wait is not None:
            stats = sim.stats.camera(camera.id)
            sim.stats.fault_served(camera.id, kind.value)
            if stats.retry_at is not None and now < stats.retry_at:
                stats.retry_after_ignored += 1  # asked again before the Retry-After it was given
            seconds = max(1, math.ceil(wait))
            stats.retry_at = now + seconds
            return rate_limited(seconds)
        kind = None  # allowed: a normal frame
    if kind is FaultKind.FROZEN:
        frame = sim.frozen_frame(camera)
        sim.stats.fault_served(camera.id, kind.value)  # a ticking clock over an old picture
        picture = sim.frozen_picture(camera.id)
        last = sim.stats.camera(camera.id).last_version
        if last is None or picture > last:  # frozen before it served: its one picture is new
            sim.stats.frame_served(camera.id, picture, frame.digest)
        return jpeg_response(frame.data, version=frame.version)
    if kind is None:
        frame = sim.renderer.current(camera)
        sim.stats.frame_served(camera.id, frame.version, frame.digest)
        return jpeg_response(frame.data, version=frame.version)
    count = sim.stats.camera(camera.id).faults[kind.value]
    sim.stats.fault_served(camera.id, kind.value)
    if kind is FaultKind.OFFLINE:
        return await offline(request, _NO_FRAME_CONTEXT)
    needs_frame = kind in (FaultKind.DRIP, FaultKind.TRUNCATE, FaultKind.RESET)
    frame = sim.renderer.current(camera) if needs_frame else _NO_FRAME
    context = FaultContext(frame=frame, count=count, limit=sim.hang_limit)
    return await BEHAVIOURS[kind](request, context)


async def get_stats(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    return web.json_response(sim.stats.to_dict(shown=sim.shown(time.time())))


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


async def post_catalog(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    usage = 'body must be JSON: {"add": N, "remove": ["<id>", ...]}'
    try:
        payload = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return web.json_response({"error": usage}, status=400)
    add = payload.get("add", 0) if isinstance(payload, dict) else None
    remove = payload.get("remove", []) if isinstance(payload, dict) else None
    if (
        not isinstance(add, int)
        or isinstance(add, bool)
        or not 0 <= add <= 10_000
        or not isinstance(remove, list)
        or not all(isinstance(item, str) for item in remove)
    ):
        return web.json_response({"error": usage}, status=400)
    try:
        sim.change_catalog(add, remove)
    except ConfigError as error:
        return web.json_response({"error": str(error)}, status=400)
    return web.json_response({"cameras": len(sim.cameras)})


def build_app(sim: Simulator) -> web.Application:
    app = web.Application()
    app[SIMULATOR] = sim
    app.router.add_get("/api/cameras", get_catalog)
    app.router.add_get("/api/cameras/", get_catalog)  # the real service answers both
    app.router.add_get("/api/cameras/{camera_id}/image", get_image)
    app.router.add_get("/_sim/stats", get_stats)
    app.router.add_get("/_sim/served/{camera_id}", get_served)
    app.router.add_get("/_sim/faults", get_faults)
    app.router.add_post("/_sim/faults", post_faults)
    app.router.add_post("/_sim/catalog", post_catalog)
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
