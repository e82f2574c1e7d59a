"""What a sync run did, in numbers: the outcome of each period and the run's summary.

The summary is the run's last step (:func:`summarize`) and its one result: the agent prints it
(``sync --json``'s ``summary`` event), and the operator's CLI reads it back from each node
(:meth:`SyncSummary.from_dict`) to render the fleet's table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any


class PeriodStatus(StrEnum):
    """What a sync did with one period; the values are what ``--json`` and the summary show."""

    UPLOADED = "uploaded"  # sent to S3 and verified
    PRESENT = "present"  # already in S3 with the same content: verified, not sent again
    WOULD_UPLOAD = "would-upload"  # --dry-run: would be sent
    FAILED = "failed"  # not verified in S3; the run's exit code is non-zero


@dataclass(frozen=True, slots=True)
class PeriodOutcome:
    """What happened to one period in this run."""

    camera_id: str
    period: str
    status: PeriodStatus
    frames: int = 0
    bytes: int = 0
    key: str = ""
    deleted: bool = False
    error: str = ""


@dataclass(frozen=True, slots=True)
class SyncSummary:
    """The run in numbers; ``failed`` non-zero means the exit code is non-zero."""

    node: str
    bucket: str
    prefix: str
    periods: int = 0
    uploaded: int = 0
    present: int = 0
    already_synced: int = 0
    failed: int = 0
    frames: int = 0
    bytes_uploaded: int = 0
    bytes_verified: int = 0
    deleted: int = 0
    resumed_uploads: int = 0
    aborted_uploads: int = 0
    dry_run: bool = False
    seconds: float = 0.0
    requests: dict[str, int] = field(default_factory=dict)
    outcomes: tuple[PeriodOutcome, ...] = ()

    @property
    def failures(self) -> tuple[PeriodOutcome, ...]:
        return tuple(o for o in self.outcomes if o.status == PeriodStatus.FAILED)

    def to_dict(self) -> dict[str, Any]:
        """The ``summary`` event; the operator's CLI reads it back with :meth:`from_dict`."""
        data = asdict(self)
        data.pop("outcomes")
        data["failures"] = [asdict(o) for o in self.failures]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, node: str | None = None) -> SyncSummary:
        """A summary read back from a node's ``summary`` event (missing numbers count as 0)."""
        numbers = {
            f.name: int(data.get(f.name) or 0) for f in fields(cls) if f.type in ("int", int)
        }
        known = {f.name for f in fields(PeriodOutcome)} - {"status"}
        failures = tuple(  # the summary lists only failures, so their status is known
            PeriodOutcome(
                **{k: v for k, v in item.items() if k in known}, status=PeriodStatus.FAILED
            )
            for item in data.get("failures", ())
            if isinstance(item, dict)
        )
        return cls(
            node=node or str(data.get("node", "")),
            bucket=str(data.get("bucket", "")),
            prefix=str(data.get("prefix", "")),
            dry_run=bool(data.get("dry_run")),
            seconds=float(data.get("seconds") or 0.0),
            requests=dict(data.get("requests") or {}),
            outcomes=failures,
            **numbers,
        )


def summarize(
    node: str,
    bucket: str,
    prefix: str,
    *,
    periods: int,
    already_synced: int,
    outcomes: tuple[PeriodOutcome, ...],
    deleted: int,
    resumed: int,
    aborted: int,
    seconds: float,
    requests: dict[str, int],
) -> SyncSummary:
    """Step three: the run summed up from its outcomes. Frames and verified bytes count only
    periods now in S3 (uploaded or found present); uploaded bytes only those sent."""
    good = [o for o in outcomes if o.status in (PeriodStatus.UPLOADED, PeriodStatus.PRESENT)]
    return SyncSummary(
        node=node,
        bucket=bucket,
        prefix=prefix,
        periods=periods,
        uploaded=sum(o.status == PeriodStatus.UPLOADED for o in outcomes),
        present=sum(o.status == PeriodStatus.PRESENT for o in outcomes),
        already_synced=already_synced,
        failed=sum(o.status == PeriodStatus.FAILED for o in outcomes),
        frames=sum(o.frames for o in good),
        bytes_uploaded=sum(o.bytes for o in good if o.status == PeriodStatus.UPLOADED),
        bytes_verified=sum(o.bytes for o in good),
        deleted=deleted,
        resumed_uploads=resumed,
        aborted_uploads=aborted,
        seconds=seconds,
        requests=requests,
        outcomes=outcomes,
    )
