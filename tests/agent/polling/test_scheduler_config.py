"""The agent's polling settings in ``cctview-agent run --config FILE`` (issue 10)."""

from __future__ import annotations

import pytest

from cctview_agent.config import AgentConfig, Polling, config_from_mapping
from cctview_agent.errors import ConfigError
from cctview_agent.service.runner import user_agent


def test_defaults_fit_the_real_service() -> None:
    config = AgentConfig()
    assert config.polling is Polling.ADAPTIVE
    assert config.max_requests_per_s == 50.0
    assert config.offline_poll_interval == 10.0
    assert config.frozen_after == 60.0
    assert config.contact == ""


def test_settings_are_read_and_written_back() -> None:
    raw = {
        "polling": "grid",
        "max_requests_per_s": 120,
        "offline_poll_interval": 5,
        "learn_step": 0.2,
        "relearn_after": 1800,
        "contact": "ops@example.org",
    }
    config = config_from_mapping(raw)
    assert config.polling is Polling.GRID and config.max_requests_per_s == 120.0
    assert (config.offline_poll_interval, config.learn_step, config.relearn_after) == (
        5.0,
        0.2,
        1800.0,
    )
    import tomllib

    again = config_from_mapping(tomllib.loads(config.to_toml()))
    assert again == config


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"polling": "eager"}, "polling must be one of adaptive, grid, not 'eager'"),
        ({"max_requests_per_s": 0}, "max_requests_per_s must be greater than 0"),
        ({"max_requests_per_s": 0.5}, "max_requests_per_s must be at least 1 request a second"),
        ({"offline_poll_interval": -1}, "offline_poll_interval must be greater than 0"),
        ({"contact": "a\nb"}, "contact must be one line without parentheses"),
    ],
)
def test_bad_values_are_one_line_naming_the_key(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_mapping(raw)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value) and "example:" in str(caught.value)


def test_user_agent_names_the_project_and_the_contact() -> None:
    assert user_agent(AgentConfig(contact="ops@example.org")).endswith(
        "(cctview-fleet traffic-camera collector; contact: ops@example.org)"
    )
    assert user_agent(AgentConfig()).endswith("(cctview-fleet traffic-camera collector)")
