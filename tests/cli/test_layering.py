"""The layering rules of docs/architecture.md that moves of logic must keep (issue 14).

Read from the source (imports at any depth, type-checking ones included), so a lazy import in a
function body counts as much as one at the top.
"""

from __future__ import annotations

import ast
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
    imported = _imports(AGENT / "poller.py") | _imports(AGENT / "pollerhost.py")
    assert not {n for n in imported if n.startswith("cctview_agent.runner")}
