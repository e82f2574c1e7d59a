"""One poll of one camera over HTTP(S): fetch the image and decide whether it is a JPEG frame.

Everything a bad feed can do ends here as a :class:`FetchFailure` with a short ``kind`` that is
counted per camera and per period (status, manifests): ``timeout``, ``connect``, ``tls``,
``reset``, ``protocol``, ``http_<code>``, ``content_type``, ``oversize``, ``truncated``,
``not_jpeg``. aiohttp's exceptions are translated here and nowhere else.

A PNG body passes: the service's "being serviced" card is a PNG under a JPEG label, and it is an
answer (the camera is offline), not a failure; the poller recognises it (pictures.py). A 429
carries the seconds of its ``Retry-After`` in :attr:`FetchFailure.retry_after`.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import email.utils
import ssl
import time
from pathlib import Path

import aiohttp
from yarl import URL

from cctview_agent.polling.pictures import PNG_SIGNATURE

JPEG_SOI = b"\xff\xd8"
JPEG_EOI = b"\xff\xd9"
EOI_WINDOW = 32  # some encoders pad after the end marker; look for it near the end
MIN_FRAME_BYTES = 128  # smaller than any JPEG a camera sends: a broken body
READ_CHUNK = 1 << 16


class FetchFailure(Exception):
    """A poll that produced no usable frame; ``kind`` is the counter it lands in."""

    def __init__(self, kind: str, detail: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail
        self.retry_after = retry_after  # seconds the service asked us to wait (429, 503)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def poll_url(image_url: str, now_ms: int) -> URL:
    """The image URL with a changing ``t`` query so no cache in between hands back an old frame."""
    sep = "&" if "?" in image_url else "?"
    return URL(f"{image_url}{sep}t={now_ms}", encoded=True)


def validate_jpeg(body: bytes, max_bytes: int) -> None:
    """Raise unless ``body`` is a whole JPEG of a sane size (start and end markers present), or
    a PNG (the offline card: the poller classifies it)."""
    size = len(body)
    if size > max_bytes:
        raise FetchFailure("oversize", f"{size} bytes > max_frame_bytes {max_bytes}")
    if body.startswith(PNG_SIGNATURE) and size >= MIN_FRAME_BYTES:
        return
    if size < MIN_FRAME_BYTES or not body.startswith(JPEG_SOI):
        raise FetchFailure("not_jpeg", f"{size} bytes without a JPEG start marker")
    if body.find(JPEG_EOI, max(0, size - EOI_WINDOW)) < 0:
        raise FetchFailure("truncated", f"{size} bytes without a JPEG end marker")


def _content_type_ok(value: str) -> bool:
    value = value.lower()
    return value.startswith(("image/jpeg", "image/jpg", "image/pjpeg"))


async def _read_bounded(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The body, refusing to hold more than ``max_bytes`` (checked while reading, not after)."""
    length = response.content_length
    if length is not None:
        if length > max_bytes:
            raise FetchFailure("oversize", f"Content-Length {length} > {max_bytes}")
        return await response.read()  # aiohttp stops at Content-Length
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = await response.content.read(READ_CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > max_bytes:
            raise FetchFailure("oversize", f"body passed {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _reset_in_chain(exc: BaseException) -> bool:
    """True when a ConnectionResetError caused ``exc``. aiohttp 3.x keeps it only in the message
    of its ClientPayloadError ("... ConnectionResetError(104, ...)"), so both are checked."""
    if "ConnectionResetError" in str(exc) or "Connection reset" in str(exc):
        return True
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ConnectionResetError):
            return True
        stack.extend((item.__cause__, item.__context__, *item.args))
    return False


async def fetch_frame(
    session: aiohttp.ClientSession, url: URL, timeout: aiohttp.ClientTimeout, max_bytes: int
) -> bytes:
    """GET ``url`` and return a validated JPEG body, or raise :class:`FetchFailure`."""
    try:
        async with session.get(url, timeout=timeout) as response:
            if response.status != 200:
                raise FetchFailure(
                    f"http_{response.status}",
                    response.reason or "",
                    retry_after=retry_after_seconds(response.headers.get("Retry-After")),
                )
            ctype = response.headers.get("Content-Type", "")
            if not _content_type_ok(ctype):
                raise FetchFailure("content_type", ctype or "no Content-Type")
            body = await _read_bounded(response, max_bytes)
    except FetchFailure:
        raise
    except TimeoutError as exc:  # asyncio.TimeoutError and aiohttp's timeouts alike
        raise FetchFailure("timeout", "no complete answer in time") from exc
    except aiohttp.ClientPayloadError as exc:
        # A body cut short: by a TCP reset (the peer aborted) or by a plain close.
        kind = "reset" if _reset_in_chain(exc) else "truncated"
        raise FetchFailure(kind, str(exc)) from exc
    except aiohttp.ServerDisconnectedError as exc:
        raise FetchFailure("reset", "server disconnected") from exc
    except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError) as exc:
        raise FetchFailure("tls", str(exc)) from exc
    except aiohttp.ClientConnectorError as exc:
        raise FetchFailure("connect", str(exc)) from exc
    except aiohttp.ClientResponseError as exc:
        raise FetchFailure("protocol", str(exc)) from exc
    except (aiohttp.ClientOSError, ConnectionError) as exc:
        raise FetchFailure("reset", str(exc)) from exc
    except aiohttp.ClientError as exc:
        raise FetchFailure("protocol", f"{type(exc).__name__}: {exc}") from exc
    except asyncio.IncompleteReadError as exc:
        raise FetchFailure("truncated", str(exc)) from exc
    validate_jpeg(body, max_bytes)
    return body


def ssl_context(ca_file: Path | None) -> ssl.SSLContext | bool:
    """The TLS settings for every feed: system CAs, plus ``ca_file`` (the simulator's cert)."""
    if ca_file is None:
        return True
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=str(ca_file))
    return context


TLS_READ_BUFFER = 32 * 1024


def limit_tls_buffers() -> None:
    """Shrink asyncio's per-connection TLS read buffer from 256 KiB to 32 KiB.

    asyncio's SSLProtocol keeps a ``max_size`` bytearray per connection and asks OpenSSL for
    ``max_size`` bytes per read; with one keep-alive connection per camera that is 64 MiB of
    buffers for 250 cameras (a t2.micro has 1 GiB) and a large allocation per read, for frames
    of ~20 KB. A class attribute of the stdlib, so it is set once, in the agent process only.
    """
    asyncio.sslproto.SSLProtocol.max_size = TLS_READ_BUFFER


def open_session(ca_file: Path | None, *, user_agent: str) -> aiohttp.ClientSession:
    """The one session all cameras share: keep-alive, no cookies, no decompression.

    The connector has no connection cap of its own: each camera has at most one request in flight,
    so the pool never holds more than one connection per assigned camera (it is sized by N).
    """
    limit_tls_buffers()
    connector = aiohttp.TCPConnector(
        limit=0,
        limit_per_host=0,
        ssl=ssl_context(ca_file),
        ttl_dns_cache=300,
        keepalive_timeout=30,
    )
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
        trust_env=False,
        headers={"User-Agent": user_agent, "Cache-Control": "no-cache"},
    )
