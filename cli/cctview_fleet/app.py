"""The ``cctview-fleet`` command line: thin typer commands over library functions.

Each command module parses its flags, calls a function that returns data, and renders it (a rich
table, or JSON with ``--json``). Errors reach the user through one place: :class:`CliGroup`
catches :class:`CctviewError`, prints its one-line message and exits with its code; a traceback
appears only with ``--verbose``.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click
import typer
from typer.core import TyperGroup

from cctview_fleet import __version__
from cctview_fleet.commands import assign as assign_commands
from cctview_fleet.commands import cameras as cameras_commands
from cctview_fleet.commands import dataset as dataset_commands
from cctview_fleet.commands import dev as dev_commands
from cctview_fleet.commands import frames as frames_commands
from cctview_fleet.commands import helpmetavars
from cctview_fleet.commands import logs as logs_commands
from cctview_fleet.commands import plan as plan_commands
from cctview_fleet.commands import remote as remote_commands
from cctview_fleet.commands import roll as roll_commands
from cctview_fleet.commands import rotate_volumes as rotate_volumes_commands
from cctview_fleet.commands import stack as stack_commands
from cctview_fleet.commands import status as status_commands
from cctview_fleet.commands import sync_s3 as sync_s3_commands
from cctview_fleet.commands import teardown as teardown_commands
from cctview_fleet.commands import trust as trust_commands
from cctview_fleet.commands import upgrade as upgrade_commands
from cctview_fleet.errors import CctviewError

helpmetavars.install()  # --help shows metavars, not Python types


def usage_line(error: Exception) -> str:
    """``error: <what is wrong> (see <command> --help)``: typer's framed panel, as one line."""
    message = " ".join(getattr(error, "format_message", lambda: str(error))().split())
    ctx = getattr(error, "ctx", None)
    where = f" (see {ctx.command_path} --help)" if ctx is not None else ""
    return f"error: {message}{where}"


class CliGroup(TyperGroup):
    """The root group: turns every CctviewError, and every usage error (a typo in a flag, a
    missing value), into one line on stderr and an exit code."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, False, **extra)
        except typer.Abort:
            click.echo("aborted", err=True)
            sys.exit(1)
        except typer.TyperException as error:  # typer's own click's ClickException
            if type(error).__name__ == "NoArgsIsHelpError":  # a bare group: its help, as click
                error.show()  # type: ignore[attr-defined]
            else:
                click.echo(usage_line(error), err=True)
            sys.exit(getattr(error, "exit_code", 2))
        sys.exit(result if isinstance(result, int) else 0)

    # typer hands the group its own typer.Context (a subclass of the click Context it vendors,
    # whose module is private): the override names the class it is given.
    def invoke(self, ctx: typer.Context) -> object:  # type: ignore[override]
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


# The commands, in the order of `--help`: each module of cctview_fleet.commands exposes
# ``register(app)``. Imported by name, so editors and tools can follow them; a command module
# imports its heavy libraries (boto3, paramiko, matplotlib, pyarrow) where it uses them, which
# keeps `--help` and `--version` fast (bench/startup_bench.py).
for _module in (
    cameras_commands,
    plan_commands,
    trust_commands,
    assign_commands,
    status_commands,
    logs_commands,
    remote_commands,
    sync_s3_commands,
    rotate_volumes_commands,
    frames_commands,
    dataset_commands,
    stack_commands,
    roll_commands,
    upgrade_commands,
    teardown_commands,
    dev_commands,
):
    _module.register(app)


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())  # typer/click exit with the command's code
