"""`cctview-fleet stack import|show|list` with exact messages and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cctview_fleet.app import app
from cctview_fleet.cloud.stacks import load_stack


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CCTVIEW_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CCTVIEW_STACK", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "no-pulumi-here"))
    return tmp_path


def test_import_from_outputs_file_then_show(home: Path) -> None:
    key = home / "id_ed25519"
    key.write_text("key")
    outputs = home / "outputs.json"
    outputs.write_text(
        json.dumps(
            {"bucket": "my-bucket", "prefix": "nyc", "sshUser": "admin", "region": "us-east-2"}
        )
    )
    runner = CliRunner()
    result = runner.invoke(
        app, ["stack", "import", "dev", "--from", str(outputs), "--ssh-key", str(key)]
    )
    assert result.exit_code == 0, result.output
    stack = load_stack("dev")
    assert (stack.bucket, stack.prefix, stack.region, stack.ssh_key) == (
        "my-bucket",
        "nyc",
        "us-east-2",
        str(key),
    )
    shown = runner.invoke(app, ["stack", "show", "dev", "--json"])
    assert json.loads(shown.output)["bucket"] == "my-bucket"
    listed = runner.invoke(app, ["stack", "list", "--json"])
    assert json.loads(listed.output) == [
        {"name": "dev", "region": "us-east-2", "bucket": "my-bucket"}
    ]


def test_import_without_pulumi_cli_says_what_to_do(home: Path) -> None:
    result = CliRunner().invoke(app, ["stack", "import", "dev"])
    assert result.exit_code == 2
    assert result.output == (
        "error: the Pulumi CLI is not on PATH; run `pulumi stack output --json > outputs.json` "
        "where it is, then `cctview-fleet stack import dev --from outputs.json`\n"
    )


def test_import_rejects_outputs_without_bucket(home: Path) -> None:
    result = CliRunner().invoke(app, ["stack", "import", "dev", "--from", "-"], input="{}")
    assert result.exit_code == 2
    assert result.output.startswith("error: the stack outputs have no 'bucket'; run `pulumi up`")


def test_show_unknown_stack(home: Path) -> None:
    result = CliRunner().invoke(app, ["stack", "show", "prod"])
    assert result.exit_code == 2
    assert "error: no stack named 'prod'" in result.output and "Traceback" not in result.output
