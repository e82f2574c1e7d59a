"""Ship every complete camera-period to S3, verified, resumable and idempotent.

The rules, in the order a period meets them (docs/s3.md says the same for operators):

1. Only complete periods move: a period is complete when its manifest exists.
2. A period with a receipt (``<data>/synced/<camera>/<period-key>.json``) is in S3 already and
   costs no request; a second sync uploads nothing.
3. Every frame is checked against the manifest (size, BLAKE2b) as it is read for upload; a
   mismatch stops the period before its object exists. A pass before the upload computes the
   SHA-256 that S3 checks the body against; the MD5 (S3's ETag) is taken from the stream.
4. The tar goes first, then the manifest (a manifest in S3 marks the object complete); a period
   without frames has no tar, only its manifest (which records why). The tar
   is looked up first (HeadObject) and every write carries ``If-None-Match: *``: an object
   already there with the expected bytes is kept (an earlier run died before its receipt), one
   with other bytes is a conflict and is never overwritten. A multipart upload left open by a
   killed run is finished from where it stopped.
5. After both objects verify (size, ETag, checksum) the receipt is written atomically; only then,
   and only with ``delete_local``, are the frames listed in the manifest deleted, then the
   manifest. A crash in between leaves a receipt and some frames; the next run finishes deleting.

Errors that concern one period (a frame changed on disk, a conflicting object) fail that period
and the sync goes on; errors that concern the link (no bucket, no credentials, a dropped
connection) stop the run with one line. Either way nothing local is deleted for an unverified
period, and a rerun picks up the rest.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from cctview_agent.errors import SyncError
from cctview_agent.sync.lock import sync_locks
from cctview_agent.sync.options import Emit, SyncOptions
from cctview_agent.sync.pending import scan
from cctview_agent.sync.retention import apply_retention
from cctview_agent.sync.s3client import S3Client
from cctview_agent.sync.shipping import ship_periods
from cctview_agent.sync.summary import PeriodOutcome, PeriodStatus, SyncSummary, summarize


def run_sync(
    roots: list[Path],
    options: SyncOptions,
    *,
    emit: Emit | None = None,
    client: S3Client | None = None,
) -> SyncSummary:
    """Sync every data root; returns the summary (failed periods counted, not raised).
    Raises SyncError when the link to S3 fails (no bucket, credentials, endpoint).

    Three steps, under the data roots' sync locks: ship the pending periods
    (:func:`ship_periods`), apply the retention rules to what is verified
    (:mod:`~cctview_agent.sync.retention`), then sum the run up
    (:mod:`~cctview_agent.sync.summary`).
    """
    emit = emit or (lambda event: None)
    started = time.monotonic()
    check_request(roots, options)
    if options.dry_run:
        return _dry_run(roots, options, emit, started)
    with sync_locks(roots):
        pending, receipted, broken = scan(roots, options)
        shipped = ship_periods(pending, broken, options, emit=emit, client=client)
        deleted = apply_retention(
            receipted,
            shipped.outcomes,
            delete_local=options.delete_local,
            retain_seconds=options.retain_seconds,
        )
    return summarize(
        options.node,
        options.bucket,
        options.prefix,
        periods=len(pending) + len(broken),
        already_synced=len(receipted),
        outcomes=shipped.outcomes,
        deleted=deleted,
        resumed=shipped.resumed,
        aborted=shipped.aborted,
        seconds=round(time.monotonic() - started, 3),
        requests=shipped.requests,
    )


def check_request(roots: list[Path], options: SyncOptions) -> None:
    """Refuse a run that cannot be right before anything is read: no bucket, deletions counted
    against another bucket than the fleet's, a data folder that is not there."""
    if not options.bucket:
        raise SyncError("no bucket given; pass --bucket NAME (the stack's bucket)")
    deleting = options.delete_local or options.retain_seconds is not None
    if deleting and options.fleet is not None and options.fleet != options.target:
        raise SyncError(
            f"--delete-local and --retain-days count only copies in the fleet's {options.fleet}, "
            f"not {options.target}; sync to another bucket without them"
        )
    for root in roots:
        if not root.is_dir():
            raise SyncError(f"data folder {root} does not exist; check data_dir in the config")


def _dry_run(roots: list[Path], options: SyncOptions, emit: Emit, started: float) -> SyncSummary:
    """What a run would ship: no lock, no S3 request, nothing deleted."""
    pending, receipted, broken = scan(roots, options)
    outcomes = [
        PeriodOutcome(
            p.camera_id,
            p.period.key,
            PeriodStatus.WOULD_UPLOAD,
            frames=p.frames,
            bytes=p.size,
            key=p.target.tar_key(options.prefix),
        )
        for p in pending
    ]
    for outcome in outcomes:
        emit({"event": "period", **asdict(outcome)})
    outcomes += broken
    return SyncSummary(
        node=options.node,
        bucket=options.bucket,
        prefix=options.prefix,
        periods=len(pending) + len(broken),
        already_synced=len(receipted),
        failed=len(broken),
        frames=sum(o.frames for o in outcomes),
        dry_run=True,
        seconds=time.monotonic() - started,
        outcomes=tuple(outcomes),
    )
