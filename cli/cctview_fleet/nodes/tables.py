"""The table of a fleet operation: one row per node, its value or its error, and its time.

Kept apart from :mod:`cctview_fleet.nodes.ops` so that the operations layer imports no rich:
the library returns a :class:`FleetResult`, the commands render it with :func:`result_table`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.table import Table

from cctview_fleet.render import styled, table
from cctview_fleet.results import FleetResult


def result_table(
    title: str,
    result: FleetResult[Any],
    columns: Sequence[str],
    row: Callable[[Any], Sequence[Any]],
    *,
    verdict: Callable[[Any], str] | None = None,
) -> Table:
    """One row per node: ``row(value)`` for successes, the error for failures, plus the time.

    ``verdict(value)`` labels a success that is still a failure for the command (``exec``'s
    non-zero exit); by default every value is "ok".
    """
    columns = list(columns) or ["detail"]
    rows = []
    for name, outcome in result.items():
        if outcome.ok:
            cells = list(row(outcome.value))
            cells += [""] * (len(columns) - len(cells))
            label = styled(verdict(outcome.value) if verdict else "[green]ok[/]")
            rows.append([name, label, *cells, f"{outcome.seconds:.1f}s"])
        else:
            message = str(outcome.error)
            prefix = f"{name}: "
            if message.startswith(prefix):
                message = message[len(prefix) :]
            blanks = [""] * (len(columns) - 1)
            kind = type(outcome.error).__name__.removesuffix("Error").lower() or "error"
            rows.append(
                [name, styled("[red]{}[/]", kind), message, *blanks, f"{outcome.seconds:.1f}s"]
            )
    # A failure's message fills the first column: prose, so that column may wrap.
    return table(title, ["node", "result", *columns, "time"], rows, wrap=columns[:1])
