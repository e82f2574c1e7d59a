"""``cctview-agent status [--json]``: the agent's last status, also while it is down."""

from __future__ import annotations

import argparse
import json
from typing import Any

from cctview_agent.config import load_config
from cctview_agent.service.status import read_status, render_status


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("status", help="show cameras, frames, disk and periods")
    parser.add_argument("--json", action="store_true", help="print the status as JSON")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    status = read_status(config)
    if args.json:
        print(json.dumps(status, indent=1))
    else:
        print(render_status(status))
    return 0
