"""A sync run's first step: ship each pending period to S3, verified, then write its receipt.

Rules 3 to 5 of :mod:`cctview_agent.sync.run`: frames checked against the manifest as they are
read, the tar before the manifest, ``If-None-Match: *`` on every write, an object already there
kept only if it is the same bytes, a multipart upload a killed run left open finished, and the
receipt written only after both objects verify.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from typing import Any

from cctview_agent.errors import ManifestError, VerificationError
from cctview_agent.manifests import Manifest
from cctview_agent.s3layout import frames_prefix, parse_key, safe_node
from cctview_agent.sync.options import Emit, SyncOptions
from cctview_agent.sync.packing import TarPlan, digest_tar, plan_tar
from cctview_agent.sync.pending import PendingPeriod, target_of
from cctview_agent.sync.receipts import Receipt, delete_period
from cctview_agent.sync.summary import PeriodOutcome, PeriodStatus
from cctview_agent.sync.uploader import Expected, Throttle, Uploader, expected_for, make_client

_NO_TAR = TarPlan((), 0, 0)  # a period without frames ships its manifest only


def _manifest_expected(data: bytes) -> Expected:
    import base64

    sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
    return Expected(len(data), hashlib.md5(data, usedforsecurity=False).hexdigest(), sha)


class Syncer:
    """The shipping of one sync run; the rules are in :mod:`cctview_agent.sync.run`."""

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
