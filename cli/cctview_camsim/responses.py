"""How a camera's image endpoint misbehaves: one coroutine per fault kind.

Each behaviour is what a collector meets on the real service or on the way to it. None of them
may block the server: waits are ``asyncio.sleep`` (the handler is cancelled when the client goes
away, see ``server.run``), and the long ones end at ``limit`` seconds (hang with a 504, drip by
closing the connection), so a client that never gives up does not pin a coroutine forever.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache

from aiohttp import web

from cctview_camsim.faults import FaultKind
from cctview_camsim.frames import Frame
from cctview_camsim.placeholder import offline_placeholder

# The real service sends only this, and no ETag or Last-Modified: nothing to revalidate with.
NO_STORE = {"Cache-Control": "no-store"}
OVERSIZE_BYTES = 5 * 1024 * 1024
DRIP_CHUNK = 128  # bytes per write: ~512 B/s, a 20 KB frame takes ~40 s
DRIP_INTERVAL = 0.25
FORBIDDEN_PAGE = (
    "<!DOCTYPE html><html><head><title>403 Forbidden</title></head><body><h1>403 Forbidden</h1>"
    "<p>Request blocked.</p></body></html>"
)
ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>503 Service Temporarily Unavailable</title></head>"
    "<body><h1>Service Temporarily Unavailable</h1><p>The camera feed is being updated. "
    "Please try again later.</p></body></html>"
)


@dataclass(frozen=True, slots=True)
class FaultContext:
    """What a behaviour needs: the camera's current frame, how often it misbehaved, the cap."""

    frame: Frame
    count: int  # how many times this camera served this fault before (variants alternate)
    limit: float  # seconds after which hang and drip give up on the client


Behaviour = Callable[[web.Request, FaultContext], Awaitable[web.StreamResponse]]


def jpeg_response(data: bytes, *, version: int | None = None) -> web.Response:
    headers = dict(NO_STORE)
    if version is not None:
        headers["X-Camsim-Version"] = str(version)
    return web.Response(body=data, content_type="image/jpeg", headers=headers)


def _abort(request: web.Request, *, reset: bool) -> None:
    """Drop the connection; with ``reset`` the peer gets a TCP RST instead of a FIN."""
    transport = request.transport
    if transport is None:
        return
    if reset:
        raw = transport.get_extra_info("socket")
        if raw is not None:
            # SO_LINGER on, timeout 0: close() discards unsent data and sends RST.
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()


async def _start_stream(request: web.Request, length: int) -> web.StreamResponse:
    response = web.StreamResponse(headers=NO_STORE)
    response.content_type = "image/jpeg"
    response.content_length = length
    await response.prepare(request)
    return response


@lru_cache(maxsize=1)
def _oversize_body() -> bytes:
    start = b"\xff\xd8\xff\xe0"  # a JPEG start that never ends
    return start + bytes(OVERSIZE_BYTES - len(start))


async def offline(request: web.Request, context: FaultContext) -> web.StreamResponse:
    # A PNG under a JPEG label, the same bytes for every camera: what the real service sends.
    return jpeg_response(offline_placeholder())


def rate_limited(seconds: int) -> web.Response:
    """429 with ``Retry-After`` in whole seconds (the HTTP form the service's CDN would use)."""
    headers = {**NO_STORE, "Retry-After": str(seconds)}
    return web.Response(status=429, text="429 Too Many Requests", headers=headers)


async def forbidden(request: web.Request, context: FaultContext) -> web.StreamResponse:
    return web.Response(text=FORBIDDEN_PAGE, status=403, content_type="text/html", headers=NO_STORE)


async def not_found(request: web.Request, context: FaultContext) -> web.StreamResponse:
    return web.json_response({"message": "Camera not found"}, status=404, headers=NO_STORE)


async def server_error(request: web.Request, context: FaultContext) -> web.StreamResponse:
    status = (500, 502, 503)[context.count % 3]
    return web.Response(status=status, text=f"{status} error", headers=NO_STORE)


async def hang(request: web.Request, context: FaultContext) -> web.StreamResponse:
    await asyncio.sleep(context.limit)  # cancelled as soon as the client disconnects
    # A client patient enough to wait out the cap gets what a gateway in front would send.
    # (Closing the connection instead makes aiohttp and others silently retry the GET.)
    return web.Response(status=504, text="504 Gateway Time-out", headers=NO_STORE)


async def drip(request: web.Request, context: FaultContext) -> web.StreamResponse:
    data = context.frame.data
    response = await _start_stream(request, len(data))
    deadline = time.monotonic() + context.limit
    for offset in range(0, len(data), DRIP_CHUNK):
        if time.monotonic() > deadline:
            _abort(request, reset=False)
            return response
        await response.write(data[offset : offset + DRIP_CHUNK])
        await asyncio.sleep(DRIP_INTERVAL)
    return response


async def truncate(request: web.Request, context: FaultContext) -> web.StreamResponse:
    data = context.frame.data
    if context.count % 2 == 0:
        # Content-Length promises the whole frame; half arrives, then the connection closes.
        response = await _start_stream(request, len(data))
        await response.write(data[: len(data) // 2])
        _abort(request, reset=False)
        return response
    # A complete HTTP response whose JPEG stops before its end-of-image marker.
    return jpeg_response(data[: len(data) * 2 // 3])


async def html(request: web.Request, context: FaultContext) -> web.StreamResponse:
    return web.Response(text=ERROR_PAGE, content_type="text/html", headers=NO_STORE)


async def reset(request: web.Request, context: FaultContext) -> web.StreamResponse:
    data = context.frame.data
    response = await _start_stream(request, len(data))
    await response.write(data[: len(data) // 3])
    await asyncio.sleep(0.05)  # let the first third leave before the RST
    _abort(request, reset=True)
    return response


async def oversize(request: web.Request, context: FaultContext) -> web.StreamResponse:
    return jpeg_response(_oversize_body())


BEHAVIOURS: dict[FaultKind, Behaviour] = {
    FaultKind.OFFLINE: offline,
    FaultKind.NOT_FOUND: not_found,
    FaultKind.SERVER_ERROR: server_error,
    FaultKind.HANG: hang,
    FaultKind.DRIP: drip,
    FaultKind.TRUNCATE: truncate,
    FaultKind.HTML: html,
    FaultKind.RESET: reset,
    FaultKind.OVERSIZE: oversize,
    FaultKind.FORBIDDEN: forbidden,
}
