"""The Pulumi CLI as ``roll`` drives it: the stack's resources, and targeted ``up``s.

Only ``roll`` runs Pulumi itself (``stack import`` reads outputs through it too). The executable
is ``--pulumi PATH``, else ``$CCTVIEW_PULUMI``, else ``pulumi`` on PATH; the tests put a stand-in
there that records its calls. Every failure is a :class:`PulumiError` naming the command and its
last line of output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cctview_agent.fleetconstants import NODE_TAG
from cctview_fleet.errors import PulumiError

PULUMI_ENV = "CCTVIEW_PULUMI"
INSTANCE_TYPE = "aws:ec2/instance:Instance"
ATTACHMENT_TYPE = "aws:ec2/volumeAttachment:VolumeAttachment"
STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass(frozen=True, slots=True)
class StateResource:
    """One resource of the stack's state: its URN, type token, and node (instances only)."""

    urn: str
    type: str
    node: str | None = None


def find_pulumi(explicit: str | None = None) -> str:
    path = explicit or os.environ.get(PULUMI_ENV) or shutil.which("pulumi")
    if not path or not Path(path).exists():
        raise PulumiError(
            "pulumi",
            "is not installed or not on PATH; install the Pulumi CLI "
            "(https://www.pulumi.com/docs/install/) or name it with --pulumi PATH",
        )
    return path


@dataclass(frozen=True, slots=True)
class Pulumi:
    """One stack of the Pulumi project in ``cwd`` (the repository root, where Pulumi.yaml is)."""

    executable: str
    stack: str
    cwd: Path | None = None

    def run(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        words = [*args, "--stack", self.stack]
        shown = " ".join(["pulumi", *words])
        try:
            done = subprocess.run(
                [self.executable, *words],
                cwd=self.cwd,
                env={**os.environ, **(env or {})},
                capture_output=True,
                text=True,
                check=False,
            )
        except OSError as exc:
            raise PulumiError(shown, f"could not start: {exc.strerror or exc}") from exc
        if done.returncode != 0:
            lines = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()
            raise PulumiError(shown, f"exited with {done.returncode}: {lines[-1]}")
        return done.stdout

    def resources(self) -> list[StateResource]:
        """The stack's resources from ``pulumi stack export`` (instances with their node)."""
        text = self.run("stack", "export")
        try:
            deployment = json.loads(text)["deployment"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise PulumiError(
                f"pulumi stack export --stack {self.stack}", f"printed no deployment ({exc})"
            ) from exc
        return [_resource(raw) for raw in deployment.get("resources") or []]

    def up(self, targets: Iterable[str] = (), *, env: Mapping[str, str] | None = None) -> None:
        """``pulumi up --yes`` (skipping the interactive preview), limited to ``targets`` and what
        depends on them when any are given."""
        words = ["up", "--yes", "--skip-preview"]
        targets = list(targets)
        for urn in targets:
            words += ["--target", urn]
        if targets:
            words.append("--target-dependents")
        self.run(*words, env=env)


def _resource(raw: Any) -> StateResource:
    outputs = raw.get("outputs") or {}
    tags = outputs.get("tags") or (raw.get("inputs") or {}).get("tags") or {}
    node = tags.get(NODE_TAG) if raw.get("type") == INSTANCE_TYPE else None
    return StateResource(str(raw.get("urn", "")), str(raw.get("type", "")), node)
