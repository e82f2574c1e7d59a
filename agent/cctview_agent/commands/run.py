"""``cctview-agent run``: the long-running agent (what systemd starts)."""

from __future__ import annotations

import argparse
from typing import Any

from cctview_agent.config import load_config


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("run", help="poll the assigned cameras until SIGTERM")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    from cctview_agent.service.runner import run_agent  # aiohttp is imported only by `run`

    return run_agent(config)
