"""Where agent wheels live in the fleet's bucket: one key scheme for the program and the CLI.

``_agent/<sha256>/<filename>``: content-addressed, outside the data prefix (nodes may read it,
never write it), so a new build is a new key and no object is ever replaced. The Pulumi
program (infra/cctview_infra/agentpackage.py) and ``cctview-fleet upgrade`` both use it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

AGENT_KEY_PREFIX = "_agent"
# On instances, by `cctview-fleet upgrade`: its progress (<sha16>:<step>), and the wheel a node
# runs once upgraded. The operator policy allows exactly these two tag keys on instances.
UPGRADE_TAG = "cctview:upgrade"
AGENT_TAG = "cctview:agent-sha256"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def wheel_key(sha256: str, filename: str) -> str:
    return f"{AGENT_KEY_PREFIX}/{sha256}/{filename}"
