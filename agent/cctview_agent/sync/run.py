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

import hashlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cctview_agent import layout
from cctview_agent.config import AgentConfig
from cctview_agent.errors import ManifestError, SyncError, VerificationError
from cctview_agent.layout import DataLayout
from cctview_agent.manifests import Manifest
from cctview_agent.periods import Period
from cctview_agent.s3layout import PeriodObject, frames_prefix, parse_key, safe_node
from cctview_agent.sync.lock import sync_locks
from cctview_agent.sync.packing import TarPlan, digest_tar, plan_tar, tar_size
from cctview_agent.sync.receipts import (
    Receipt,
    SyncTarget,
    delete_period,
    receipt_counts,
)
from cctview_agent.sync.retention import apply_retention
from cctview_agent.sync.s3client import S3Client
from cctview_agent.sync.summary import PeriodOutcome, PeriodStatus, SyncSummary, summarize
from cctview_agent.sync.uploader import Expected, Throttle, Uploader, expected_for, make_client

Emit = Callable[[dict[str, Any]], None]
_NO_TAR = TarPlan((), 0, 0)  # a period without frames ships its manifest only


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """Where to and how: the bucket and prefix, this node's name, and the safety switches."""

    bucket: str
    prefix: str = "cctview"
    node: str = ""
    delete_local: bool = False
    # Retention: delete the local copy of verified periods that ended more than this many seconds
    # ago (a node's disk holds the recent hours for a quick look, S3 holds everything).
    retain_seconds: float | None = None
    dry_run: bool = False
    bwlimit: float = 0.0  # bytes per second, 0 = unlimited
    endpoint_url: str | None = None
    region: str | None = None
    multipart_threshold: int | None = None
    part_size: int | None = None
    # The fleet's own bucket and prefix (the agent config's); None: this run's target is taken as
    # the fleet's (``--data`` without a config). Deletions need receipts for the fleet's target.
    fleet: SyncTarget | None = None

    @property
    def target(self) -> SyncTarget:
        return SyncTarget(self.bucket, self.prefix)


@dataclass(frozen=True, slots=True)
class PendingPeriod:
    """A complete period without a receipt: where it is, where it goes, how big its tar is.
    Deliberately small: a node with a day's backlog has hundreds of these, and each manifest
    (and its tar layout) is loaded again only while its period is shipped."""

    layout: DataLayout
    manifest_path: Path
    camera_id: str
    period: Period
    target: PeriodObject
    frames: int
    size: int


def data_roots(config: AgentConfig) -> list[Path]:
    """Every data folder of the node (the active volume and any still draining), resolved."""
    roots: list[Path] = []
    for root in layout.data_roots(config.data_dir, config.volumes_root):
        resolved = root.resolve()
        has_data = (resolved / "manifests").is_dir() or (resolved / "frames").is_dir()
        if has_data and resolved not in roots:
            roots.append(resolved)
    return roots


def _manifest_expected(data: bytes) -> Expected:
    import base64

    sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
    return Expected(len(data), hashlib.md5(data, usedforsecurity=False).hexdigest(), sha)


def scan(
    roots: Iterable[Path], options: SyncOptions
) -> tuple[list[PendingPeriod], list[tuple[DataLayout, Path, Period, str]], list[PeriodOutcome]]:
    """Split complete periods into pending ones, receipted ones, and unreadable manifests.

    Only a receipt for this run's bucket and prefix makes a period receipted: a period verified
    in another bucket is shipped again (an object already there with the same bytes is kept)."""
    pending: list[PendingPeriod] = []
    receipted: list[tuple[DataLayout, Path, Period, str]] = []
    broken: list[PeriodOutcome] = []
    for root in roots:
        layout = DataLayout(root)
        for camera_id, period, path in layout.manifests():
            if receipt_counts(layout.receipt_path(camera_id, period), options.target):
                receipted.append((layout, path, period, camera_id))
                continue
            try:
                manifest = Manifest.read(path)
            except ManifestError as exc:
                failed = PeriodOutcome(camera_id, period.key, PeriodStatus.FAILED, error=str(exc))
                broken.append(failed)
                continue
            target = target_of(manifest, options)
            size, frames = tar_size(manifest) if manifest.frames else 0, len(manifest.frames)
            pending.append(PendingPeriod(layout, path, camera_id, period, target, frames, size))
    return pending, receipted, broken


