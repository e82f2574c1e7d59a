"""cctview_agent.fleetconstants: the one place for tag keys and shared figures, dependency-free."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from cctview_agent import fleetconstants

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("agent/cctview_agent", "cli/cctview_fleet", "cli/cctview_camsim", "infra")


def tag_keys() -> dict[str, str]:
    return {
        name: value
        for name, value in vars(fleetconstants).items()
        if name.endswith("_TAG") and isinstance(value, str)
    }


def test_it_imports_only_the_standard_library() -> None:
    script = (
        "import sys; before = set(sys.modules)\n"
        "import cctview_agent.fleetconstants\n"
        "import json; print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = {m.split(".")[0] for m in json.loads(done.stdout)}
    foreign = sorted(loaded - set(sys.stdlib_module_names) - {"cctview_agent"})
    assert foreign == [], f"fleetconstants pulls in {foreign}"


def test_tag_keys_are_distinct_cctview_keys() -> None:
    keys = tag_keys()
    assert len(set(keys.values())) == len(keys), keys
    for name, value in keys.items():
        assert re.fullmatch(r"cctview:[a-z0-9-]+", value), name


def test_no_module_spells_out_a_tag_key() -> None:
    """Every tag key is written once, in fleetconstants; a spelled-out copy could drift."""
    quoted = re.compile("|".join(re.escape(f'"{v}"') for v in tag_keys().values()))
    spelled = [
        f"{path.relative_to(REPO)}:{number}"
        for folder in SOURCES
        for path in sorted((REPO / folder).rglob("*.py"))
        if path.name != "fleetconstants.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if quoted.search(line)
    ]
    assert spelled == [], f"import the key from cctview_agent.fleetconstants: {spelled}"
