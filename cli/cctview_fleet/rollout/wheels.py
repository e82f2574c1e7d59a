"""Agent wheels: one reproducible build and one key scheme for the program and the CLI.

``_agent/<sha256>/<filename>``: content-addressed, outside the data prefix (nodes may read it,
never write it), so a new build is a new key and no object is ever replaced. The Pulumi
program (infra/cctview_infra/agentpackage.py) and ``cctview-fleet upgrade`` both use it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cctview_agent.errors import ConfigError

AGENT_KEY_PREFIX = "_agent"
WHEEL_DIR = Path("build") / "agent-wheel"  # under the checkout, beside agent/ (git-ignored)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def wheel_key(sha256: str, filename: str) -> str:
    return f"{AGENT_KEY_PREFIX}/{sha256}/{filename}"


REPRODUCIBLE_EPOCH = "315532800"  # 1980-01-01, the oldest time a zip entry can hold
_SKIP = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", "*.pyc", ".*")


@dataclass(frozen=True, slots=True)
class AgentWheel:
    """A built agent wheel and its digest."""

    path: Path
    sha256: str

    @property
    def filename(self) -> str:
        return self.path.name

    @property
    def key(self) -> str:
        """The S3 key: content-addressed, so a new agent never overwrites an old one."""
        return wheel_key(self.sha256, self.filename)


def source_digest(agent_dir: Path) -> str:
    """A digest of the sources a wheel is built from (the files the build copies)."""
    digest = hashlib.sha256()
    for path in sorted(agent_dir.rglob("*")):
        relative = path.relative_to(agent_dir)
        if not path.is_file() or any(_skipped(part) for part in relative.parts):
            continue
        digest.update(relative.as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _skipped(name: str) -> bool:
    return bool(_SKIP("", [name]))


def build_agent_wheel(agent_dir: Path, out_dir: Path) -> AgentWheel:
    """The wheel of ``agent_dir`` at ``out_dir/<sha256>/<wheel>``, built unless the same
    sources were built there before (``pulumi up`` runs the program twice: preview, update).

    The sources are copied to a scratch folder first, so the build neither writes into the
    checkout nor sees build leftovers or caches that would change the bytes. The result lands in
    a folder named by its digest with an atomic rename, so two programs (or tests) building at
    once never see each other's half-written wheel.
    """
    if not (agent_dir / "pyproject.toml").is_file():
        raise ConfigError(
            f"{agent_dir} has no pyproject.toml; run the program from a cctview-fleet checkout",
            path=agent_dir,
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = source_digest(agent_dir)
    record = out_dir / f"sources-{sources}.json"
    try:
        known = json.loads(record.read_text())
        cached = AgentWheel(
            path=out_dir / known["sha256"] / known["filename"], sha256=known["sha256"]
        )
        if sha256_file(cached.path) == cached.sha256:
            return cached
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not built yet (or a damaged record): build
    env = dict(os.environ, SOURCE_DATE_EPOCH=REPRODUCIBLE_EPOCH, PYTHONHASHSEED="0")
    with tempfile.TemporaryDirectory(prefix="cctview-agent-build-") as scratch:
        source = Path(scratch) / "agent"
        built = Path(scratch) / "wheel"
        shutil.copytree(agent_dir, source, ignore=_SKIP)
        command = [
            sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
            "--wheel-dir", str(built), str(source),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise ConfigError(f"building the agent wheel from {agent_dir} failed: {last}")
        wheels = sorted(built.glob("cctview_agent-*.whl"))
        if len(wheels) != 1:
            raise ConfigError(f"building the agent wheel gave {len(wheels)} wheels, not one")
        digest = sha256_file(wheels[0])
        target = out_dir / digest / wheels[0].name
        if not target.exists():
            target.parent.mkdir(exist_ok=True)
            staged = target.parent / f".{wheels[0].name}.{os.getpid()}.tmp"
            shutil.copyfile(wheels[0], staged)
            os.replace(staged, target)
    staged_record = out_dir / f".{record.name}.{os.getpid()}.tmp"
    staged_record.write_text(json.dumps({"sha256": digest, "filename": target.name}))
    os.replace(staged_record, record)
    return AgentWheel(path=target, sha256=digest)
