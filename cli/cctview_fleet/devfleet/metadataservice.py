"""The first-booted local nodes' instance metadata service: EC2's tags path, moto for the rest.

A node's user data reads its agent wheel and data volume from its own instance tags at
``/latest/meta-data/tags/instance/<key>`` (IMDSv2, instance metadata tags enabled). moto's server
serves the role credentials and a few fixed paths, but not the tags (it answers any other path
with an error), and it cannot tell which instance asks. So each node gets its own loopback port
here, named in that node's ``~/.aws/config`` (``ec2_metadata_service_endpoint``), and this
process answers, as EC2 does for an instance with ``http_tokens=required``:

- ``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds``: a session token;
- any ``GET`` without a token it handed out: 401;
- ``GET /latest/meta-data/tags/instance`` (the keys, one a line) and ``.../<key>`` (its value; 404
  if the instance has no such tag), read from the emulator's EC2 tags of that node's instance
  at each request, so a tag set by ``upgrade`` or ``rotate-volumes`` is what the next read sees;
- everything else (the role's credentials): forwarded to moto unchanged.

docs/local-fleet.md says what it does not reproduce (token expiry, the hop limit, other paths).

    python -m cctview_fleet.devfleet.metadataservice --moto URL --listen node-01=PORT=i-... ...
"""

from __future__ import annotations

import argparse
import secrets
import signal
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType

import boto3

HOST = "127.0.0.1"
TOKEN_PATH = "/latest/api/token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
TAGS_PATH = "/latest/meta-data/tags/instance"

TagReader = Callable[[str], dict[str, str]]  # instance id -> its tags


@dataclass(frozen=True, slots=True)
class Listener:
    """One node's metadata endpoint: its port and the instance it answers for."""

    node: str
    port: int
    instance_id: str

    @classmethod
    def parse(cls, text: str) -> Listener:
        node, port, instance_id = text.split("=", 2)
        return cls(node, int(port), instance_id)

    def argument(self) -> str:
        return f"{self.node}={self.port}={self.instance_id}"


def emulator_tags(moto_url: str) -> TagReader:
    """Read an instance's tags from the emulator (DescribeTags), as EC2's metadata service does
    from EC2's own records."""
    ec2 = boto3.client(
        "ec2",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )

    def read(instance_id: str) -> dict[str, str]:
        found = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [instance_id]}])
        return {t["Key"]: t.get("Value", "") for t in found.get("Tags", [])}

    return read


def handler_for(listener: Listener, moto_url: str, tags: TagReader) -> type[BaseHTTPRequestHandler]:
    """The request handler of one node's port."""
    tokens: set[str] = set()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: str = "", headers: dict[str, str] | None = None) -> None:
            data = body.encode()
            self.send_response(code)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_PUT(self) -> None:
            if self.path != TOKEN_PATH:
                self._send(403)
                return
            ttl = self.headers.get(TTL_HEADER, "")
            if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                self._send(400)
                return
            token = secrets.token_urlsafe(32)
            with lock:
                tokens.add(token)
            self._send(200, token, {TTL_HEADER: ttl})

        def do_GET(self) -> None:
            with lock:
                known = self.headers.get(TOKEN_HEADER, "") in tokens
            if not known:
                self._send(401)  # http_tokens=required: no IMDSv1
                return
            path = self.path.split("?", 1)[0]
            if path.rstrip("/") == TAGS_PATH or path.startswith(TAGS_PATH + "/"):
                self._tags(path.removeprefix(TAGS_PATH).strip("/"))
                return
            self._forward()

        def _tags(self, key: str) -> None:
            try:
                found = tags(listener.instance_id)
            except Exception as exc:  # the emulator is down: EC2 would answer 500 too
                self._send(500, f"{type(exc).__name__}")
                return
            if not key:
                self._send(200, "\n".join(sorted(found)))
            elif key in found:
                self._send(200, found[key])
            else:
                self._send(404)

        def _forward(self) -> None:
            request = urllib.request.Request(moto_url + self.path, method="GET")
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    self._send(response.status, response.read().decode())
            except urllib.error.HTTPError as exc:
                self._send(exc.code, exc.read().decode(errors="replace"))
            except (urllib.error.URLError, OSError) as exc:
                self._send(502, str(exc))

        def log_message(self, format: str, *args: object) -> None:
            sys.stdout.write(f"{listener.node}: {format % args}\n")
            sys.stdout.flush()

    return Handler


def serve(
    listeners: Sequence[Listener], moto_url: str, tags: TagReader
) -> list[ThreadingHTTPServer]:
    """Start one server per node, each in its own thread; the caller shuts them down."""
    servers = []
    for listener in listeners:
        server = ThreadingHTTPServer((HOST, listener.port), handler_for(listener, moto_url, tags))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    return servers


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moto", required=True, help="the emulator's URL")
    parser.add_argument("--listen", action="append", default=[], help="NODE=PORT=INSTANCE_ID")
    args = parser.parse_args(argv)
    listeners = [Listener.parse(text) for text in args.listen]
    servers = serve(listeners, args.moto.rstrip("/"), emulator_tags(args.moto))
    stopped = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"metadata: serving {', '.join(f'{x.node} on {x.port}' for x in listeners)}", flush=True)
    stopped.wait()
    for server in servers:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
