"""The CLI root: one-line errors, exit codes, --verbose tracebacks; stacks; per-node results."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cctview_fleet.app import CliGroup
from cctview_fleet.cloud.stacks import Stack, load_stack, save_stack, stack_name
from cctview_fleet.errors import ConfigError, FleetError, NodeError, RemoteCommandError
from cctview_fleet.results import FleetResult, NodeResult


def _app_raising(error: Exception) -> typer.Typer:
    app = typer.Typer(cls=CliGroup, pretty_exceptions_enable=False)

    @app.callback()
    def root(ctx: typer.Context, verbose: bool = typer.Option(False, "--verbose")) -> None:
        ctx.meta["cctview.verbose"] = verbose

    @app.command()
    def boom() -> None:
        raise error

    return app


def test_cctview_error_is_one_line_with_its_exit_code() -> None:
    result = CliRunner().invoke(_app_raising(ConfigError("bad key x; example: x = 1")), ["boom"])
    assert result.exit_code == 2
    assert result.output == "error: bad key x; example: x = 1\n"
    assert "Traceback" not in result.output


def test_verbose_shows_the_traceback() -> None:
    result = CliRunner().invoke(
        _app_raising(FleetError("it broke")), ["--verbose", "boom"], catch_exceptions=False
    )
    assert result.exit_code == 1
    assert "Traceback" in result.output and result.output.endswith("error: it broke\n")


def test_stacks_round_trip_and_missing_stack_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCTVIEW_HOME", str(tmp_path))
    monkeypatch.delenv("CCTVIEW_STACK", raising=False)
    stack = Stack(name="local", bucket="b", endpoint_url="http://127.0.0.1:1", extra={"a": "b"})
    save_stack(stack)
    assert load_stack("local") == stack
    monkeypatch.setenv("CCTVIEW_STACK", "local")
    assert stack_name() == "local"
    with pytest.raises(ConfigError, match=r"no stack named 'prod'.*pulumi up"):
        load_stack("prod")
    with pytest.raises(ConfigError, match="not valid"):
        stack_name("../etc")


def test_fleet_result_keeps_every_node() -> None:
    result: FleetResult[int] = FleetResult(
        [
            NodeResult("node-01", value=3),
            NodeResult("node-02", error=NodeError("node-02", "connection refused")),
            NodeResult("node-03", value=5),
        ]
    )
    assert list(result) == ["node-01", "node-02", "node-03"]
    assert result.succeeded == {"node-01": 3, "node-03": 5}
    assert list(result.failed) == ["node-02"]
    with pytest.raises(FleetError, match="status failed on 1 of 3 nodes: node-02"):
        result.raise_on_failure("status")


def test_remote_command_error_names_command_code_and_last_lines() -> None:
    error = RemoteCommandError("node-01", "cctview-agent sync", 3, "a\nb\nc\nd\n")
    assert str(error) == "node-01: `cctview-agent sync` exited with 3: b | c | d"


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["status", "--stak", "x"],
         "error: No such option: --stak (Possible options: --stack) "
         "(see cctview-fleet status --help)"),
        (["upgrade", "--max-unavailable", "x"],
         "error: Invalid value for '--max-unavailable': Input should be a valid integer, unable to "
         "parse string as an integer (see cctview-fleet upgrade --help)"),
        (["nosuch"], "error: No such command 'nosuch'. (see cctview-fleet --help)"),
    ],
)  # fmt: skip
def test_a_usage_error_is_one_line_from_the_installed_command(argv: list[str], line: str) -> None:
    """What the operator meets: the console script, not typer's framed panel."""
    import subprocess
    import sys

    script = Path(sys.executable).parent / "cctview-fleet"
    done = subprocess.run([script, *argv], capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", line + "\n")


def test_a_bare_group_still_shows_its_help() -> None:
    from cctview_fleet.app import app

    result = CliRunner().invoke(app, ["dataset"])
    assert result.exit_code == 2
    assert "Usage: cctview-fleet dataset" in result.output and "error:" not in result.output
