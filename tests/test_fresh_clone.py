"""A fresh clone is the whole project: nothing tracked reads or names a folder beside the clone
(the team's notes lived in a sibling folder that a person who clones the repository lacks)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Built from parts so that this file does not match itself.
SIBLING = re.compile("|".join([r"\.\./" + "shared", "shared" + r"/data", "SHARED" + "_DATA"]))


def tracked_files() -> list[Path]:
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout (an sdist): no list of tracked files to check")
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, check=True
    ).stdout
    return [REPO / name for name in listed.decode().split("\0") if name]


def test_nothing_tracked_refers_to_a_folder_beside_the_clone() -> None:
    found = []
    for path in tracked_files():
        if not path.is_file():  # deleted in the work tree, not yet committed
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if SIBLING.search(line):
                found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not found, "refers to a folder a fresh clone does not have:\n" + "\n".join(found)
