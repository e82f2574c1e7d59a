"""The ``cctview-camsim`` command: start-up lines, clean stops, one-line errors with exit 2."""

from __future__ import annotations

import http.client
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from cctview_camsim.faults import FaultKind

CAMSIM = [sys.executable, "-m", "cctview_camsim.main"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CAMSIM, *args], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--refresh", "-1"], "--refresh: -1 must be a number of seconds above 0"),
        (["--refresh", "soon"], "--refresh: 'soon' is not a number of seconds"),
        (["--cameras", "0"], "--cameras: 0 must be between 1 and 100000"),
        (["--port", "70000"], "--port: 70000 must be between 0"),
        (["--faults", "melt=0.1"], "bad fault spec 'melt=0.1': unknown fault kind 'melt'"),
        (["--cameras", "3", "--faults", "hang=nope"], "no camera with id 'nope'"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--https", "--cert-dir", "/proc/camsim-x"], "cannot write the TLS certificate into"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(args, message):
    result = _run(*args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cctview-camsim: error: ")
    assert message in lines[0]


def test_missing_catalog_file_is_one_line(tmp_path):
    result = _run("--catalog", str(tmp_path / "absent.json"))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "cannot read camera list" in result.stderr and "Traceback" not in result.stderr


def test_port_in_use_is_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run("--cameras", "2", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.startswith("cctview-camsim: error: ")
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr


def test_help_documents_the_fault_spec():
    result = _run("--help")
    assert result.returncode == 0
    for kind in FaultKind:
        assert kind.value in result.stdout
    assert "KIND=TARGET" in result.stdout and "/_sim/stats" in result.stdout


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_it_cleanly_even_with_a_hanging_request(camsim, signum):
    sim = camsim(cameras=3, https=True, faults="hang=all")
    cert_dir = sim.cert_path.parent
    url = sim.image_url(sim.camera_ids[0])
    context = sim.ssl_context()

    outcome: list[BaseException | bytes] = []

    def hang() -> None:
        try:
            outcome.append(urllib.request.urlopen(url, timeout=20, context=context).read())
        except (OSError, http.client.HTTPException) as error:
            outcome.append(error)  # the connection is closed at shutdown

    client = threading.Thread(target=hang, daemon=True)
    client.start()
    time.sleep(0.3)
    started = time.monotonic()
    sim.process.send_signal(signum)
    assert sim.process.wait(10) == 0
    assert time.monotonic() - started < 5  # does not wait out the hang
    assert "Traceback" not in sim.log()
    client.join(10)
    assert len(outcome) == 1 and not isinstance(outcome[0], bytes | TimeoutError), outcome
    assert cert_dir.exists()  # --cert-dir given by the fixture: kept for the clients


def test_temporary_certificate_folder_is_removed_at_exit():
    process = subprocess.Popen(
        [*CAMSIM, "--cameras", "2", "--https"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline().startswith("cctview-camsim listening on https://")
        certificate = process.stdout.readline().strip().removeprefix("cctview-camsim certificate ")
        assert certificate.endswith("cert.pem")
        cert_path = Path(certificate)
        assert cert_path.exists()
    finally:
        process.terminate()
        assert process.wait(10) == 0
    assert not cert_path.parent.exists()


def test_cert_dir_is_reused_across_restarts(camsim, tmp_path):
    first = camsim(cameras=1, https=True, cert_dir=tmp_path / "tls")
    pem = first.cert_path.read_bytes()
    assert first.stop() == 0
    assert (tmp_path / "tls" / "key.pem").stat().st_mode & 0o077 == 0  # private key is private
    second = camsim(cameras=1, https=True, cert_dir=tmp_path / "tls")
    assert second.cert_path.read_bytes() == pem
    assert second.cameras()  # a client trusting the old file still connects
