"""infra/__main__.py as Pulumi runs it (config from Pulumi.dev.yaml), under the mocks."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import yaml
from pulumi import RunError

from cctview_infra.settings import EXAMPLES
from tests.infra.mocks import (
    ATTACHMENT,
    BUCKET,
    INSTANCE,
    REPO,
    ROLE,
    SG,
    VOLUME,
    dev_stack_config,
    mocked_pulumi,
    run_main_program,
)


def test_project_file_runs_infra_with_the_projects_venv() -> None:
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    assert project["name"] == "cctview-fleet"
    assert project["main"] == "infra/"
    assert project["runtime"] == {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": ".venv"},
    }
    assert project["options"] == {"refresh": "always"}  # see docs/infra.md, volume ownership


def test_every_setting_is_documented_in_the_dev_stack_file() -> None:
    text = (REPO / "Pulumi.dev.yaml").read_text()
    for key in EXAMPLES:
        assert f"cctview-fleet:{key}:" in text, f"{key} is not in Pulumi.dev.yaml"
    assert "aws:region:" in text


@pytest.mark.parametrize("preview", [False, True], ids=["up", "preview"])
def test_dev_stack_declares_the_documented_fleet(preview: bool) -> None:
    with mocked_pulumi(dev_stack_config(), preview=preview) as mocks:
        run_main_program()
    counts = Counter(r.type for r in mocks.registered)
    assert (counts[INSTANCE], counts[VOLUME], counts[ATTACHMENT]) == (12, 12, 12)
    assert (counts[BUCKET], counts[ROLE], counts[SG]) == (1, 1, 1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"cctview-fleet:sshAllowedCidrs": None},
            "config cctview-fleet:sshAllowedCidrs is required (there is no default that opens "
            "SSH to the world); e.g. pulumi config set --path "
            "'sshAllowedCidrs[0]' 203.0.113.7/32",
        ),
        (
            {"cctview-fleet:nodeCount": "lots"},
            "config cctview-fleet:nodeCount must be a whole number, not 'lots'; e.g. pulumi "
            "config set nodeCount 12",
        ),
        (
            {"cctview-fleet:sshAllowedCidrs": json.dumps(["0.0.0.0/0"])},
            "config cctview-fleet:sshAllowedCidrs has '0.0.0.0/0', which opens SSH to the whole "
            "internet",
        ),
        ({"aws:region": None}, "config aws:region is required"),
        ({"cctview-fleet:nodeCuont": "3"}, "config cctview-fleet:nodeCuont is not a setting"),
        (
            {"cctview-fleet:policyEnforcement": json.dumps({"t2-famly": "advisory"})},
            "config cctview-fleet:policyEnforcement names no policy 't2-famly'; policies: "
            "t2-family, imdsv2-required,",
        ),
    ],
)
def test_config_errors_stop_the_program_with_one_clean_line(
    change: dict[str, str | None], message: str
) -> None:
    config = {**dev_stack_config(), **change}
    config = {k: v for k, v in config.items() if v is not None}
    with mocked_pulumi(config) as mocks, pytest.raises(RunError) as caught:
        run_main_program()
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, RunError)  # Pulumi prints a RunError without a traceback
    assert mocks.registered == []  # nothing was declared
