"""requirements/operator.lock, which `make setup` installs hash-checked, covers pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
LOCAL = {"cctview-agent", "cctview-fleet"}


def pins() -> dict[str, str]:
    text = (REPO / "requirements" / "operator.lock").read_text()
    return {
        canonicalize_name(m[1]): m[2]
        for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==(\S+)", text, re.M)
    }


def declared() -> list[Requirement]:
    root = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    agent = tomllib.loads((REPO / "agent" / "pyproject.toml").read_text())["project"]
    texts = root["dependencies"] + root["optional-dependencies"]["dev"] + agent["dependencies"]
    texts += agent["optional-dependencies"]["s3"] + agent["optional-dependencies"]["fast"]
    return [Requirement(t) for t in texts]


def test_every_dependency_is_pinned_within_its_range() -> None:
    locked = pins()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        if name in LOCAL:
            continue
        assert name in locked, f"{name} is not in operator.lock: run `make lock`"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"operator.lock pins {name}=={locked[name]}, outside {requirement}: run `make lock`"
        )


def test_every_pin_has_hashes_and_pulumi_aws_is_v7() -> None:
    text = (REPO / "requirements" / "operator.lock").read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9_.\-]+==)", text)
    for block in blocks[1:]:
        assert "--hash=sha256:" in block, block.splitlines()[0]
    assert pins()["pulumi-aws"].startswith("7.")
    assert "-e " not in "".join(line for line in text.splitlines() if not line.startswith("#"))