def target_of(manifest: Manifest, options: SyncOptions) -> PeriodObject:
    """The object a manifest's period goes to: its node (or this one) and its first frame."""
    first = min((f.ts_ms for f in manifest.frames), default=manifest.period.start_ms)
    return PeriodObject(manifest.camera_id, manifest.period, manifest.node or options.node, first)


class Syncer:
    """One sync run over a set of data roots; see the module docstring for the rules."""

    def __init__(self, options: SyncOptions, uploader: Uploader, emit: Emit) -> None:
        self.options = options
        self.uploader = uploader
        self.emit = emit
        self.open_uploads: dict[str, str] = {}
        self.resumed = 0

    def settle_open_uploads(self, pending: list[PendingPeriod]) -> int:
        """Find multipart uploads left open by a killed run: one per pending key is resumed;
        others of this node are aborted. Other nodes' uploads are left alone (they may be
        running now), and so is anything whose key this module did not make."""
        this_node = safe_node(self.options.node)
        wanted = {p.target.tar_key(self.options.prefix) for p in pending}
        aborted = 0
        for key, upload_id in self.uploader.pending_uploads(frames_prefix(self.options.prefix)):
            if key in wanted and key not in self.open_uploads:
                self.open_uploads[key] = upload_id
                continue
            parsed = parse_key(key)
            if key not in wanted and (parsed is None or safe_node(parsed[0].node) != this_node):
                continue
            self.uploader.abort(key, upload_id)
            aborted += 1
            self.emit({"event": "aborted-upload", "key": key})
        return aborted

    def _accept_existing(self, key: str, head: dict[str, Any], expected: Expected) -> None:
        """An object already at our key must be ours, byte for byte; it is never replaced."""
        problem = self.uploader.matches(head, expected)
        if problem is not None:
            raise VerificationError(
                f"s3://{self.options.bucket}/{key} already holds a different object ({problem}); "
                "it is not overwritten and the local period is kept",
                key=key,
            )

    def _ship_tar(
        self, pending: PendingPeriod, manifest: Manifest, plan: TarPlan, key: str
    ) -> tuple[Expected, bool]:
        """The tar in S3 and verified: resumed, uploaded, or found; ``(expected, sent)``."""
        part_size = self.uploader.part_size_for(plan.size)
        upload_id = self.open_uploads.pop(key, None)
        head = None if upload_id is not None else self.uploader.head(key)
        if head is not None:  # an earlier run got this far: it must be the same bytes
            expected = expected_for(digest_tar(plan, part_size))
            self._accept_existing(key, head, expected)
            self.uploader.verify(key, expected)
            return expected, False
        digests = digest_tar(plan, part_size, full=False)
        if upload_id is not None:
            self.uploader.finish_multipart(key, upload_id, plan, digests)
            self.resumed += 1
            expected = expected_for(digests)
        else:
            metadata = {
                "camera": manifest.camera_id,
                "period": manifest.period.key,
                "node": target_of(manifest, self.options).node,
                "frames": str(len(manifest.frames)),
                "sha256": digests.sha256.hex(),
            }
            expected = self.uploader.put_tar(key, plan, digests, metadata)
        self.uploader.verify(key, expected)
        return expected, True

    def ship(self, pending: PendingPeriod) -> PeriodOutcome:
        """Upload, verify, write the receipt, then (if asked) delete: one period."""
        try:
            manifest_bytes = pending.manifest_path.read_bytes()
        except OSError as exc:
            raise ManifestError(
                f"cannot read {pending.manifest_path}: {exc.strerror or exc}",
                path=pending.manifest_path,
            ) from exc
        manifest = Manifest.from_json(manifest_bytes, source=str(pending.manifest_path))
        target, prefix = target_of(manifest, self.options), self.options.prefix
        tar_key, manifest_key = target.tar_key(prefix), target.manifest_key(prefix)
        plan = plan_tar(pending.layout, manifest)
        if manifest.frames:
            tar_expected, sent = self._ship_tar(pending, manifest, plan, tar_key)
        else:  # nothing stored: the manifest alone records the gap, and no empty tar is made
            tar_expected, sent, tar_key, plan = Expected(0, "", ""), True, "", _NO_TAR
        manifest_expected = _manifest_expected(manifest_bytes)
        # Small: PUT straight away; If-None-Match turns an existing copy into a comparison.
        self.uploader.put_bytes(
            manifest_key, manifest_bytes, manifest_expected, ContentType="application/json"
        )
        self.uploader.verify(manifest_key, manifest_expected)
        Receipt(
            bucket=self.options.bucket,
            prefix=prefix,
            tar_key=tar_key,
            manifest_key=manifest_key,
            size=tar_expected.size,
            etag=tar_expected.etag,
            sha256=tar_expected.checksum,
            manifest_sha256=manifest_expected.checksum,
            frames=len(manifest.frames),
            verified_at_ms=int(time.time() * 1000),
        ).write(pending.layout, manifest)
        deleted = False
        if self.options.delete_local:
            delete_period(pending.layout, manifest, pending.manifest_path)
            deleted = True
        return PeriodOutcome(
            manifest.camera_id,
            manifest.period.key,
            PeriodStatus.UPLOADED if sent else PeriodStatus.PRESENT,
            frames=len(manifest.frames),
            bytes=plan.size,
            key=tar_key,
            deleted=deleted,
        )


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


