"""A collector built like the original one, for the agent benchmark to compare against.

One process per camera; each process loops: open a new HTTP(S) connection, GET the image, close,
write the frame (temporary name, rename), sleep one second. No keep-alive, no shared event loop,
no schedule, no deduplication: what a simple per-camera script does (the original collector was a
Node.js process per camera doing the same).

    python bench/baseline_collector.py --assignment cams.json --out DIR [--ca-file CERT]

runs until SIGTERM; ``--camera-url`` runs one camera's loop (what the parent starts per camera).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit


def camera_loop(url: str, out: Path, ca_file: str | None, timeout: float) -> None:
    parts = urlsplit(url)
    context = ssl.create_default_context(cafile=ca_file) if parts.scheme == "https" else None
    out.mkdir(parents=True, exist_ok=True)
    running = True

    def stop(_signum: int, _frame: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    while running:
        try:
            if context is not None:
                conn = http.client.HTTPSConnection(
                    parts.hostname, parts.port, context=context, timeout=timeout
                )
            else:
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
            conn.request("GET", f"{parts.path}?t={int(time.time() * 1000)}")
            response = conn.getresponse()
            body = response.read()
            conn.close()
            if response.status == 200:
                name = f"{int(time.time() * 1000)}.jpg"
                tmp = out / f".{name}.tmp"
                tmp.write_bytes(body)
                os.replace(tmp, out / name)
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(1.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--ca-file")
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--camera-url")
    args = parser.parse_args()
    if args.camera_url:
        camera_loop(args.camera_url, args.out, args.ca_file, args.timeout)
        return 0
    cameras = json.loads(args.assignment.read_text())
    children = []
    for camera in cameras:
        argv = [sys.executable, __file__, "--out", str(args.out / camera["id"])]
        argv += ["--camera-url", camera["image_url"], "--timeout", str(args.timeout)]
        if args.ca_file:
            argv += ["--ca-file", args.ca_file]
        children.append(subprocess.Popen(argv))
    stopping: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda n, _f: stopping.append(n))
    while not stopping:
        signal.pause()
    for child in children:
        child.terminate()
    for child in children:
        child.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
