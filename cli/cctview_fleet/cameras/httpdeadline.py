"""A total deadline for one urllib request, whatever phase it is in.

urllib's ``timeout`` bounds each socket operation only: a server that sends a byte every half
second (headers or body) holds the caller forever. :class:`Deadline` gives urllib connections
whose sockets it records, and a timer that shuts them down when the deadline passes; the read
then ends (or fails) at once, and :attr:`Deadline.expired` tells the caller why.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import urllib.request
from typing import Any


class Deadline:
    """``with Deadline(8.0) as d: d.opener(context).open(request, timeout=1.0)``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def _watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            late = self.expired  # connected after the deadline: cut it at once
        if late:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _connection(self, base: type[http.client.HTTPConnection], **extra: Any) -> Any:
        """A connection factory for urllib; the connection object itself lets go of its socket
        once the response is under way, so the socket is recorded at connect time."""
        watch = self._watch

        class Watched(base):  # type: ignore[valid-type,misc]
            def connect(self) -> None:
                super().connect()
                watch(self.sock)

        def make(host: str, **kwargs: Any) -> http.client.HTTPConnection:
            return Watched(host, **{**kwargs, **extra})

        return make

    def opener(self, context: ssl.SSLContext | None = None) -> urllib.request.OpenerDirector:
        """urllib's opener (HTTP and HTTPS) with connections this deadline can cut."""
        connection = self._connection

        class Http(urllib.request.HTTPHandler):
            def http_open(self, req: urllib.request.Request) -> Any:
                return self.do_open(connection(http.client.HTTPConnection), req)

        class Https(urllib.request.HTTPSHandler):
            def https_open(self, req: urllib.request.Request) -> Any:
                return self.do_open(connection(http.client.HTTPSConnection, context=context), req)

        return urllib.request.build_opener(Http(), Https(context=context))

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        # cancel() only asks the timer to stop; the join lets its thread end here, so no thread
        # of a finished fetch outlives it (on a loaded machine it did, for a moment)
        self._timer.cancel()
        self._timer.join(timeout=5.0)
