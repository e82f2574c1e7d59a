"""``cctview-agent``: the node agent's command line (argparse; a node installs no typer).

    cctview-agent [--config FILE] run | status [--json] | reload | assign - | assign --show

``--config`` defaults to ``$CCTVIEW_AGENT_CONFIG``, else ``/etc/cctview/agent.toml``, and is
accepted before or after the subcommand (``cctview-agent run --config FILE`` is what people
type); given in both places, the later one wins. Every
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
from typing import NoReturn

from cctview_agent import __version__
from cctview_agent.commands import assign, reload, run, status, sync, volume
from cctview_agent.errors import CctviewError

DEFAULT_CONFIG = Path("/etc/cctview/agent.toml")
CONFIG_ENV = "CCTVIEW_AGENT_CONFIG"

# Register subcommands here: one module per subcommand, each with add_parser(subparsers).
SUBCOMMANDS: list[ModuleType] = [
    run,
    status,
    reload,
    assign,
    volume,
    sync,
]


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag as one ``error: ...`` line and exit 2 (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def default_config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cctview-agent",
        description="Poll the assigned traffic cameras, store frames, close periods.",
    )
    _add_config_flag(parser, default=None)
    parser.add_argument("--version", action="version", version=f"cctview-agent {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for module in SUBCOMMANDS:
        module.add_parser(subparsers)
    for subparser in _subparsers_below(parser):
        # SUPPRESS: a subcommand without --config leaves the top-level value alone (argparse
        # would otherwise overwrite it with the subparser's default).
        _add_config_flag(subparser, default=argparse.SUPPRESS)
    return parser


def _add_config_flag(parser: argparse.ArgumentParser, *, default: object) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=default,
        metavar="FILE",
        help=f"agent TOML file (default: ${CONFIG_ENV}, else {DEFAULT_CONFIG})",
    )


def _subparsers_below(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every subcommand's parser at any depth (``volume list`` too)."""
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases repeat a parser
                found.append(child)
                found.extend(_subparsers_below(child))
    return found


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
