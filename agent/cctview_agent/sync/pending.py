"""What a sync run has to ship: the complete periods of the data roots that have no receipt.

Rules 1 and 2 of :mod:`cctview_agent.sync.run`: only a period with a manifest is complete, and a
receipt for this run's bucket and prefix means it is in S3 already and costs no request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cctview_agent import layout
from cctview_agent.config import AgentConfig
from cctview_agent.errors import ManifestError
from cctview_agent.layout import DataLayout
from cctview_agent.manifests import Manifest
from cctview_agent.periods import Period
from cctview_agent.s3layout import PeriodObject
from cctview_agent.sync.options import SyncOptions
from cctview_agent.sync.packing import tar_size
from cctview_agent.sync.receipts import receipt_counts
from cctview_agent.sync.summary import PeriodOutcome, PeriodStatus


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
