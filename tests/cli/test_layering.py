"""The layering rules of docs/architecture.md that moves of logic must keep (issue 14).

Read from the source (imports at any depth, type-checking ones included), so a lazy import in a
function body counts as much as one at the top.
"""

from __future__ import annotations

import argparse
import ast
import importlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FLEET = ROOT / "cli" / "cctview_fleet"
AGENT = ROOT / "agent" / "cctview_agent"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_library_modules_never_import_a_command_module() -> None:
    """Commands call libraries; a library that needs a command's code means logic was left in
    the command (app.py, which wires the commands, is the one exception)."""
    offenders = {
        str(path.relative_to(FLEET)): sorted(
            n for n in _imports(path) if n.startswith("cctview_fleet.commands")
        )
        for path in FLEET.rglob("*.py")
        if path.parts[len(FLEET.parts)] not in ("commands", "app.py")
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_operations_layer_imports_no_rich() -> None:
    assert not {n for n in _imports(FLEET / "nodes" / "ops.py") if n.split(".")[0] == "rich"}


def test_a_poller_knows_the_agent_only_through_its_protocol() -> None:
    imported = _imports(AGENT / "polling" / "poller.py") | _imports(AGENT / "polling" / "host.py")
    assert not {n for n in imported if n.startswith("cctview_agent.service.runner")}


# A module of cctview_fleet/commands/ registers the command it is named for (`-` as `_`), or is a
# shared-flags module that registers none. One module registers a family of two commands that
# share their argument handling: remote.py, `exec` and `ssh` (a shell on one node or on many).
FLAG_MODULES = {"options", "fleetflags", "helpmetavars"}
FAMILIES = {"remote": {"exec", "ssh"}}


def _registered(module_name: str) -> set[str]:
    import typer
    from typer.main import get_command

    module = importlib.import_module(f"cctview_fleet.commands.{module_name}")
    if not hasattr(module, "register"):
        return set()
    app = typer.Typer()
    app.callback()(lambda: None)  # a group even when the module registers one command
    module.register(app)
    return set(get_command(app).commands)  # type: ignore[attr-defined]


def test_a_command_module_is_named_for_its_command() -> None:
    modules = sorted(p.stem for p in (FLEET / "commands").glob("*.py") if p.stem != "__init__")
    found = {name: _registered(name) for name in modules}
    expected = {
        name: set() if name in FLAG_MODULES else FAMILIES.get(name, {name}) for name in modules
    }
    named = {name: {c.replace("-", "_") for c in commands} for name, commands in found.items()}
    assert named == expected


def test_an_agent_command_module_is_named_for_its_subcommand() -> None:
    """The same rule in the agent's half: ``cctview_agent/commands/<subcommand>.py``."""
    modules = sorted(p.stem for p in (AGENT / "commands").glob("*.py") if p.stem != "__init__")
    named = {}
    for name in modules:
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        importlib.import_module(f"cctview_agent.commands.{name}").add_parser(sub)
        named[name] = {c.replace("-", "_") for c in sub.choices}
    assert named == {name: {name} for name in modules}


# The CLI's floors, lowest first: a package (or top-level module) imports only its own modules and
# those of lower floors, so the house reads from the top down and no package needs one above it.
FLOORS = [
    {"__init__", "defaults", "errors", "render"},
    {"results", "cameras", "planning", "cloud"},
    {"remote", "devfleet"},
    {"nodes", "rotation"},
    {"assignment", "rollout"},
    {"dataset"},
    {"commands"},
    {"app"},
    {"demo"},
]


def _part(module: str) -> str:
    """cctview_fleet.cloud.aws -> cloud; cctview_fleet.errors -> errors; the package's own
    __init__ (its version) -> __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] != "__version__" else "__init__"


def test_a_package_imports_only_from_the_floors_below_it() -> None:
    floor = {part: level for level, parts in enumerate(FLOORS) for part in parts}
    upward = set()
    for path in FLEET.rglob("*.py"):
        source = path.relative_to(FLEET).parts[0].removesuffix(".py")
        for name in _imports(path):
            if name.split(".")[0] != "cctview_fleet" or name.endswith(".__version__"):
                continue
            target = _part(name)
            if target in floor and target != source and floor[target] >= floor[source]:
                upward.add(f"{path.relative_to(FLEET)} -> {name}")
    assert sorted(upward) == []
    on_a_floor = {
        p.name.removesuffix(".py")
        for p in FLEET.iterdir()
        if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())
    }
    assert on_a_floor <= set(floor), "a new package or module: give it a floor in FLOORS"
