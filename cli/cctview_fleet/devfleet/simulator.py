"""The camera simulator of the local fleet, started as its own process (``cctview-camsim``).

It speaks the webcams.nyctmc.org API on a loopback port the OS picks (``--port 0``) and says
where on its first line (of this run: the log is appended across runs, and an earlier run's line
names a port nobody listens on any more); with ``--https`` it also names the certificate it
made, which the agents trust through their ``ca_file`` setting and the CLI through the stack.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from cctview_fleet.devfleet.errors import ProcessStartError
from cctview_fleet.devfleet.processes import ProcessRecord, spawn, stop, wait_for_log_line

LISTENING = r"cctview-camsim listening on (?P<url>\S+)"
CERTIFICATE = r"cctview-camsim certificate (?P<path>\S+)"


@dataclass(frozen=True, slots=True)
class Simulator:
    """A running simulator: its process, base URL, and certificate (empty over plain HTTP)."""

    process: ProcessRecord
    url: str
    ca_file: str = ""

    @property
    def catalog_url(self) -> str:
        return f"{self.url}/api/cameras"


def camsim_command() -> list[str]:
    """The simulator's console script from this interpreter's environment, else from PATH."""
    beside = Path(sys.executable).parent / "cctview-camsim"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("cctview-camsim")
    if found:
        return [found]
    return [sys.executable, "-m", "cctview_camsim"]


def start_simulator(
    folder: Path,
    *,
    mark: str,
    https: bool,
    catalog: Path | None = None,
    cameras: int | None = None,
    seed: int | None = None,
    profile: str = "real",
) -> Simulator:
    """Start the simulator and wait for the line that gives its URL (and certificate).

    Its log and (with HTTPS) its certificate live in ``folder``, so the certificate outlives
    neither the fleet nor a simulator killed without notice.
    """
    argv = [*camsim_command(), "--host", "127.0.0.1", "--port", "0", "--profile", profile]
    if https:
        argv += ["--https", "--cert-dir", str(folder / "tls")]
    if cameras is not None:
        argv += ["--cameras", str(cameras)]
    if catalog is not None:
        argv += ["--catalog", str(catalog)]
    if seed is not None:
        argv += ["--seed", str(seed)]
    record = spawn("camsim", "camsim", argv, folder / "camsim.log", mark=mark)
    try:
        url = wait_for_log_line(record, LISTENING, timeout=30)["url"].rstrip("/")
        ca_file = ""
        if https:
            ca_file = wait_for_log_line(record, CERTIFICATE, timeout=10)["path"]
    except ProcessStartError:
        stop([record])
        raise
    port = urlsplit(url).port
    record = replace(record, port=port)
    return Simulator(record, url, ca_file)
