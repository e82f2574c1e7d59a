"""Output helpers shared by the commands: JSON for scripts, rich tables for people.

Table cells are text, never rich markup: camera names come from the catalog, node names from EC2
tags, errors and versions from the nodes, and a ``[/]`` in any of them would crash the table (or
restyle it). A caller that wants colour passes a :class:`rich.text.Text` (see :func:`styled`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

console = Console()
err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout, nothing else mixed in."""
    sys.stdout.write(json.dumps(data, indent=1, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def table(
    title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, caption: str = ""
) -> Table:
    """A plain rich table; numeric-looking columns are right-aligned by the caller's order."""
    result = Table(title=title, caption=caption or None, show_lines=False)
    for column in columns:
        result.add_column(column, overflow="fold")
    for row in rows:
        result.add_row(*(_cell(cell) for cell in row))
    return result


def _cell(cell: Any) -> Text:
    if isinstance(cell, Text):
        return cell
    return Text("" if cell is None else str(cell))


def styled(markup: str, *values: Any) -> Text:
    """Markup written here, with ``values`` (untrusted text) filled in literally:
    ``styled("[red]{}[/]: {}", kind, reason)``."""
    return Text.from_markup(markup.format(*(escape(str(value)) for value in values)))
