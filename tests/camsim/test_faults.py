"""Every fault mode, met by a real aiohttp client over HTTP and HTTPS, counted in /_sim/stats."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import ssl
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from PIL import Image

from cctview_agent.manifests import frame_digest
from tests.fixtures.camsim import CamsimHandle, running_camsim

HANG_LIMIT = 1.5


@pytest.fixture(scope="module", params=["http", "https"])
def sim(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    folder = tmp_path_factory.mktemp(f"camsim-faults-{request.param}")
    with running_camsim(
        folder,
        cameras=40,
        refresh=0.3,
        https=request.param == "https",
        extra_args=["--hang-limit", str(HANG_LIMIT)],
    ) as handle:
        yield handle


class _Cameras:
    """Hands each test cameras no other test touched, so per-camera counts start at zero."""

    def __init__(self) -> None:
        self.next: dict[str, int] = {}

    def take(self, sim: CamsimHandle, count: int = 1) -> list[str]:
        start = self.next.get(sim.url, 0)
        self.next[sim.url] = start + count
        return sim.camera_ids[start : start + count]


CAMERAS = _Cameras()


def _ssl(sim: CamsimHandle) -> ssl.SSLContext | bool:
    context = sim.ssl_context()
    return context if context is not None else True


async def _get(
    sim: CamsimHandle, camera_id: str, timeout: float = 5.0
) -> tuple[int, dict[str, Any], bytes]:
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with (
        aiohttp.ClientSession(timeout=client_timeout) as session,
        session.get(f"{sim.image_url(camera_id)}?t={time.time_ns()}", ssl=_ssl(sim)) as response,
    ):
        body = await response.read()
        return response.status, dict(response.headers), body


def get(sim: CamsimHandle, camera_id: str, timeout: float = 5.0) -> tuple[int, dict, bytes]:
    return asyncio.run(_get(sim, camera_id, timeout))


def faults_of(sim: CamsimHandle, camera_id: str) -> dict[str, int]:
    return sim.stats()["cameras"][camera_id]["faults"]


def test_offline_is_the_same_placeholder_for_every_camera(sim):
    first, second = CAMERAS.take(sim, 2)
    assignment = sim.set_faults(f"offline={first}+{second}")
    assert assignment == {first: "offline", second: "offline"}
    status_a, headers_a, body_a = get(sim, first)
    status_b, _, body_b = get(sim, second)
    assert status_a == status_b == 200
    assert headers_a["Content-Type"] == "image/jpeg"
    assert body_a == body_b  # byte for byte, as the real service's placeholder
    assert body_a.startswith(b"\x89PNG\r\n\x1a\n")  # a PNG under a JPEG label
    Image.open(io.BytesIO(body_a)).load()
    assert faults_of(sim, first) == {"offline": 1}
    assert sim.stats()["cameras"][first]["new"] == 0


def test_404_and_5xx(sim):
    gone, failing = CAMERAS.take(sim, 2)
    sim.set_faults(f"404={gone},5xx={failing}")
    assert get(sim, gone)[0] == 404
    assert [get(sim, failing)[0] for _ in range(4)] == [500, 502, 503, 500]
    assert faults_of(sim, gone) == {"404": 1}
    assert faults_of(sim, failing) == {"5xx": 4}


def test_hang_times_the_client_out_without_blocking_the_server(sim):
    stuck, healthy = CAMERAS.take(sim, 2)
    sim.set_faults(f"hang={stuck}")

    async def both() -> tuple[BaseException | None, int, bool]:
        hung = asyncio.create_task(_get(sim, stuck, timeout=1.2))
        await asyncio.sleep(0.1)
        status, _, _ = await _get(sim, healthy)
        # Answered while the other request still hangs: a blocked server (which would need
        # HANG_LIMIT > 1.2 s) could only answer after the hung client gave up.
        still_hanging = not hung.done()
        try:
            await hung
        except TimeoutError as error:
            return error, status, still_hanging
        return None, status, still_hanging

    error, status, still_hanging = asyncio.run(both())
    assert isinstance(error, TimeoutError)
    assert status == 200 and still_hanging
    assert faults_of(sim, stuck) == {"hang": 1}
    # The client gave up: its handler is cancelled, nothing stays in flight.
    deadline = time.monotonic() + 3
    while sim.stats()["totals"]["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sim.stats()["totals"]["in_flight"] == 0


def test_hang_is_capped_for_a_patient_client(sim):
    (stuck,) = CAMERAS.take(sim)
    sim.set_faults(f"hang={stuck}")
    started = time.monotonic()
    status, _, _ = get(sim, stuck, timeout=30)
    elapsed = time.monotonic() - started
    assert status == 504  # what a gateway in front would say at the cap
    assert HANG_LIMIT - 0.2 <= elapsed < HANG_LIMIT + 3
    assert faults_of(sim, stuck) == {"hang": 1}


def test_drip_sends_a_few_bytes_at_a_time(sim):
    (slow,) = CAMERAS.take(sim)
    sim.set_faults(f"drip={slow}")

    async def read_for(seconds: float) -> tuple[int, int]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(sim.image_url(slow), ssl=_ssl(sim)) as response,
        ):
            received = 0
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                try:
                    chunk = await asyncio.wait_for(response.content.readany(), 0.3)
                except TimeoutError:
                    continue
                except aiohttp.ClientPayloadError:
                    break  # the server's --hang-limit cut the drip: also a valid end
                received += len(chunk)
            return response.content_length or 0, received

    promised, received = asyncio.run(read_for(1.2))
    assert promised > 15_000  # the headers promise a whole frame...
    assert 0 < received < 2_500  # ...but about 512 bytes a second arrive
    assert faults_of(sim, slow) == {"drip": 1}


def test_truncate_short_body_then_jpeg_without_end(sim):
    (cut,) = CAMERAS.take(sim)
    sim.set_faults(f"truncate={cut}")
    with pytest.raises(aiohttp.ClientPayloadError):  # Content-Length promised more
        get(sim, cut)
    status, _, body = get(sim, cut)  # a whole response, but the JPEG stops early
    assert status == 200
    assert body[:2] == b"\xff\xd8" and not body.endswith(b"\xff\xd9")
    with pytest.raises(OSError, match="truncated"):
        Image.open(io.BytesIO(body)).load()
    assert faults_of(sim, cut) == {"truncate": 2}


def test_html_error_page_with_200(sim):
    (page,) = CAMERAS.take(sim)
    sim.set_faults(f"html={page}")
    status, headers, body = get(sim, page)
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert body.lstrip().lower().startswith(b"<!doctype html>")
    assert faults_of(sim, page) == {"html": 1}


def test_reset_mid_body(sim):
    (broken,) = CAMERAS.take(sim)
    sim.set_faults(f"reset={broken}")
    with pytest.raises(aiohttp.ClientError):
        get(sim, broken)
    assert faults_of(sim, broken) == {"reset": 1}


def test_reset_is_a_tcp_reset(camsim):
    sim = camsim(cameras=2, faults="reset=all")  # plain HTTP, so the raw socket sees the RST
    broken = sim.camera_ids[0]
    url = urllib.parse.urlsplit(sim.image_url(broken))
    with socket.create_connection((url.hostname, url.port), timeout=5) as raw:
        raw.sendall(f"GET {url.path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        received = b""
        with pytest.raises(ConnectionResetError):
            while chunk := raw.recv(65536):
                received += chunk
            raise AssertionError(f"orderly close after {len(received)} bytes, not a reset")
    assert b"200 OK" in received.split(b"\r\n", 1)[0]


def test_oversize_body(sim):
    (huge,) = CAMERAS.take(sim)
    sim.set_faults(f"oversize={huge}")
    status, headers, body = get(sim, huge)
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    assert len(body) == 5 * 1024 * 1024
    assert faults_of(sim, huge) == {"oversize": 1}


def _picture(body: bytes) -> bytes:
    """The decoded pixels above the time banner (the bottom 18 rows hold the burned-in clock)."""
    image = Image.open(io.BytesIO(body)).convert("L")
    return image.crop((0, 0, image.width, image.height - 18)).tobytes()


def test_frozen_keeps_the_picture_while_its_clock_ticks(sim):
    (quiet,) = CAMERAS.take(sim)
    sim.set_faults("")
    _, _, before = get(sim, quiet)
    new_before = sim.stats()["cameras"][quiet]["new"]
    sim.set_faults(f"frozen={quiet}")
    digests = set()
    pictures = set()
    for _ in range(8):  # over about four refresh periods
        status, _, body = get(sim, quiet)
        assert status == 200
        digests.add(frame_digest(body))
        pictures.add(_picture(body))
        time.sleep(0.15)
    assert len(digests) >= 3  # the bytes change with the clock, as on the real service
    assert pictures == {_picture(before)}  # the picture does not
    counts = sim.stats()["cameras"][quiet]
    assert counts["faults"] == {"frozen": 8}
    assert counts["new"] == new_before  # no new picture was served
    sim.set_faults("")  # thawed: it moves again
    time.sleep(0.35)
    assert frame_digest(get(sim, quiet)[2]) != frame_digest(before)


def test_runtime_fault_changes_are_validated(sim):
    status, _, body = sim.request("/_sim/faults", data=json.dumps({"spec": "melt=all"}).encode())
    assert status == 400 and "unknown fault kind 'melt'" in json.loads(body)["error"]
    status, _, body = sim.request("/_sim/faults", data=json.dumps({"spec": "404=nope"}).encode())
    assert status == 400 and "no camera with id 'nope'" in json.loads(body)["error"]
    status, _, body = sim.request("/_sim/faults", data=b"not json")
    assert status == 400
    assignment = sim.set_faults("offline=0.25,5xx=0.25")
    assert sorted(assignment.values()).count("offline") == 10
    assert sorted(assignment.values()).count("5xx") == 10
    assert sim.get_json("/_sim/faults")["spec"] == "offline=0.25,5xx=0.25"
    assert sim.set_faults("") == {}


def test_simulator_logs_no_errors_for_faults(sim):
    # Faults are deliberate: they must not fill the simulator's log with tracebacks.
    assert "Traceback" not in sim.log(), sim.log()[-2000:]
    assert sim.log() == ""
