"""Fixtures of the infra tests only (the shared families live in tests/fixtures/)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cctview_infra.agentpackage import AgentWheel, build_agent_wheel
from cctview_infra.userdata import shipped_systemd_unit
from tests.infra.mocks import REPO


@pytest.fixture(scope="session")
def agent_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout's agent/, so edits made while the tests run change nothing."""
    ignore = shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    return shutil.copytree(REPO / "agent", tmp_path_factory.mktemp("snapshot") / "agent",
                           ignore=ignore)  # fmt: skip


@pytest.fixture(scope="session")
def agent_wheel(agent_snapshot: Path, tmp_path_factory: pytest.TempPathFactory) -> AgentWheel:
    """The checkout's agent, built once per test session (a few seconds)."""
    return build_agent_wheel(agent_snapshot, tmp_path_factory.mktemp("agent-wheel"))


@pytest.fixture(scope="session")
def agent_unit() -> str:
    """The systemd unit the agent package ships (what the user data installs)."""
    return shipped_systemd_unit(REPO / "agent")


def pytest_configure(config: pytest.Config) -> None:
    # pulumi-aws warns about its own deprecated aliases (BucketV2, ...) when it is imported;
    # the program uses none of them, so the noise would only hide warnings that matter.
    config.addinivalue_line("filterwarnings", r"ignore::DeprecationWarning:pulumi_aws(\..*)?")
