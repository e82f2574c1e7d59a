"""The Pulumi program loads no CLI machinery: no boto3, paramiko, rich or typer.

`pulumi up` imports infra/ on every preview; before the shared constants moved into
``cctview_agent.fleetconstants`` it pulled in boto3 (through ``inventory`` and ``ebsvolumes``)
and paramiko (through ``rolling``) for a handful of strings. Each check runs in a fresh
interpreter, since this test process has long since imported all of them.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys

from tests.infra.mocks import REPO

HEAVY = ("boto3", "botocore", "paramiko", "rich", "typer", "matplotlib", "pyarrow")


def loaded_after(code: str) -> list[str]:
    """The top-level modules a fresh interpreter holds after running ``code``."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def main_program_imports() -> list[str]:
    """The modules infra/__main__.py imports (it cannot be imported outside `pulumi up`)."""
    tree = ast.parse((REPO / "infra" / "__main__.py").read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    return sorted(set(names) - {"__future__"})


def test_the_pulumi_program_imports_no_cli_machinery() -> None:
    code = (
        "import importlib, pkgutil, cctview_infra\n"
        "for m in pkgutil.walk_packages(cctview_infra.__path__, 'cctview_infra.'):\n"
        "    importlib.import_module(m.name)\n"
        f"for name in {main_program_imports()!r}:\n"
        "    importlib.import_module(name)\n"
    )
    modules = loaded_after(code)
    assert "cctview_infra.program" in modules and "pulumi" in modules  # it did load the program
    heavy = sorted({m.split(".")[0] for m in modules} & set(HEAVY))
    assert heavy == [], f"the Pulumi program loads {heavy}"
    cli = sorted(m for m in modules if m.startswith("cctview_fleet."))
    # Light modules only: the cost model (free-tier warnings), the wheel key scheme, and where
    # first boot records its outcome (the user data writes it, `status` reads it); and the faces
    # of their packages, which hold a docstring and nothing else.
    faces = {f"cctview_fleet.{package}" for package in ("planning", "rollout", "nodes")}
    assert set(cli) - faces <= {
        "cctview_fleet.planning.costs",
        "cctview_fleet.rollout.wheels",
        "cctview_fleet.errors",
        "cctview_fleet.nodes.bootoutcome",
    }
