"""The node side of an agent upgrade: stage a release beside the current one, switch, roll back.

A node's agent is what ``/usr/local/bin/cctview-agent`` points at (the systemd unit's
``ExecStart``); the first boot links it into ``/opt/cctview/venv``. An upgrade never touches
that install. It builds a new one beside it and moves the link:

    /opt/cctview/releases/<sha256[:16]>/      a venv with exactly that wheel (digest checked)
    /opt/cctview/releases/<...>/.complete     written last: a half-built release is rebuilt
    /var/lib/cctview/agent-previous           where the link pointed before the last switch

``stage`` downloads the wheel from the fleet's bucket with the node's own role (boto3 over
IMDSv2, as the first boot does), refuses it unless its sha256 matches, and installs it in its
release folder; ``switch`` records the current target, replaces the link atomically (a new link
renamed over the old) and restarts the agent; ``rollback`` puts the recorded target back and
restarts. Each is one bash script, safe to run again: a killed CLI resumes by repeating the step.

The paths and the restart command are parameters, so the tests run the same script against a
folder, a moto bucket and a restart command of their own (docs/operations.md says what that
cannot show: systemd's restart and the frames lost in it).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Protocol

from cctview_agent.fleetconstants import NODE_LOCK_MEMBER
from cctview_fleet.cloud.inventory import Node
from cctview_fleet.errors import ConfigError
from cctview_fleet.remote.ssh import Connections

RELEASE_DIGITS = 16


@dataclass(frozen=True, slots=True)
class ReleaseLayout:
    """Where a node keeps releases and how it restarts its agent."""

    root: str = "/opt/cctview/releases"
    link: str = "/usr/local/bin/cctview-agent"
    previous_file: str = "/var/lib/cctview/agent-previous"
    restart: str = "systemctl restart cctview-agent"
    python: str = "python3"
    pip_install: str = "install -q"  # tests add --no-index for an offline install


@dataclass(frozen=True, slots=True)
class Release:
    """A published agent wheel: where it is and what its bytes hash to."""

    bucket: str
    key: str
    sha256: str
    region: str

    @property
    def folder_name(self) -> str:
        return self.sha256[:RELEASE_DIGITS]


_STAGE = r"""
REL="$ROOT/$NAME"
if [ ! -e "$REL/.complete" ]; then
  rm -rf "$REL"
  mkdir -p "$ROOT"
  "$PYTHON" -m venv "$REL"
  # The download needs boto3 before the new venv has anything: the running agent's python has
  # it (its node.lock pins it), else the layout's python must
  FETCH="$(dirname "$(readlink -f "$LINK")")/python"
  "$FETCH" -c 'import boto3' 2>/dev/null || FETCH="$PYTHON"
  WHEEL="$REL/$(basename "$KEY")"
  "$FETCH" - "$REGION" "$BUCKET" "$KEY" "$WHEEL" <<'CCTVIEW_PY'
import sys
try:
    import boto3  # the node role's credentials (IMDSv2), or the environment's
except ImportError:
    sys.exit("cctview-release: no python with boto3 to download the wheel (neither the running "
             "agent's nor the layout's); reinstall the node's agent")
region, bucket, key, dest = sys.argv[1:5]
boto3.client("s3", region_name=region).download_file(bucket, key, dest)
CCTVIEW_PY
  if ! echo "$SHA256  $WHEEL" | sha256sum --check --strict --status -; then
    echo "cctview-release: $KEY does not hash to $SHA256; not installed" >&2
    rm -rf "$REL"
    exit 3
  fi
  # Every dependency from the wheel's own hashed lock (the digest just checked covers it), then
  # the wheel alone: no version range is resolved on the node, as at first boot
  "$REL/bin/python" -c 'import sys, zipfile
sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
    "$WHEEL" "$LOCK_MEMBER" > "$REL/node.lock"
  "$REL/bin/pip" $PIP_INSTALL --require-hashes -r "$REL/node.lock"
  "$REL/bin/pip" $PIP_INSTALL --no-deps "$WHEEL"
  rm -f "$WHEEL"
  touch "$REL/.complete"
