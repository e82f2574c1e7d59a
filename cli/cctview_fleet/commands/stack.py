"""`cctview-fleet stack import|show|list`: remember what `pulumi up` made, by stack name.

The CLI needs a fleet's bucket, prefix, region, SSH user and key; `pulumi up` knows them as stack
outputs. `stack import` reads `pulumi stack output --json` (run for you when the Pulumi CLI is on
PATH, or from a file / stdin) once, so that later commands work without the Pulumi CLI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Annotated, Any

import typer

from cctview_fleet.cloud.stacks import (
    Stack,
    cctview_home,
    load_stack,
    save_stack,
    stack_from_outputs,
    stack_name,
)
from cctview_fleet.errors import ConfigError

stack_app = typer.Typer(help="Remember a fleet's bucket, region and SSH settings by stack name.")


def read_outputs(source: str | None, name: str) -> dict[str, Any]:
    """Stack outputs from a file, from stdin (``-``), or from the Pulumi CLI."""
    if source == "-":
        text = sys.stdin.read()
        where = "standard input"
    elif source:
        try:
            text = Path(source).read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read {source}: {exc.strerror or exc}") from exc
        where = source
    else:
        pulumi = shutil.which("pulumi")
        if pulumi is None:
            raise ConfigError(
                "the Pulumi CLI is not on PATH; run `pulumi stack output --json > outputs.json` "
                f"where it is, then `cctview-fleet stack import {name} --from outputs.json`"
            )
        run = subprocess.run(
            [pulumi, "stack", "output", "--json", "--stack", name],
            capture_output=True,
            text=True,
            check=False,
        )
        if run.returncode != 0:
            last = (run.stderr.strip().splitlines() or ["no output"])[-1]
            raise ConfigError(f"`pulumi stack output --stack {name}` failed: {last}")
        text, where = run.stdout, "pulumi stack output"
    try:
        outputs = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where} is not JSON from `pulumi stack output --json`: {exc}") from exc
    if not isinstance(outputs, dict):
        raise ConfigError(f"{where} is not a JSON object of stack outputs")
    return outputs


def import_stack(
    name: str, source: str | None, ssh_key: Path, known_hosts: Path | None
) -> tuple[Stack, Path]:
    outputs = read_outputs(source, name)
    hosts = known_hosts or cctview_home() / "known_hosts" / name
    stack = stack_from_outputs(
        name, outputs, ssh_key=str(ssh_key.expanduser()), known_hosts=str(hosts)
    )
    if not ssh_key.expanduser().exists():
        raise ConfigError(
            f"SSH private key {ssh_key} does not exist; pass --ssh-key with the key whose public "
            "half is the sshPublicKey config of the stack",
            key="ssh-key",
        )
    return stack, save_stack(stack)


@stack_app.command("import")
def import_command(
    name: Annotated[str, typer.Argument(help="Stack name, as in `pulumi stack ls`.")],
    source: Annotated[
        str | None,
        typer.Option("--from", help="File of `pulumi stack output --json`, or - for stdin."),
    ] = None,
    ssh_key: Annotated[
        Path, typer.Option("--ssh-key", help="Private key matching the stack's sshPublicKey.")
    ] = Path("~/.ssh/id_ed25519"),
    known_hosts: Annotated[
        Path | None, typer.Option("--known-hosts", help="The fleet's known_hosts file.")
    ] = None,
) -> None:
    """Save a stack's outputs (bucket, prefix, region, SSH user) for later commands."""
    from cctview_fleet.render import console

    stack, path = import_stack(stack_name(name), source, ssh_key, known_hosts)
    console.print(
        f"stack [bold]{stack.name}[/]: bucket {stack.bucket}/{stack.prefix} in "
        f"{stack.region}, saved to {path}"
    )


@stack_app.command("show")
def show_command(
    name: Annotated[
        str | None, typer.Argument(help="Stack name (default: --stack/$CCTVIEW_STACK).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show what the CLI knows about a stack (credentials of the emulator are masked)."""
    from cctview_fleet.render import console, print_json, table

    stack = load_stack(name)
    if stack.aws_secret_access_key:
        stack = replace(stack, aws_secret_access_key="****")
    data = asdict(stack)
    if as_json:
        print_json(data)
        return
    console.print(table(f"stack {stack.name}", ["setting", "value"], sorted(data.items())))


@stack_app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the stacks this machine knows."""
    from cctview_fleet.render import console, print_json, table

    folder = cctview_home() / "stacks"
    names = sorted(p.stem for p in folder.glob("*.json")) if folder.exists() else []
    stacks = [load_stack(n) for n in names]
    if as_json:
        print_json([{"name": s.name, "region": s.region, "bucket": s.bucket} for s in stacks])
        return
    console.print(
        table(
            "stacks",
            ["name", "region", "bucket", "endpoint"],
            [(s.name, s.region, s.bucket, s.endpoint_url or "AWS") for s in stacks],
        )
    )


def register(app: typer.Typer) -> None:
    app.add_typer(stack_app, name="stack")
