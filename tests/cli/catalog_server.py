"""A real HTTP server on loopback that serves a camera list, for the catalog tests.

Not a mock: urllib talks to it over a socket. The tests change what it answers (body, status,
a hang) between requests, and stop it to simulate the network going away.

It runs in the test's own process, so it must not outlive its test: ``stop()`` cuts any hang
short and joins every request thread, and a request's error (the client gave up and closed the
socket) is kept in ``errors`` instead of being printed. socketserver prints such tracebacks to
``sys.stderr`` as it is at that moment; a thread left sleeping once woke inside a later test's
``CliRunner.invoke``, which swaps ``sys.stderr`` for the whole process, and its BrokenPipe
traceback became part of the output that test compared.
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"[]"
    delay: float = 0.0
    drip: float = 0.0  # seconds between body bytes: a slow-drip server, each read answered
    requests: list[str] = field(default_factory=list)


class _QuietServer(ThreadingHTTPServer):
    """Request threads are joined on close (not daemons) and their errors kept, not printed."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.errors: list[BaseException] = []

    def handle_error(self, request: object, client_address: object) -> None:
        error = sys.exc_info()[1]
        if error is not None:
            self.errors.append(error)


class CatalogServer:
    """Serves ``answer`` at every path; ``url`` is ``http://127.0.0.1:PORT/api/cameras``."""

    def __init__(self) -> None:
        self.answer = Answer()
        self.stopping = threading.Event()
        answer_of = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                answer = answer_of.answer
                answer.requests.append(self.path)
                if answer.delay:
                    answer_of.stopping.wait(answer.delay)  # a hang that stop() cuts short
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if not answer.drip:
                    self.wfile.write(answer.body)
                    return
                for index in range(len(answer.body)):
                    try:
                        self.wfile.write(answer.body[index : index + 1])
                        self.wfile.flush()
                    except OSError:
                        return  # the client gave up
                    if answer_of.stopping.wait(answer.drip):  # stop() ends the drip too
                        return

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/api/cameras"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> CatalogServer:
        self.thread.start()
        return self

    @property
    def errors(self) -> list[BaseException]:
        """What the request threads raised (e.g. BrokenPipeError after a client timed out)."""
        return self.httpd.errors

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.thread.join(5)
        self.httpd.server_close()  # joins the request threads (block_on_close)


@contextmanager
def catalog_server(body: bytes = b"[]", status: int = 200) -> Iterator[CatalogServer]:
    server = CatalogServer()
    server.answer = Answer(status=status, body=body)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def closed_port_url() -> str:
    """A loopback URL nothing listens on: bind a port, then close it (refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/cameras"
