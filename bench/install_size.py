"""How much a node installs: the agent distribution alone, with its S3 extra, and the operator's.

A node is a t2.micro with an 8 GB root disk, so the agent must stay small. This builds fresh
virtual environments side by side (same Python, same pip) and reports what each install adds over
an empty venv. Writes bench/results/install_size.json.

    .venv/bin/python bench/install_size.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tree_bytes(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def venv_with(where: Path, *requirements: str) -> int:
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    if requirements:
        subprocess.run(
            [str(where / "bin" / "pip"), "install", "-q", "--no-cache-dir", *requirements],
            check=True,
            stderr=subprocess.DEVNULL,
        )
    return tree_bytes(where)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = venv_with(Path(tmp) / "empty")
        agent = venv_with(Path(tmp) / "agent", str(REPO / "agent"))
        agent_s3 = venv_with(Path(tmp) / "agent-s3", f"{REPO / 'agent'}[s3]")
        agent_node = venv_with(Path(tmp) / "agent-node", f"{REPO / 'agent'}[s3,fast]")
    mib = 1024 * 1024
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "python": sys.version.split()[0],
        "empty_venv_mib": round(base / mib, 1),
        "agent_added_mib": round((agent - base) / mib, 1),
        "agent_with_s3_added_mib": round((agent_s3 - base) / mib, 1),
        "agent_as_nodes_install_it_added_mib": round((agent_node - base) / mib, 1),  # [s3,fast]
    }
    out = REPO / "bench" / "results" / "install_size.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    for key, value in results.items():
        print(f"{key:28} {value}")


if __name__ == "__main__":
    main()
