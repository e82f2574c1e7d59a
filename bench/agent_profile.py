"""Where the agent's CPU goes: cProfile (CPU clock) of a real agent run, grouped by component.

    flock /tmp/cctview-bench.lock .venv/bin/python bench/agent_profile.py [--cameras 250]
        [--duration 30]

Starts the camera simulator over HTTPS, runs the agent in this process under cProfile for
``--duration`` seconds, and prints each component's share of the profiled CPU time (own time of
its functions): aiohttp, asyncio's TLS layer, the event loop, the agent's own code, hashing, file
system calls. cProfile slows Python code down, so shares matter here, not absolute figures.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cctview_agent.cameras import dump_cameras, parse_cameras  # noqa: E402
from cctview_agent.config import load_config  # noqa: E402
from tests.fixtures.camsim import running_camsim  # noqa: E402

GROUPS = [
    ("aiohttp client", ("aiohttp/", "multidict", "yarl", "aiohappyeyeballs", "propcache")),
    ("asyncio TLS (sslproto + OpenSSL calls)", ("sslproto.py", "ssl.py", "_ssl._SSL")),
    ("event loop, tasks, timers", ("asyncio/", "selectors.py", "select.epoll", "_contextvars")),
    ("agent code", ("cctview_agent/",)),
    ("BLAKE2b digest", ("blake2b", "hexdigest")),
    ("socket send/recv", ("_socket.socket",)),
    ("file system calls", ("posix.",)),
    ("logging and json", ("logging/", "json/")),
]


def group_of(key: tuple[str, int, str]) -> str:
    filename, _line, name = key
    text = f"{filename}:{name}"
    for label, needles in GROUPS:
        if any(needle in text for needle in needles):
            return label
    return "other"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=250)
    parser.add_argument("--duration", type=float, default=30.0)
    args = parser.parse_args()
    from cctview_agent.service.runner import run_agent

    with tempfile.TemporaryDirectory(prefix="agent-profile-") as tmp:
        work = Path(tmp)
        data = Path(tempfile.mkdtemp(prefix="agent-profile-", dir="/dev/shm"))
        with running_camsim(work / "sim", cameras=args.cameras, refresh=1.0, https=True) as sim:
            (work / "assignment.json").write_text(dump_cameras(parse_cameras(sim.cameras())))
            (work / "agent.toml").write_text(
                f'data_dir = "{data}"\nassignment = "{work / "assignment.json"}"\n'
                f'log_file = "{work / "agent.log"}"\nstatus_file = "{work / "status.json"}"\n'
                f'ca_file = "{sim.cert_path}"\nreserve_bytes = 0\n'
            )
            config = load_config(work / "agent.toml")
            timer = threading.Timer(args.duration, os.kill, (os.getpid(), signal.SIGTERM))
            timer.start()
            profile = cProfile.Profile(time.process_time)
            profile.enable()
            run_agent(config)
            profile.disable()
            frames = sum(1 for _d, _s, n in os.walk(data) for x in n if x.endswith(".jpg"))
        stats = pstats.Stats(profile)
        own: Counter[str] = Counter()
        for key, (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            own[group_of(key)] += tottime
        total = sum(own.values())
        print(f"profiled CPU {total:.2f} s for {frames} frames ({args.cameras} cameras, HTTPS)")
        for label, seconds in own.most_common():
            per_frame = seconds / max(frames, 1) * 1e6
            print(f"  {label:<42} {seconds / total:6.1%}  {per_frame:7.0f} us/frame")
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