fi
"$REL/bin/cctview-agent" --version
"""

_SWITCH = r"""
REL="$ROOT/$NAME"
[ -e "$REL/.complete" ] || { echo "cctview-release: $REL is not staged" >&2; exit 3; }
TARGET="$REL/bin/cctview-agent"
CURRENT="$(readlink "$LINK" || true)"
if [ "$CURRENT" != "$TARGET" ]; then
  mkdir -p "$(dirname "$PREVIOUS_FILE")"
  printf '%s\n' "$CURRENT" > "$PREVIOUS_FILE.tmp" && mv -f "$PREVIOUS_FILE.tmp" "$PREVIOUS_FILE"
  ln -sfn "$TARGET" "$LINK.new" && mv -fT "$LINK.new" "$LINK"
fi
$RESTART
"""

_ROLLBACK = r"""
[ -s "$PREVIOUS_FILE" ] || { echo "cctview-release: nothing recorded to roll back to" >&2; exit 3; }
BACK="$(cat "$PREVIOUS_FILE")"
ln -sfn "$BACK" "$LINK.new" && mv -fT "$LINK.new" "$LINK"
$RESTART
echo "$BACK"
"""

_CURRENT = r"""
readlink "$LINK" || true
"""

STEPS = {"stage": _STAGE, "switch": _SWITCH, "rollback": _ROLLBACK, "current": _CURRENT}


def script(step: str, layout: ReleaseLayout, release: Release | None = None) -> str:
    """The bash script of ``step`` ("stage", "switch", "rollback", "current")."""
    q = shlex.quote
    values = {
        "ROOT": layout.root,
        "LINK": layout.link,
        "PREVIOUS_FILE": layout.previous_file,
        "PYTHON": layout.python,
        "PIP_INSTALL": layout.pip_install,
        "LOCK_MEMBER": NODE_LOCK_MEMBER,
    }
    if release is not None:
        values |= {"NAME": release.folder_name, "BUCKET": release.bucket, "KEY": release.key,
                   "SHA256": release.sha256, "REGION": release.region}  # fmt: skip
    header = "\n".join(f"{name}={q(value)}" for name, value in values.items())
    # RESTART is a command line of the layout's own, run as written
    return f"set -euo pipefail\n{header}\nRESTART={q(layout.restart)}\n" + STEPS[step].replace(
        "$RESTART\n", 'bash -c "$RESTART"\n'
    )


def layout_for(extra: dict[str, str]) -> ReleaseLayout:
    """The production layout, with a stack's ``release_*`` extras (a test fleet's) applied."""
    names = {"root", "link", "previous_file", "restart", "python", "pip_install"}
    given = {k.removeprefix("release_"): v for k, v in extra.items() if k.startswith("release_")}
    unknown = sorted(set(given) - names)
    if unknown:
        raise ConfigError(f"stack setting release_{unknown[0]} is unknown; known: "
                          f"{', '.join('release_' + n for n in sorted(names))}")  # fmt: skip
    return ReleaseLayout(**given)


class ScriptRunner(Protocol):
    """Runs a bash script as root on a node and returns its standard output."""

    def __call__(self, node: Node, text: str) -> str: ...


@dataclass(frozen=True)
class ScriptReleases:
    """:class:`cctview_fleet.rollout.upgrade.NodeReleases` by running this module's scripts."""

    layout: ReleaseLayout
    run: ScriptRunner

    def stage(self, node: Node, release: Release) -> str:
        return self.run(node, script("stage", self.layout, release))

    def switch(self, node: Node, release: Release) -> None:
        self.run(node, script("switch", self.layout, release))

    def rollback(self, node: Node) -> str:
        return self.run(node, script("rollback", self.layout))

    def current(self, node: Node) -> str:
        return self.run(node, script("current", self.layout))


def ssh_runner(connections: Connections, root_command: str) -> ScriptRunner:
    """Scripts over the CLI's SSH connection, as root when the stack's agent runs with sudo."""
    shell = "sudo -n bash -s" if root_command.startswith("sudo") else "bash -s"

    def run(node: Node, text: str) -> str:
        return connections.get(node).check(shell, stdin=text).stdout

    return run
