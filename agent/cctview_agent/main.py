"""``cctview-agent``: the node agent's command line (argparse; a node installs no typer).

    cctview-agent [--config FILE] run | status [--json] | reload | assign - | assign --show

``--config`` defaults to ``$CCTVIEW_AGENT_CONFIG``, else ``/etc/cctview/agent.toml``. Every
subcommand is a module exposing ``add_parser(subparsers)``, which registers its parser and sets
``handler=<function(args) -> int>``; :data:`SUBCOMMANDS` lists them. A :class:`CctviewError`
becomes one ``error: ...`` line on stderr and its exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from cctview_agent import __version__
from cctview_agent.commands import assign_cmd, reload_cmd, run_cmd, status_cmd, sync_cmd, volume_cmd
from cctview_agent.errors import CctviewError

DEFAULT_CONFIG = Path("/etc/cctview/agent.toml")
CONFIG_ENV = "CCTVIEW_AGENT_CONFIG"

# Register subcommands here: one module per subcommand, each with add_parser(subparsers).
SUBCOMMANDS: list[ModuleType] = [
    run_cmd,
    status_cmd,
    reload_cmd,
    assign_cmd,
    volume_cmd,
    sync_cmd,
]


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag as one ``error: ...`` line and exit 2 (no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def default_config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cctview-agent",
        description="Poll the assigned traffic cameras, store frames, close periods.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help=f"agent TOML file (default: ${CONFIG_ENV}, else {DEFAULT_CONFIG})",
    )
    parser.add_argument("--version", action="version", version=f"cctview-agent {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for module in SUBCOMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config is None:
        args.config = default_config_path()
    try:
        return int(args.handler(args) or 0)
    except CctviewError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
