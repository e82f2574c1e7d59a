"""A sync run's retention step: which verified periods lose their local copy now.

Only periods with a receipt for the fleet's bucket are ever deleted (sync/run.py checks the target
before the run starts); this step only decides which of them, and when. Space-driven deletion,
when a disk fills before retention frees it, is storage/reclaim.py's.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from cctview_agent.layout import DataLayout
from cctview_agent.periods import Period
from cctview_agent.sync.receipts import finish_deletions
from cctview_agent.sync.summary import PeriodOutcome


def apply_retention(
    receipted: list[tuple[DataLayout, Path, Period, str]],
    outcomes: Iterable[PeriodOutcome],
    *,
    delete_local: bool,
    retain_seconds: float | None,
) -> int:
    """The local copies deleted in this run, counted. Periods shipped in this run were deleted as
    they verified (``delete_local``); here the periods receipted before this run are finished:
    all of them with ``delete_local``, those that ended ``retain_seconds`` ago with retention."""
    deleted = sum(o.deleted for o in outcomes)
    if delete_local:
        deleted += finish_deletions((layout, path) for layout, path, _p, _c in receipted)
    elif retain_seconds is not None:
        cutoff = time.time() - retain_seconds
        deleted += finish_deletions(
            (layout, path) for layout, path, period, _c in receipted if period.end <= cutoff
        )
    return deleted