@dataclass(frozen=True, slots=True)
class Shipped:
    """What the shipping step did: every period's outcome (unreadable manifests first), the
    multipart uploads it resumed and aborted, and the S3 requests it made, by kind."""

    outcomes: tuple[PeriodOutcome, ...]
    resumed: int
    aborted: int
    requests: dict[str, int]


def ship_periods(
    pending: list[PendingPeriod],
    broken: list[PeriodOutcome],
    options: SyncOptions,
    *,
    emit: Emit,
    client: Any = None,
) -> Shipped:
    """Step one: settle uploads a killed run left open, then ship each pending period in turn.
    A period's own failure (a changed frame, a conflicting object) is its outcome and the run goes
    on; a failure of the link raises SyncError."""
    if client is None:
        client = make_client(options.endpoint_url, options.region, fleet_prefix=options.prefix)
    uploader = Uploader(
        client,
        options.bucket,
        where=str(getattr(client.meta, "endpoint_url", "") or "S3"),
        throttle=_progress_throttle(options.bwlimit, emit),
    )
    if options.multipart_threshold is not None:
        uploader.multipart_threshold = options.multipart_threshold
    if options.part_size is not None:
        uploader.part_size = options.part_size
    syncer = Syncer(options, uploader, emit)
    aborted = syncer.settle_open_uploads(pending)
    base = {"node": options.node, "bucket": options.bucket, "prefix": options.prefix}
    emit({"event": "start", **base, "periods": len(pending), "bytes": sum(p.size for p in pending)})
    outcomes: list[PeriodOutcome] = list(broken)
    for outcome in broken:
        emit({"event": "period", **asdict(outcome)})
    for item in pending:
        try:
            outcome = syncer.ship(item)
        except (ManifestError, VerificationError) as exc:
            outcome = PeriodOutcome(
                item.camera_id, item.period.key, PeriodStatus.FAILED, error=str(exc)
            )
        outcomes.append(outcome)
        emit({"event": "period", **asdict(outcome)})
    return Shipped(tuple(outcomes), syncer.resumed, aborted, dict(uploader.requests))


def _progress_throttle(rate: float, emit: Emit) -> Throttle:
    """A throttle that also emits a ``bytes`` event at most four times a second."""
    state = {"sent": 0, "last": 0.0}

    def on_bytes(count: int) -> None:
        state["sent"] += count
        now = time.monotonic()
        if now - state["last"] >= 0.25:
            state["last"] = now
            emit({"event": "bytes", "sent": state["sent"]})

    return Throttle(rate=rate, on_bytes=on_bytes)


def default_node() -> str:
    """This machine's name, for data folders whose config names no node."""
    return os.uname().nodename.split(".")[0] or "local"
