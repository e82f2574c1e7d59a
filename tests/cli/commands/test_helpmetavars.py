"""`--help` as a new user reads it: metavars (NODE..., N, PATH, INTEGER), never the Python types
typer prints by default (`<bool>` beside a flag, `<list[str]>` beside NODE)."""

# ruff: noqa: E501  (the expected help is exact text, one line of output per line)

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cctview_fleet.app import app

PYTHON_TYPE = re.compile(r"<(bool|str|int|float|path|list\[[^]]*\]|[a-z]+ range)>")


def all_command_paths() -> list[list[str]]:
    """Every command and group of the CLI, as the words that reach it."""
    paths: list[list[str]] = [[]]

    def walk(command: Any, words: list[str]) -> None:
        for name, sub in getattr(command, "commands", {}).items():  # a group's subcommands
            paths.append([*words, name])
            walk(sub, [*words, name])

    walk(typer.main.get_command(app), [])
    return paths


@pytest.mark.parametrize("words", all_command_paths(), ids=lambda w: " ".join(w) or "root")
def test_no_help_shows_a_python_type(words: list[str]) -> None:
    result = CliRunner().invoke(app, [*words, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert not PYTHON_TYPE.findall(result.stdout), result.stdout


def test_status_help_exact_text() -> None:
    result = CliRunner().invoke(app, ["status", "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0
    assert [line.rstrip() for line in result.stdout.splitlines()] == [
        "",
        " Usage: cctview-fleet status [OPTIONS] [NODE]...",
        "",
        " Per node: instance state, agent, cameras online, frames/min, disk, last sync; totals.",
        "",
        " Exits 1 when a node did not answer, or its agent is down or not collecting (the reason is in",
        " the agent column and in --json's \"problem\").",
        "",
        "╭─ Arguments ──────────────────────────────────────────────────────────────────────────────────────╮",
        "│   NODE        Nodes by name (default: all).                                                      │",
        "╰──────────────────────────────────────────────────────────────────────────────────────────────────╯",
        "╭─ Options ────────────────────────────────────────────────────────────────────────────────────────╮",
        "│ --json            Print JSON instead of a table.                                                 │",
        "│ --help  -h        Show this message and exit.                                                    │",
        "╰──────────────────────────────────────────────────────────────────────────────────────────────────╯",
        "╭─ Fleet ──────────────────────────────────────────────────────────────────────────────────────────╮",
        "│ --stack                  NAME     The fleet (default: $CCTVIEW_STACK, else dev); `local` is `dev │",
        "│                                   up`'s fleet.                                                   │",
        "│ --parallel               N        Work on at most N nodes at once. [default: 16]                 │",
        "│ --connect-timeout        SECONDS  Give up on a node that does not answer SSH within this time.   │",
        "│                                   [default: 5.0]                                                 │",
        "╰──────────────────────────────────────────────────────────────────────────────────────────────────╯",
        "",
    ]  # fmt: skip
