"""Stacks: what the CLI needs to know about one fleet, by name.

A stack is what ``pulumi up`` created (or what ``cctview-fleet dev up`` started, the stack named
``local``): the AWS region and endpoint, the bucket and prefix, and how to reach nodes over SSH.
Nodes themselves are never listed here; they are discovered through the EC2 API by the fleet tag
``cctview:fleet=<stack>``. A stack file lives at ``<home>/stacks/<name>.json`` where ``<home>`` is
``$CCTVIEW_HOME`` or ``$XDG_CONFIG_HOME/cctview-fleet``; the stack is chosen by ``--stack`` or
``$CCTVIEW_STACK``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from cctview_agent.atomicfile import write_atomic
from cctview_agent.fleetconstants import FLEET_TAG
from cctview_fleet.errors import ConfigError

STACK_ENV = "CCTVIEW_STACK"
HOME_ENV = "CCTVIEW_HOME"
DEFAULT_STACK = "dev"
LOCAL_STACK = "local"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def cctview_home() -> Path:
    """Root of the operator's state: stacks, the local fleet, caches of known hosts."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "cctview-fleet"


def stack_name(explicit: str | None = None) -> str:
    """The stack chosen by ``--stack``, else ``$CCTVIEW_STACK``, else ``dev``."""
    name = explicit or os.environ.get(STACK_ENV) or DEFAULT_STACK
    if not _NAME.match(name):
        raise ConfigError(
            f"stack name {name!r} is not valid; use letters, digits, '.', '_' or '-', "
            "e.g. --stack dev",
            key="stack",
        )
    return name


@dataclass(frozen=True, slots=True)
class Stack:
    """One fleet as the CLI sees it. Credentials are only stored for the local emulator."""

    name: str
    region: str = "us-east-1"
    bucket: str = ""
    prefix: str = "cctview"
    ssh_user: str = "admin"
    ssh_key: str = ""  # path of the private key
    known_hosts: str = ""  # path of the fleet's known_hosts file
    # How a command over SSH runs the agent: as the agent's own user (the unit's ``User=``) for
    # everything that touches its files, as root for formatting and mounting volumes. The SSH user
    # of a Debian AMI (admin) has password-less sudo; the local fleet needs neither.
    agent_command: str = "sudo -n -u cctview cctview-agent"
    agent_root_command: str = "sudo -n cctview-agent"
    endpoint_url: str | None = None  # AWS_ENDPOINT_URL for an emulator (moto)
    aws_profile: str | None = None
    aws_access_key_id: str | None = None  # emulator only
    aws_secret_access_key: str | None = None  # emulator only
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def fleet_tag(self) -> tuple[str, str]:
        return (FLEET_TAG, self.name)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)


def stack_path(name: str) -> Path:
    return cctview_home() / "stacks" / f"{name}.json"


def save_stack(stack: Stack) -> Path:
    path = stack_path(stack.name)
    write_atomic(path, stack.to_json().encode(), fsync=True)
    return path


def load_stack(explicit: str | None = None) -> Stack:
    """The stack by name; a missing one says how to create it."""
    name = stack_name(explicit)
    path = stack_path(name)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        if name == LOCAL_STACK:
            hint = "start the local fleet with `cctview-fleet dev up`"
        else:
            hint = (
                f"run `pulumi up` and then `cctview-fleet stack import {name}`, "
                "or pass --stack local for the local fleet"
            )
        raise ConfigError(
            f"no stack named {name!r} ({path} not found); {hint}", key="stack"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"stack file {path} is unreadable: {exc}; delete and re-create it"
        ) from exc
    known = {f.name for f in fields(Stack)}
    return Stack(**{k: v for k, v in raw.items() if k in known})


def stack_from_outputs(
    name: str, outputs: dict[str, Any], *, ssh_key: str, known_hosts: str
) -> Stack:
    """A Stack from the Pulumi program's outputs (see infra/__main__.py for their names)."""
    missing = [key for key in ("bucket",) if not outputs.get(key)]
    if missing:
        raise ConfigError(
            f"the stack outputs have no {missing[0]!r}; run `pulumi up` first, then "
            f"`pulumi stack output --json | cctview-fleet stack import {name} --from -`",
            key=missing[0],
        )
    return Stack(
        name=name,
        region=str(outputs.get("region") or "us-east-1"),
        bucket=str(outputs["bucket"]),
        prefix=str(outputs.get("prefix") or "cctview"),
        ssh_user=str(outputs.get("sshUser") or outputs.get("ssh_user") or "admin"),
        ssh_key=ssh_key,
        known_hosts=known_hosts,
    )
