"""Every file path README.md and docs/*.md cite exists in the repository (issue 14).

A page that names `cli/cctview_fleet/gone.py` after the module moved sends a reader to nothing;
this holds the docs to the tree. A path counts when it starts at a top folder of the repository
(cli/, agent/, infra/, tests/, bench/) and ends in .py.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
PATH = re.compile(r"(?<![\w/.-])((?:cli|agent|infra|tests|bench)/[\w./-]*?\.py)\b")


def cited_paths(text: str) -> set[str]:
    return set(PATH.findall(text))


def test_the_pattern_finds_paths_in_prose_tables_and_test_ids() -> None:
    text = "see `cli/cctview_fleet/app.py`, tests/cli/test_app.py::test_x and (bench/x_bench.py)"
    assert cited_paths(text) == {
        "cli/cctview_fleet/app.py",
        "tests/cli/test_app.py",
        "bench/x_bench.py",
    }
    assert cited_paths("/work/cli/x.py and mycli/x.py") == set()


def test_every_path_the_docs_cite_exists() -> None:
    missing = {
        f"{page.relative_to(REPO)}: {path}"
        for page in PAGES
        for path in cited_paths(page.read_text())
        if not (REPO / path).is_file()
    }
    assert sorted(missing) == []
