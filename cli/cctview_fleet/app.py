"""The ``cctview-fleet`` command line: thin typer commands over library functions.

Each command module parses its flags, calls a function that returns data, and renders it (a rich
table, or JSON with ``--json``). Errors reach the user through one place: :class:`CliGroup`
catches :class:`CctviewError`, prints its one-line message and exits with its code; a traceback
appears only with ``--verbose``.
"""

from __future__ import annotations

import importlib
import sys
import traceback

import click
import typer
from typer.core import TyperGroup

from cctview_fleet import __version__
from cctview_fleet.commands import helpmetavars
from cctview_fleet.errors import CctviewError

helpmetavars.install()  # --help shows metavars, not Python types


class CliGroup(TyperGroup):
    """The root group: turns every CctviewError into one line on stderr and an exit code."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except CctviewError as error:
            if ctx.meta.get("cctview.verbose"):
                traceback.print_exc()
            click.echo(f"error: {error}", err=True)
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


app = typer.Typer(
    cls=CliGroup,
    name="cctview-fleet",
    help="Collect frames from NYC DOT traffic cameras with a fleet of small EC2 nodes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cctview-fleet {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show tracebacks on errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Collect frames from NYC DOT traffic cameras with a fleet of small EC2 nodes."""
    ctx.meta["cctview.verbose"] = verbose


# Command modules register themselves here: one name each, a module of cctview_fleet.commands
# exposing ``register(app)``. Order is the order of `--help`.
COMMAND_MODULES: tuple[str, ...] = (
    "cameras",
    "plan",
    "trust",
    "assign",
    "status",
    "logs",
    "remote",
    "sync",
    "volumes",
    "frames",
    "dataset",
    "stack",
    "roll",
    "upgrade",
    "teardown",
    "dev",
)
for _name in COMMAND_MODULES:
    importlib.import_module(f"cctview_fleet.commands.{_name}").register(app)


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())  # typer/click exit with the command's code
