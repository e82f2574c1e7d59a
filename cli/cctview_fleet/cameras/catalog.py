"""The camera list: from a file, or fetched from the NYC DOT API (or any server speaking it).

A live fetch is kept in the cache folder (``$XDG_CACHE_HOME/cctview-fleet``, one file per URL,
written atomically), because the operator's later commands (``plan``, ``assign``) must work on a
train or behind a flaky link: when the server cannot be reached, the cached copy is used and a
warning says how old it is. A machine that never reached the NYC DOT API falls back last to the
list packaged with the CLI (``catalogsnapshot``), with a warning naming its date. Only when there
is no copy either (another URL, never fetched) does loading fail, with one line that says what
to do. The standard library's urllib is enough for one GET of ~240 KB and keeps
this path free of an event loop; HTTPS verification honours ``SSL_CERT_FILE`` or an explicit CA
file (the camera simulator's self-signed certificate).

The catalog is untrusted input: an entry whose id is not a safe camera id is left out with a
warning that names it (ids become folder names on the nodes), and a server that answers slowly
byte by byte is cut off by a total deadline, not only a per-read timeout.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cctview_agent.atomicfile import write_atomic
from cctview_agent.cameras import Camera, load_cameras, parse_cameras_json
from cctview_fleet import __version__
from cctview_fleet.cameras.httpdeadline import Deadline
from cctview_fleet.cameras.snapshot import packaged_snapshot
from cctview_fleet.defaults import CATALOG_ENV, DEFAULT_CATALOG_URL
from cctview_fleet.errors import CatalogError

DEFAULT_TIMEOUT = 15.0  # each read
DEFAULT_DEADLINE = 45.0  # the whole fetch: the real list is ~240 KB
# The real list is ~240 KB; refuse anything absurd rather than fill memory.
MAX_CATALOG_BYTES = 32 * 1024 * 1024

Warn = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Catalog:
    """A loaded camera list and where it came from.

    ``fetched_at`` is when the data left its server (a file's modification time for a file);
    ``from_cache`` is True when a URL could not be reached and the cached copy stood in;
    ``from_snapshot`` when the list packaged with the CLI stood in (never cached, see
    ``catalogsnapshot``), so a caption can say the list is that old.
    """

    cameras: tuple[Camera, ...]
    source: str
    fetched_at: datetime
    from_cache: bool = False
    from_snapshot: bool = False


def default_source() -> str:
    """``$CCTVIEW_CATALOG`` if set, else the NYC DOT API."""
    return os.environ.get(CATALOG_ENV, "").strip() or DEFAULT_CATALOG_URL


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/cctview-fleet``, or ``~/.cache/cctview-fleet`` (XDG base directories)."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "cctview-fleet"


def cache_path(url: str, directory: Path | None = None) -> Path:
    """One file per URL: a readable host prefix plus a digest of the whole URL."""
    host = re.sub(r"[^A-Za-z0-9.-]+", "_", url.split("://", 1)[-1].split("/", 1)[0])
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return (directory or cache_dir()) / f"catalog-{host}-{digest}.json"


def _warn_stderr(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")


def _age(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 0):.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def ssl_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """System trust plus ``ca_file`` or ``$SSL_CERT_FILE`` (loaded explicitly, so the simulator's
    self-signed certificate works whatever OpenSSL's build-time defaults are)."""
    context = ssl.create_default_context()
    extra = ca_file or (
        Path(os.environ["SSL_CERT_FILE"]) if os.environ.get("SSL_CERT_FILE") else None
    )
    if extra is not None:
        try:
            context.load_verify_locations(cafile=str(extra))
        except (OSError, ssl.SSLError) as exc:
            raise CatalogError(f"cannot load CA file {extra}: {exc}", source=str(extra)) from exc
    return context


def fetch_catalog_bytes(
    url: str, *, timeout: float, ca_file: Path | None = None, deadline: float = DEFAULT_DEADLINE
) -> bytes:
    """GET the list within ``deadline`` seconds in all (``timeout`` bounds each read); any
    failure becomes a CatalogError whose message is the short reason."""
    request = urllib.request.Request(
        url,
        headers={
            "Accept": "application/json",
            "Cache-Control": "no-cache",
            "User-Agent": f"cctview-fleet/{__version__}",
        },
    )
    context = ssl_context(ca_file) if url.startswith("https://") else None
    watchdog = Deadline(deadline)
    try:
        with watchdog, watchdog.opener(context).open(request, timeout=timeout) as response:
            body: bytes = response.read(MAX_CATALOG_BYTES + 1)
        if watchdog.expired:
            raise TimeoutError  # the cut may end the read quietly: never keep a partial list
    except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError is an OSError
        if watchdog.expired:
            raise CatalogError(
                f"no complete answer within {deadline:g} s (the server is too slow)", source=url
            ) from exc
        raise _fetch_error(exc, url, timeout) from exc
    if len(body) > MAX_CATALOG_BYTES:
        raise CatalogError(f"response larger than {MAX_CATALOG_BYTES} bytes", source=url)
    return body


def _fetch_error(exc: Exception, url: str, timeout: float) -> CatalogError:
    """The one-line CatalogError for a failed GET: the short reason, not urllib's wrapping."""
    if isinstance(exc, urllib.error.HTTPError):
        return CatalogError(f"HTTP {exc.code} {exc.reason}", source=url)
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            return CatalogError(f"no answer within {timeout:g} s", source=url)
        text = reason.strerror if isinstance(reason, OSError) and reason.strerror else reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            text = f"{reason.verify_message}; trust its CA certificate with SSL_CERT_FILE"
        return CatalogError(str(text), source=url)
    if isinstance(exc, TimeoutError):
        return CatalogError(f"no answer within {timeout:g} s", source=url)
    return CatalogError(str(exc) or type(exc).__name__, source=url)  # resets, short bodies


def _write_cache(path: Path, url: str, fetched_at: datetime, body: bytes) -> None:
    # Self-describing: parse_cameras() reads the "cameras" member of an object directly.
    record = {"url": url, "fetched_at": fetched_at.isoformat(), "cameras": json.loads(body)}
    write_atomic(path, json.dumps(record, ensure_ascii=False).encode(), fsync=True)


def _read_cache(path: Path, warn: Warn) -> tuple[list[Camera], datetime]:
    cameras = load_cameras(path, skip_bad_id=warn)
    try:
        stamp = json.loads(path.read_bytes()).get("fetched_at")
        fetched_at = datetime.fromisoformat(stamp)
    except (AttributeError, TypeError, ValueError):
        fetched_at = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return cameras, fetched_at


def load_catalog_url(
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    ca_file: Path | None = None,
    cache: Path | None = None,
    warn: Warn = _warn_stderr,
    deadline: float = DEFAULT_DEADLINE,
) -> Catalog:
    """The live list from ``url``, refreshed into the cache; the cached copy if ``url`` fails."""
    path = cache_path(url, cache)
    try:
        body = fetch_catalog_bytes(url, timeout=timeout, ca_file=ca_file, deadline=deadline)
        cameras = parse_cameras_json(body, source=url, skip_bad_id=warn)
    except CatalogError as exc:
        reason = str(exc)
        if not path.exists() and url == DEFAULT_CATALOG_URL:
            return _load_snapshot(url, reason, warn)
        if not path.exists():
            raise CatalogError(
                f"cannot fetch the camera list from {url} ({reason}); "
                "check the network or pass --catalog FILE",
                source=url,
            ) from exc
        try:
            cached, fetched_at = _read_cache(path, warn)
        except CatalogError as cache_exc:
            raise CatalogError(
                f"cannot fetch the camera list from {url} ({reason}), and the cached copy "
                f"{path} is unreadable ({cache_exc}); check the network or pass --catalog FILE",
                source=url,
            ) from exc
        age = _age((datetime.now(UTC) - fetched_at).total_seconds())
        warn(
            f"cannot fetch the camera list from {url} ({reason}); "
            f"using the cached copy from {age} ago ({fetched_at:%Y-%m-%d %H:%M} UTC)"
        )
        return Catalog(tuple(cached), url, fetched_at, from_cache=True)
    fetched_at = datetime.now(UTC)
    try:
        _write_cache(path, url, fetched_at, body)
    except OSError as exc:  # a read-only home must not stop the command; it only loses offline use
        warn(f"cannot cache the camera list in {path}: {exc.strerror or exc}")
    return Catalog(tuple(cameras), url, fetched_at)


def _load_snapshot(url: str, reason: str, warn: Warn) -> Catalog:
    """The packaged list, standing in for the API (``from_cache`` too: it is not live)."""
    snapshot = packaged_snapshot()
    cameras = load_cameras(snapshot.path, skip_bad_id=warn)
    warn(
        f"cannot fetch the camera list from {url} ({reason}) and it was never cached; "
        f"using the list packaged with cctview-fleet, dated {snapshot.fetched_at:%Y-%m-%d} "
        f"({len(cameras)} cameras; cameras added since are missing)"
    )
    return Catalog(tuple(cameras), url, snapshot.fetched_at, from_cache=True, from_snapshot=True)


def load_catalog_file(path: Path, *, warn: Warn = _warn_stderr) -> Catalog:
    """A list from a file: an API response, ``cameras --json`` output, or a cache file."""
    if not path.exists():
        raise CatalogError(
            f"camera list {path} does not exist; pass an existing file or a URL to --catalog",
            source=str(path),
        )
    cameras = load_cameras(path, skip_bad_id=warn)
    snapshot = packaged_snapshot()
    if path.resolve() == snapshot.path.resolve():  # its mtime is the install's, not the data's
        fetched_at = snapshot.fetched_at
    else:
        fetched_at = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return Catalog(tuple(cameras), str(path), fetched_at)


def load_catalog(
    source: str | Path | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    ca_file: Path | None = None,
    cache: Path | None = None,
    warn: Warn = _warn_stderr,
    deadline: float = DEFAULT_DEADLINE,
) -> Catalog:
    """The camera list from ``source`` (a path or an http(s) URL); ``None`` means
    ``$CCTVIEW_CATALOG`` or the NYC DOT API."""
    if source is None or (isinstance(source, str) and not source.strip()):
        source = default_source()
    if isinstance(source, str) and is_url(source):
        return load_catalog_url(
            source, timeout=timeout, ca_file=ca_file, cache=cache, warn=warn, deadline=deadline
        )
    text = str(source)
    if text.startswith("file://"):
        text = text.removeprefix("file://")
    return load_catalog_file(Path(text).expanduser(), warn=warn)
