"""``cctview-agent reload``: make the running agent re-read its assignment (SIGHUP)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from cctview_agent.config import load_config
from cctview_agent.service.pidfile import signal_agent


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("reload", help="re-read the assignment in the running agent")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    pid = signal_agent(config, reload=True)
    print(json.dumps({"reloaded": True, "pid": pid}))
    return 0
