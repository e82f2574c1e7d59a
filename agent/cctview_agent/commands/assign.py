"""``cctview-agent assign -``: install a camera assignment from stdin and reload the agent.

``assign --show`` prints the current assignment. The summary is one JSON line, so the operator
CLI that runs this over SSH can parse it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cctview_agent.assignment import (
    diff_assignment,
    load_assignment,
    parse_assignment,
    write_assignment,
)
from cctview_agent.cameras import dump_cameras
from cctview_agent.config import load_config
from cctview_agent.errors import ConfigError
from cctview_agent.service.pidfile import running_pid, signal_agent


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "assign", help="install the camera assignment read from stdin ('-') and reload"
    )
    parser.add_argument("source", nargs="?", help="'-' to read a cameras --json array on stdin")
    parser.add_argument("--show", action="store_true", help="print the current assignment")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.show:
        print(dump_cameras(load_assignment(config.assignment)))
        return 0
    if args.source != "-":
        raise ConfigError("assign reads the camera array from stdin: cctview-agent assign -")
    cameras = parse_assignment(sys.stdin.buffer.read(), source="stdin")
    change = diff_assignment(load_assignment(config.assignment), cameras)
    write_assignment(config.assignment, cameras)
    pid = running_pid(config)
    if pid is not None:
        pid = signal_agent(config, reload=True)
    summary = {
        "assignment": str(config.assignment),
        "cameras": len(cameras),
        "added": len(change.added),
        "removed": len(change.removed),
        "changed": len(change.changed),
        "unchanged": len(change.unchanged),
        "reloaded": pid is not None,
        "pid": pid,
    }
    print(json.dumps(summary))
    return 0
