"""Tables as a new user finds them in a pipe, a CI log or a narrow terminal: values are never
split mid-word, ``COLUMNS`` is honoured, prose columns wrap at spaces (cctview_fleet.render)."""

# ruff: noqa: E501  (the expected tables are exact text, one line of output per line)

from __future__ import annotations

import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cctview_fleet.app import app
from cctview_fleet.cloud.stacks import Stack, save_stack
from cctview_fleet.render import OutputConsole, table

BUCKET = "cctview-frames-" + "0123456789abcdef" * 3  # 63 characters, S3's longest name
STACK_LIST = [
    "                                                               stacks",
    "┏━━━━━━━━━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓",
    "┃ name           ┃ region    ┃ bucket                                                          ┃ endpoint                           ┃",
    "┡━━━━━━━━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┩",
    f"│ nyc-production │ us-east-1 │ {BUCKET} │ https://s3.us-east-1.amazonaws.com │",
    "└────────────────┴───────────┴─────────────────────────────────────────────────────────────────┴────────────────────────────────────┘",
]  # fmt: skip


@pytest.fixture
def one_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCTVIEW_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("COLUMNS", raising=False)
    endpoint = "https://s3.us-east-1.amazonaws.com"
    save_stack(Stack(name="nyc-production", bucket=BUCKET, endpoint_url=endpoint))


def lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("columns", [None, "80"])
def test_a_table_in_a_pipe_never_splits_a_value(one_stack: None, columns: str | None) -> None:
    # Not a terminal: no 80-column default; and a COLUMNS too narrow for the values widens the
    # table rather than folding the bucket name or cutting it to "…".
    env = {"COLUMNS": columns} if columns else {}
    result = CliRunner().invoke(app, ["stack", "list"], env=env)
    assert result.exit_code == 0, result.output
    assert lines(result.stdout) == STACK_LIST


def test_columns_is_honoured_and_prose_wraps_at_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    out = io.StringIO()
    console = OutputConsole(file=out, color_system=None)
    reason = "0 of 78 cameras reachable: connect refused to 127.0.0.1:33753"
    console.print(table(None, ["node", "state", "reason"], [("node-01", "failing", reason)],
                        wrap=("reason",)))  # fmt: skip
    assert lines(out.getvalue()) == [
        "┏━━━━━━━━━┳━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓",
        "┃ node    ┃ state   ┃ reason                               ┃",
        "┡━━━━━━━━━╇━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┩",
        "│ node-01 │ failing │ 0 of 78 cameras reachable: connect   │",
        "│         │         │ refused to 127.0.0.1:33753           │",
        "└─────────┴─────────┴──────────────────────────────────────┘",
    ]
    assert console.width == 60
