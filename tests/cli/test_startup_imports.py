"""`cctview-fleet --help` loads no heavy library: the command modules import them where used.

Not a timed test (bench/startup_bench.py measures the time); it checks the cause instead. The
CLI is loaded in a fresh interpreter, every command's help is built (which makes typer resolve
every command's parameter annotations, so a name a command needs at parse time cannot have been
moved into its body), and the modules that made start-up slow must still be absent.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("boto3", "botocore", "paramiko", "matplotlib", "pyarrow", "pulumi", "aiohttp")

SCRIPT = """
import json, sys
import click, typer.main
from cctview_fleet.app import app

def walk(command, ctx):
    command.get_help(ctx)
    for name, sub in getattr(command, "commands", {}).items():
        walk(sub, click.Context(sub, info_name=name, parent=ctx))

root = typer.main.get_command(app)
walk(root, click.Context(root, info_name="cctview-fleet"))
print(json.dumps(sorted(sys.modules)))
"""


def test_building_every_commands_help_loads_no_heavy_library() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    modules = set(json.loads(done.stdout.splitlines()[-1]))
    assert "cctview_fleet.commands.sync_s3" in modules  # the commands were loaded
    heavy = sorted({m.split(".")[0] for m in modules} & set(HEAVY))
    assert heavy == [], f"`cctview-fleet --help` imports {heavy}"
