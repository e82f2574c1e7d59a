"""The last two steps of a sync run on their own: the summary's sums and the retention choice.

The whole run against moto (shipping, receipts, retention deleting real frames) is sync/test_run.py.
"""

from __future__ import annotations

from pathlib import Path

from cctview_agent.layout import DataLayout
from cctview_agent.manifests import Manifest
from cctview_agent.periods import Period
from cctview_agent.sync.retention import apply_retention
from cctview_agent.sync.summary import PeriodOutcome, PeriodStatus, SyncSummary, summarize

OUTCOMES = (
    PeriodOutcome("cam-a", "p1", PeriodStatus.UPLOADED, frames=10, bytes=1000, deleted=True),
    PeriodOutcome("cam-b", "p1", PeriodStatus.PRESENT, frames=4, bytes=400),
    PeriodOutcome("cam-c", "p1", PeriodStatus.FAILED, frames=7, bytes=700, error="conflict"),
)


def test_summary_counts_only_what_is_in_s3() -> None:
    summary = summarize(
        "node-01",
        "bucket",
        "cctview",
        periods=3,
        already_synced=2,
        outcomes=OUTCOMES,
        deleted=1,
        resumed=1,
        aborted=0,
        seconds=1.5,
        requests={"PutObject": 2},
    )
    assert (summary.uploaded, summary.present, summary.failed) == (1, 1, 1)
    assert (summary.frames, summary.bytes_uploaded, summary.bytes_verified) == (14, 1000, 1400)
    assert [o.camera_id for o in summary.failures] == ["cam-c"]
    back = SyncSummary.from_dict(summary.to_dict())
    assert (back.uploaded, back.failed, back.failures[0].error) == (1, 1, "conflict")


def _receipted(tmp_path: Path) -> list[tuple[DataLayout, Path, Period, str]]:
    """A period that ended long ago, receipted, its manifest still on disk (no frames)."""
    layout = DataLayout(tmp_path)
    period = Period(1_743_771_600, 60)
    path = layout.manifest_path("cam-a", period)
    path.parent.mkdir(parents=True)
    Manifest("cam-a", period, ()).write(path)
    return [(layout, path, period, "cam-a")]


def test_without_delete_or_retention_nothing_more_is_deleted(tmp_path: Path) -> None:
    receipted = _receipted(tmp_path)
    deleted = apply_retention(receipted, OUTCOMES, delete_local=False, retain_seconds=None)
    assert deleted == 1  # the period deleted while it shipped, nothing else
    assert receipted[0][1].exists()


def test_retention_deletes_only_periods_older_than_it(tmp_path: Path) -> None:
    receipted = _receipted(tmp_path)
    ages = 100 * 365 * 86400  # the period ended in 2025: younger than a century, kept
    assert apply_retention(receipted, (), delete_local=False, retain_seconds=ages) == 0
    assert receipted[0][1].exists()
    assert apply_retention(receipted, (), delete_local=False, retain_seconds=3600) == 1
    assert not receipted[0][1].exists()


def test_delete_local_finishes_every_receipted_period(tmp_path: Path) -> None:
    receipted = _receipted(tmp_path)
    assert apply_retention(receipted, OUTCOMES, delete_local=True, retain_seconds=None) == 2
    assert not receipted[0][1].exists()
