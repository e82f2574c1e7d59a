"""A real HTTP server on loopback that serves a camera list, for the catalog tests.

Not a mock: urllib talks to it over a socket. The tests change what it answers (body, status,
a hang) between requests, and stop it to simulate the network going away.
"""

from __future__ import annotations

import socket
import threading
import time
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


class CatalogServer:
    """Serves ``answer`` at every path; ``url`` is ``http://127.0.0.1:PORT/api/cameras``."""

    def __init__(self) -> None:
        self.answer = Answer()
        answer_of = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                answer = answer_of.answer
                answer.requests.append(self.path)
                if answer.delay:
                    time.sleep(answer.delay)
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
                    time.sleep(answer.drip)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/api/cameras"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> CatalogServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.thread.join(5)
        self.httpd.server_close()


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
