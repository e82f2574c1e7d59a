"""How a node's first boot ended, as its user data recorded it: the state file and the console line.

The user data's ``finish`` (``cctview_infra.userdata.FIRST_BOOT_HELPERS``), however the script
ends, writes ``{"outcome", "exit", "step", "at"}`` to :data:`STATE_FILE` and prints one line,
``cctview-bootstrap: first boot <ok|failed> (exit N) at step: STEP``, to the console. ``status``
reads the file over SSH (a node whose agent never started still answers SSH); ``trust`` reads
the line from the EC2 console output it already fetches for the host-key fingerprints, before
any SSH trust exists.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass

STATE_FILE = "/var/lib/cctview/first-boot.json"
LOG_FILE = "/var/log/cctview-bootstrap.log"
READ_COMMAND = f"cat {shlex.quote(STATE_FILE)} 2>/dev/null || true"  # absent: not a failure
_CONSOLE_LINE = re.compile(
    r"cctview-bootstrap: first boot (ok|failed) \(exit (\d+)\) at step: ([^\r\n]*)"
)


@dataclass(frozen=True, slots=True)
class FirstBoot:
    """One first boot's outcome; ``step`` is where the script was when it ended."""

    outcome: str  # "ok" or "failed"
    exit_status: int
    step: str
    at: str = ""  # UTC, from the state file (the console line has no time)

    @property
    def ok(self) -> bool:
        return self.outcome == "ok" and self.exit_status == 0

    def describe(self) -> str:
        """``ok`` or ``failed (exit 1) at step: 4/5 data volume vol-...``, for a table cell."""
        if self.ok:
            return "ok"
        return f"failed (exit {self.exit_status}) at step: {self.step}"

    def problem(self) -> str:
        """What a failed first boot means for the operator, in one line."""
        return (
            f"first boot {self.describe()}; see {LOG_FILE} on the node, fix the cause and "
            "rerun the step (the user data is in /var/lib/cloud/instance/user-data.txt)"
        )


def parse_state(text: str) -> FirstBoot | None:
    """The state file's content; None when there is none (a node made before it existed, or a
    first boot still running) or when it is not the user data's JSON."""
    try:
        raw = json.loads(text) if text.strip() else None
    except json.JSONDecodeError:
        return None
    if not isinstance(raw, dict) or raw.get("outcome") not in ("ok", "failed"):
        return None
    try:
        exit_status = int(raw.get("exit", 1))
    except (TypeError, ValueError):
        exit_status = 1
    return FirstBoot(str(raw["outcome"]), exit_status, str(raw.get("step", "")),
                     str(raw.get("at", "")))  # fmt: skip


def from_console(output: str) -> FirstBoot | None:
    """The last first-boot line in an instance's console output (None: not printed yet)."""
    found = _CONSOLE_LINE.findall(output)
    if not found:
        return None
    outcome, exit_status, step = found[-1]
    return FirstBoot(outcome, int(exit_status), step.strip())
