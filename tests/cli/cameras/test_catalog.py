"""Loading the camera list: files, a real HTTP server, the offline cache, HTTPS (camsim)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cctview_agent.cameras import parse_cameras_json
from cctview_fleet.cameras.catalog import (
    DEFAULT_CATALOG_URL,
    cache_dir,
    cache_path,
    default_source,
    load_catalog,
)
from cctview_fleet.cameras.snapshot import packaged_snapshot
from cctview_fleet.errors import CatalogError
from tests.cli.catalog_server import catalog_server, closed_port_url

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("CCTVIEW_CATALOG", raising=False)
    return tmp_path / "xdg-cache" / "cctview-fleet"


@pytest.fixture(scope="module")
def real_bytes(real_catalog_path: Path) -> bytes:
    return real_catalog_path.read_bytes()


class Warnings(list[str]):
    def __call__(self, message: str) -> None:
        self.append(message)


def test_cache_dir_follows_xdg(isolated_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cache_dir() == isolated_cache
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the spec says: absolute only
    assert cache_dir() == Path.home() / ".cache" / "cctview-fleet"
    one, two = cache_path("http://a.example/api/cameras"), cache_path("http://a.example/other")
    assert one != two and one.name.startswith("catalog-a.example-")


def test_default_source_is_the_api_unless_the_env_says(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_source() == DEFAULT_CATALOG_URL
    monkeypatch.setenv("CCTVIEW_CATALOG", "/some/file.json")
    assert default_source() == "/some/file.json"


def test_file(real_catalog_path: Path) -> None:
    catalog = load_catalog(str(real_catalog_path))
    assert len(catalog.cameras) == 922
    assert catalog.source == str(real_catalog_path) and not catalog.from_cache
    # The packaged snapshot is dated by its data, not by when it was installed.
    assert catalog.fetched_at == datetime(2025, 4, 4, tzinfo=UTC)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError) as caught:
        load_catalog(str(tmp_path / "nope.json"))
    assert str(caught.value) == (
        f"camera list {tmp_path / 'nope.json'} does not exist; "
        "pass an existing file or a URL to --catalog"
    )


def test_fetch_writes_the_cache_then_serves_offline(
    real_bytes: bytes, isolated_cache: Path
) -> None:
    warnings = Warnings()
    with catalog_server(real_bytes) as server:
        live = load_catalog(server.url, warn=warnings)
        assert server.answer.requests == ["/api/cameras"]
    assert len(live.cameras) == 922 and not live.from_cache and warnings == []
    cached_file = cache_path(server.url)
    assert cached_file.parent == isolated_cache
    assert [p.name for p in isolated_cache.iterdir()] == [cached_file.name]  # no temp file left
    assert json.loads(cached_file.read_bytes())["url"] == server.url

    # The server is gone now: the same call answers from the cache and says so.
    offline = load_catalog(server.url, warn=warnings)
    assert offline.from_cache and offline.cameras == live.cameras
    assert offline.fetched_at == live.fetched_at
    assert len(warnings) == 1
    assert warnings[0].startswith(f"cannot fetch the camera list from {server.url} (")
    assert "using the cached copy from " in warnings[0] and " s ago (" in warnings[0]


def test_unreachable_without_cache_is_one_line() -> None:
    url = closed_port_url()
    with pytest.raises(CatalogError) as caught:
        load_catalog(url)
    assert str(caught.value) == (
        f"cannot fetch the camera list from {url} (Connection refused); "
        "check the network or pass --catalog FILE"
    )


def test_never_reached_api_falls_back_to_the_packaged_snapshot(
    monkeypatch: pytest.MonkeyPatch, real_bytes: bytes
) -> None:
    # The NYC DOT API, unreachable on a machine that never cached it: the API's address is
    # pointed at a closed loopback port, so the test is the same with or without a network.
    api = closed_port_url()
    monkeypatch.setattr("cctview_fleet.cameras.catalog.DEFAULT_CATALOG_URL", api)
    warnings = Warnings()
    catalog = load_catalog(None, warn=warnings)
    assert warnings == [
        f"cannot fetch the camera list from {api} (Connection refused) and it was never "
        "cached; using the list packaged with cctview-fleet, dated 2025-04-04 (922 cameras; "
        "cameras added since are missing)"
    ]
    assert catalog.from_snapshot and catalog.from_cache and catalog.source == api
    assert catalog.fetched_at == datetime(2025, 4, 4, tzinfo=UTC)
    assert catalog.cameras == tuple(parse_cameras_json(real_bytes))
    # Once the API answers, its list is used and cached, and the snapshot never again.
    with catalog_server(json.dumps(json.loads(real_bytes)[:3]).encode()) as server:
        monkeypatch.setattr("cctview_fleet.cameras.catalog.DEFAULT_CATALOG_URL", server.url)
        assert len(load_catalog(None).cameras) == 3
    offline = load_catalog(None, warn=warnings)
    assert len(offline.cameras) == 3 and not offline.from_snapshot


def test_packaged_snapshot_is_the_documented_file_and_is_package_data() -> None:
    snapshot = packaged_snapshot()
    digest = hashlib.sha256(snapshot.path.read_bytes()).hexdigest()
    readme = (snapshot.path.parent / "README.md").read_text()
    assert f"sha256 `{digest}`" in readme and snapshot.path.name in readme
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["cctview_fleet"]
    package = REPO / "cli" / "cctview_fleet"
    for path in (snapshot.path, snapshot.path.parent / "README.md"):
        relative = path.relative_to(package)
        assert any(relative.match(pattern) for pattern in patterns), relative


def test_http_error_and_bad_json_fall_back_to_the_cache(real_bytes: bytes) -> None:
    warnings = Warnings()
    with catalog_server(real_bytes) as server:
        load_catalog(server.url, warn=warnings)
        server.answer.status, server.answer.body = 503, b"busy"
        assert load_catalog(server.url, warn=warnings).from_cache
        assert "(HTTP 503 Service Unavailable)" in warnings[-1]
        server.answer.status, server.answer.body = 200, b"<html>captive portal</html>"
        assert load_catalog(server.url, warn=warnings).from_cache
        assert "is not valid JSON" in warnings[-1]
        # A good answer refreshes the cache again.
        server.answer.body = json.dumps(json.loads(real_bytes)[:3]).encode()
        fresh = load_catalog(server.url, warn=warnings)
    assert len(fresh.cameras) == 3 and not fresh.from_cache
    assert len(load_catalog(server.url, warn=warnings).cameras) == 3  # offline: the new copy


def test_bad_answer_without_cache() -> None:
    with catalog_server(b'{"error": "nope"}') as server, pytest.raises(CatalogError) as caught:
        load_catalog(server.url)
    assert str(caught.value) == (
        f"cannot fetch the camera list from {server.url} ({server.url} is not a JSON array of "
        "cameras (got dict)); check the network or pass --catalog FILE"
    )


def test_timeout() -> None:
    with catalog_server(b"[]") as server:
        server.answer.delay = 2.0
        with pytest.raises(CatalogError, match=r"\(no answer within 0\.3 s\); check the network"):
            load_catalog(server.url, timeout=0.3)


def test_a_stopped_server_leaves_no_thread_to_print_later(capsys: pytest.CaptureFixture) -> None:
    # The flaky `frames ls` test: a request thread of test_timeout woke after its test, wrote to
    # the socket the client had closed, and socketserver printed the BrokenPipe traceback to
    # whatever sys.stderr was then, which inside CliRunner.invoke is the output a test compares.
    before = set(threading.enumerate())
    with catalog_server(b"[]") as server:
        server.answer.delay = 30.0
        with pytest.raises(CatalogError, match="no answer within"):
            load_catalog(server.url, timeout=0.3)
    assert set(threading.enumerate()) <= before, "a request thread outlived its server"
    assert capsys.readouterr().err == ""
    kinds = [type(error) for error in server.errors]  # the client gave up: its socket is closed
    assert kinds in ([], [BrokenPipeError], [ConnectionResetError])


def test_a_slow_drip_server_is_cut_off_by_the_total_deadline() -> None:
    """A byte every 0.2 s never trips the 1 s read timeout; the whole fetch must still end."""
    body = json.dumps([{"id": "cam-1", "name": "x", "latitude": 40.7, "longitude": -74.0}])
    with catalog_server(body.encode()) as server:
        server.answer.drip = 0.2  # ~70 bytes: ~14 s in all without a deadline
        started = time.monotonic()
        with pytest.raises(CatalogError) as caught:
            load_catalog(server.url, timeout=1.0, deadline=2.0)
        elapsed = time.monotonic() - started
    assert str(caught.value) == (
        f"cannot fetch the camera list from {server.url} (no complete answer within 2 s "
        "(the server is too slow)); check the network or pass --catalog FILE"
    )
    assert elapsed < 8.0, elapsed


def test_corrupt_cache_is_reported(real_bytes: bytes) -> None:
    with catalog_server(real_bytes) as server:
        load_catalog(server.url)
    cache_path(server.url).write_text("{not json")
    with pytest.raises(CatalogError, match=r"and the cached copy .* is unreadable"):
        load_catalog(server.url)


def test_old_cache_age_in_the_warning(real_bytes: bytes) -> None:
    with catalog_server(real_bytes) as server:
        load_catalog(server.url)
    path = cache_path(server.url)
    record = json.loads(path.read_bytes())
    record["fetched_at"] = datetime(2025, 4, 4, 15, 0, tzinfo=UTC).isoformat()
    path.write_text(json.dumps(record))
    warnings = Warnings()
    catalog = load_catalog(server.url, warn=warnings)
    assert catalog.fetched_at == datetime(2025, 4, 4, 15, 0, tzinfo=UTC)
    assert " days ago (2025-04-04 15:00 UTC)" in warnings[0]


def test_https_from_the_camera_simulator(camsim, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    sim = camsim(cameras=7, https=True)
    assert sim.catalog_url.startswith("https://")
    # Without trusting its self-signed certificate, the fetch fails with the TLS reason.
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with pytest.raises(CatalogError) as caught:
        load_catalog(sim.catalog_url)
    assert re.fullmatch(  # OpenSSL 1.1 says "self signed", 3.x "self-signed"
        rf"cannot fetch the camera list from {re.escape(sim.catalog_url)} \(self.signed "
        r"certificate; trust its CA certificate with SSL_CERT_FILE\); check the network or "
        r"pass --catalog FILE",
        str(caught.value),
    ), str(caught.value)
    trusted = load_catalog(sim.catalog_url, ca_file=sim.cert_path)
    assert [c.id for c in trusted.cameras] == sim.camera_ids
    assert all(isinstance(c.is_online, bool) for c in trusted.cameras)  # "isOnline" strings
    monkeypatch.setenv("SSL_CERT_FILE", os.fspath(sim.cert_path))
    assert len(load_catalog(sim.catalog_url).cameras) == 7


def test_a_hostile_id_in_the_catalog_is_skipped_with_a_warning() -> None:
    records = [
        {"id": camera_id, "name": f"cam {i}", "latitude": 40.7, "longitude": -74.0}
        for i, camera_id in enumerate(("cam-0", "../../../etc/cron.d", "cam-2"))
    ]
    warnings = Warnings()
    with catalog_server(json.dumps(records).encode()) as server:
        catalog = load_catalog(server.url, warn=warnings)
        assert [c.id for c in catalog.cameras] == [records[0]["id"], records[2]["id"]]
        assert warnings == [
            f"{server.url}: skipped camera #1: camera id '../../../etc/cron.d' is not allowed "
            "(ids are 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit)"
        ]
        server.stop()
        offline = load_catalog(server.url, warn=warnings)  # the cached copy is filtered too
    assert offline.from_cache and len(offline.cameras) == 2
    assert "skipped camera #1" in warnings[1]
