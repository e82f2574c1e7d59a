"""A real OpenSSH sshd on a loopback port, for the SSH layer's tests (not a mock).

Used until and besides the local fleet fixture: it gives one sshd with its own host key, an
authorized client key and a known_hosts file, and stops it by its pid. When
``CCTVIEW_REQUIRE_SSHD=1`` (CI) a missing sshd fails the test instead of skipping it.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"


def require_sshd() -> None:
    if not (Path(SSHD).exists() and shutil.which("ssh-keygen")):
        message = f"{SSHD} or ssh-keygen missing; install openssh-server"
        if os.environ.get("CCTVIEW_REQUIRE_SSHD") == "1":
            pytest.fail(message)
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def keygen(path: Path) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return path.with_suffix(".pub").read_text().strip()


@dataclass
class Sshd:
    folder: Path
    port: int
    host_key_line: str  # "ssh-ed25519 AAAA..."
    client_key: Path
    known_hosts: Path
    user: str
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        config = self.folder / "sshd_config"
        config.write_text(
            f"Port {self.port}\n"
            "ListenAddress 127.0.0.1\n"
            f"HostKey {self.folder / 'host_ed25519'}\n"
            f"PidFile {self.folder / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {self.folder / 'authorized_keys'}\n"
            "StrictModes no\nUsePAM no\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
            f"SetEnv PATH={os.environ.get('PATH', '/usr/bin:/bin')}\n"
        )
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(exist_ok=True)
        log = open(self.folder / "sshd.log", "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError((self.folder / "sshd.log").read_text())
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("sshd did not listen within 10 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait(timeout=5)


@contextlib.contextmanager
def running_sshd(folder: Path, *, trusted: bool = True) -> Iterator[Sshd]:
    """An sshd in ``folder``; ``trusted`` writes its host key into the known_hosts file."""
    require_sshd()
    folder.mkdir(parents=True, exist_ok=True)
    host_key = keygen(folder / "host_ed25519")
    client_public = keygen(folder / "client_ed25519")
    (folder / "authorized_keys").write_text(client_public + "\n")
    port = free_port()
    known = folder / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {' '.join(host_key.split()[:2])}\n" if trusted else "")
    server = Sshd(folder, port, host_key, folder / "client_ed25519", known, getpass.getuser())
    server.start()
    try:
        yield server
    finally:
        server.stop()
