"""Output helpers shared by the commands: JSON for scripts, rich tables for people.

Width: a terminal's own width; else ``$COLUMNS`` (read at each print, so a test's or a script's
setting counts); else, writing to a pipe or a file, no width limit at all. rich's own default
for a pipe is 80 columns, which folded ids, states and paths mid-word in ``status | less`` or
a CI log. Tables keep every column on one line (``no_wrap``) except the ones the caller names as
prose (``wrap``), which wrap at spaces when a narrow ``COLUMNS`` forces it. A table that cannot
fit even then is printed as wide as its values need, beyond the width: rich would otherwise cut
ids to "…" or fold them, and an id that cannot be copied whole is worse than a long line.

Table cells are text, never rich markup: camera names come from the catalog, node names from EC2
tags, errors and versions from the nodes, and a ``[/]`` in any of them would crash the table (or
restyle it). A caller that wants colour passes a :class:`rich.text.Text` (see :func:`styled`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

# "No limit" for a pipe: rich needs a number; tables and lines still take only what they need.
PIPE_WIDTH = 1000


class OutputConsole(Console):
    """A rich Console whose width follows the terminal, else ``$COLUMNS``, else no limit; a
    table is never printed narrower than its unsplit values need (:func:`unsplit_width`)."""

    _at_least = 0

    @property
    def size(self) -> ConsoleDimensions:
        base = Console.size.fget(self)  # type: ignore[attr-defined]
        columns = os.environ.get("COLUMNS", "").strip()
        if columns.isdigit() and int(columns) > 0:
            width = int(columns)
        elif self.is_terminal:
            width = base.width
        else:
            width = PIPE_WIDTH
        return ConsoleDimensions(max(width, self._at_least), base.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]

    def print(self, *objects: Any, **kwargs: Any) -> None:
        tables = [item for item in objects if isinstance(item, Table)]
        needed = max((unsplit_width(self, item) for item in tables), default=0)
        if needed <= self.width:
            super().print(*objects, **kwargs)
            return
        self._at_least = needed
        try:
            super().print(*objects, **kwargs)
        finally:
            self._at_least = 0


def unsplit_width(console: Console, table: Table) -> int:
    """The narrowest width at which ``table`` shows every no-wrap cell whole (prose columns at
    their longest word): what rich needs to cut nothing."""
    options = console.options.update_width(PIPE_WIDTH)
    _top, pad_right, _bottom, pad_left = table.padding
    total = (2 if table.box and table.show_edge else 0) + (
        len(table.columns) - 1 if table.box else 0
    )
    for column in table.columns:
        cells = [column.header, *column.cells] if table.show_header else list(column.cells)
        sizes = [Measurement.get(console, options, cell) for cell in cells]
        widest = max((m.maximum if column.no_wrap else m.minimum for m in sizes), default=1)
        total += widest + pad_left + pad_right
    return total


console = OutputConsole()
err_console = OutputConsole(stderr=True)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout, nothing else mixed in."""
    sys.stdout.write(json.dumps(data, indent=1, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def add_columns(table: Table, columns: Sequence[str], *, wrap: Collection[str] = ()) -> None:
    """Columns that never split a value (ids, states, numbers, paths), except ``wrap``: prose
    (messages, reasons) that wraps at spaces and folds only a word longer than the column."""
    for column in columns:
        if column in wrap:
            table.add_column(column, overflow="fold")
        else:
            table.add_column(column, no_wrap=True)


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    caption: str = "",
    wrap: Collection[str] = (),
) -> Table:
    """A plain rich table; every column on one line but the prose ones named in ``wrap``."""
    result = Table(title=title, caption=caption or None, show_lines=False)
    add_columns(result, columns, wrap=wrap)
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
