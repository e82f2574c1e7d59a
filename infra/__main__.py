"""The cctview-fleet Pulumi program: read the config, then declare the fleet.

This is the only module that reads ``pulumi.Config``. A missing or bad setting stops the program
with one line naming the key and an example: the :class:`ConfigError` becomes a
``pulumi.RunError``, which Pulumi prints without a traceback. Everything else lives in
``cctview_infra`` (program.py declares the fleet and returns the outputs exported here).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from cctview_agent.errors import CctviewError
from cctview_fleet.planning.costs import load_prices
from cctview_fleet.rollout.wheels import WHEEL_DIR as AGENT_WHEEL_DIR
from cctview_infra.disruption import ROLL_ENV
from cctview_infra.program import declare_fleet
from cctview_infra.settings import PROJECT, FleetSettings, settings_from_mapping

REPO = Path(__file__).resolve().parent.parent
AGENT_DIR = REPO / "agent"
WHEEL_DIR = REPO / AGENT_WHEEL_DIR  # build/ is git-ignored; `upgrade` builds there too


def project_config() -> dict[str, Any]:
    """Every ``cctview-fleet:`` key that is set, without the namespace (typos included, so the
    settings can refuse them)."""
    keys = set(runtime_config.get_config_env()) | set(runtime_config.CONFIG.get())
    prefix = f"{PROJECT}:"
    return {
        key[len(prefix) :]: runtime_config.get_config(key)
        for key in sorted(keys)
        if key.startswith(prefix)
    }


def read_settings() -> FleetSettings:
    return settings_from_mapping(
        project_config(), stack=pulumi.get_stack(), region=pulumi.Config("aws").get("region")
    )


try:
    outputs = declare_fleet(
        read_settings(),
        agent_dir=AGENT_DIR,
        wheel_dir=WHEEL_DIR,
        prices=load_prices(),
        rolling=bool(os.environ.get(ROLL_ENV)),
    )
except CctviewError as error:
    raise pulumi.RunError(str(error)) from None
for name, value in outputs.items():
    pulumi.export(name, value)
