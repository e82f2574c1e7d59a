"""Closing periods: once a period has ended plus ``grace``, write each camera's manifest.

The manifest is the completion mark (only complete periods are synced), so it is written once,
atomically and durably, after the frames it lists are durable (one ``syncfs`` of the period's file
system, :mod:`cctview_agent.storage.durability`), from what is on disk: the frames folder lists the
frames, the period's journal gives their sizes and digests (a frame missing from it, e.g. after a
``kill -9`` between rename and journal line, is digested from its file). The counters that are
not on disk (polls, duplicates, placeholders, failures, drops) come from the running agent's
:class:`PeriodTally`; after a restart they cover only the agent's own lifetime within the period.

Periods are closed on every data root: the folder ``data_dir`` points at and every volume folder
under ``volumes_dir`` holding ``frames/``. A period split by a volume rotation therefore gets a
manifest on each volume, each listing its own half. A camera-period with no frame gets a manifest
only when the agent polled it (then it records why nothing was stored); an unassigned camera
leaves no trace.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cctview_agent import __version__
from cctview_agent.agentlog import EventLog
from cctview_agent.config import AgentConfig
from cctview_agent.layout import DataLayout, frame_timestamp
from cctview_agent.layout import data_roots as layout_roots
from cctview_agent.manifests import FrameRecord, Manifest, find_gaps, frame_digest
from cctview_agent.periods import Period
from cctview_agent.samples import with_shard
from cctview_agent.storage.durability import make_durable
from cctview_agent.storage.frames import JOURNAL_SUFFIX, FrameStore, journal_path, read_journal

GAP_FACTOR = 3  # a hole longer than 3 poll intervals is a gap


@dataclass
class PeriodTally:
    """What one camera-period on one data root saw besides the frames on disk."""

    camera_name: str = ""
    latitude: float | None = None  # the camera's position, recorded in the manifest
    longitude: float | None = None
    polls: int = 0
    duplicates: int = 0
    placeholders: int = 0
    dropped: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    same_pictures: int = 0  # new bytes showing the last stored picture (not stored)
    offline_s: float = 0.0  # time the camera served the offline card
    frozen_spans: list[tuple[int, int]] = field(default_factory=list)  # Unix ms, ended ones
    frozen_since_ms: int | None = None  # a frozen span still open


TallyKey = tuple[str, str, Period]  # (resolved root, camera id, period)


def data_roots(config: AgentConfig, store: FrameStore) -> list[str]:
    """The active root as the store names it (tallies are keyed by that string), then every other
    volume under ``volumes_root`` still holding data."""
    return [str(root) for root in layout_roots(Path(store.resolve_root()), config.volumes_root)]


class PeriodCloser:
    """Tracks open camera-periods and writes their manifests when they become closable."""

    def __init__(self, config: AgentConfig, store: FrameStore, log: EventLog) -> None:
        self.config = config
        self.store = store
        self.log = log
        self.tallies: dict[TallyKey, PeriodTally] = {}
        self.last_closed: Period | None = None
        self.closed_count = 0
        self._failed: set[TallyKey] = set()
        self._scanned_until = 0  # end (Unix s) of the newest period whose folders were rescanned

    def tally(
        self,
        root: str,
        camera_id: str,
        period: Period,
        name: str = "",
        position: tuple[float, float] | None = None,
    ) -> PeriodTally:
        key = (root, camera_id, period)
        tally = self.tallies.get(key)
        if tally is None:
            tally = self.tallies[key] = PeriodTally(camera_name=name)
        elif name and not tally.camera_name:  # adopted from disk at start-up, now polled again
            tally.camera_name = name
        if position is not None and tally.latitude is None:
            tally.latitude, tally.longitude = position
        return tally

    # -- discovery -----------------------------------------------------------------------------

    def scan_all(self) -> None:
        """At start-up: adopt every camera-period with frames and no manifest, on every root."""
        for root in data_roots(self.config, self.store):
            layout = DataLayout(Path(root))
            for camera_id in layout.camera_ids():
                for hour_dir in _hour_dirs(layout.camera_dir(camera_id)):
                    self._adopt(root, camera_id, _periods_in(hour_dir, self.config.period))

    def scan_period(self, period: Period) -> None:
        """After a period ends: adopt its camera folders on every root (rotated volumes too)."""
        for root in data_roots(self.config, self.store):
            layout = DataLayout(Path(root))
            for camera_id in layout.camera_ids():
                if layout.frames_in(camera_id, period):
                    self._adopt(root, camera_id, [period])

    def _adopt(self, root: str, camera_id: str, periods: Iterable[Period]) -> None:
        layout = DataLayout(Path(root))
        for period in periods:
            if (root, camera_id, period) in self.tallies:
                continue
            if not layout.manifest_path(camera_id, period).exists():
                self.tally(root, camera_id, period)

    # -- closing -------------------------------------------------------------------------------

    def close_due(self, now: float | None = None) -> int:
        """Close every tracked camera-period that ended ``grace`` seconds ago; returns how many."""
        now = time.time() if now is None else now
        grace = self.config.grace
        current = Period.current(self.config.period, now=now)
        previous = Period(current.start - current.length, current.length)
        newest_due = previous if previous.closable(now, grace) else None
        if newest_due is not None and newest_due.end > self._scanned_until:
            self._scanned_until = newest_due.end
            self.scan_period(newest_due)
        closed = 0
        for key in sorted(k for k in self.tallies if k[2].closable(now, grace)):
            if self._close(key, now):
                closed += 1
        return closed

    def _close(self, key: TallyKey, now: float) -> bool:
        root, camera_id, period = key
        tally = self.tallies[key]
        layout = DataLayout(Path(root))
        path = layout.manifest_path(camera_id, period)
        try:
            if path.exists():  # closed by an earlier run that died before forgetting it
                self._forget(key)
                return False
            frames = self._records(layout, root, camera_id, period)
            if not frames and tally.polls == 0:
                self._forget(key)
                return False
            if frames:  # the frames reach the disk before the manifest that lists them
                folder = layout.period_dir(camera_id, period)
                make_durable(folder, (folder / frame.name for frame in frames))
            manifest = Manifest(
                camera_id=camera_id,
                camera_name=tally.camera_name,
                period=period,
                frames=tuple(frames),
                node=self.config.node or None,
                duplicates=tally.duplicates,
                placeholders=tally.placeholders,
                failures=dict(tally.failures),
                dropped=tally.dropped,
                gaps=find_gaps(
                    [f.ts_ms for f in frames],
                    period,
                    int(GAP_FACTOR * self.config.poll_interval * 1000),
                ),
                polls=max(tally.polls, len(frames)),
                same_pictures=tally.same_pictures,
                offline_s=round(tally.offline_s, 1),
                frozen_spans=_frozen_spans(tally, period),
                agent_version=__version__,
                closed_at_ms=int(now * 1000),
                latitude=tally.latitude,
                longitude=tally.longitude,
            )
            with_shard(manifest).write(path)
        except OSError as exc:
            if key not in self._failed:  # log once; retried every cycle until it works
                self._failed.add(key)
                self.log.error(
                    "manifest_write_failed",
                    camera=camera_id,
                    period=period.key,
                    root=root,
                    error=exc.strerror or str(exc),
                )
            return False
        self._forget(key)
        self.closed_count += 1
        if self.last_closed is None or period > self.last_closed:
            self.last_closed = period
        self.log.info(
            "period_closed",
            camera=camera_id,
            period=period.key,
            root=root,
            frames=len(frames),
            polls=manifest.polls,
            gaps=len(manifest.gaps),
        )
        return True

    def _forget(self, key: TallyKey) -> None:
        root, camera_id, period = key
        self.tallies.pop(key, None)
        self._failed.discard(key)
        self.store.close_journal(root, camera_id, period)
        with contextlib.suppress(FileNotFoundError):
            journal_path(Path(root), camera_id, period).unlink()

    @staticmethod
    def _records(
        layout: DataLayout, root: str, camera_id: str, period: Period
    ) -> list[FrameRecord]:
        journal = read_journal(journal_path(Path(root), camera_id, period))
        records = []
        for ts_ms, frame in layout.frames_in(camera_id, period):
            known = journal.get(frame.name)
            if known is None:
                data = frame.read_bytes()
                known = (len(data), frame_digest(data))
            records.append(FrameRecord(frame.name, ts_ms, known[0], known[1]))
        return records


def _frozen_spans(tally: PeriodTally, period: Period) -> tuple[tuple[int, int], ...]:
    """The period's frozen spans, one still open running to the period's end."""
    spans = list(tally.frozen_spans)
    if tally.frozen_since_ms is not None:
        spans.append((tally.frozen_since_ms, period.end_ms))
    return tuple((max(a, period.start_ms), min(b, period.end_ms)) for a, b in spans if b > a)


def remove_stale_journals(root: Path) -> None:
    """Journals whose manifest exists are leftovers of a crash right after closing."""
    manifests = DataLayout(root).manifests_root
    for dirpath, _dirs, names in os.walk(manifests):
        for name in names:
            if name.startswith(".") and name.endswith(JOURNAL_SUFFIX):
                key = name[1 : -len(JOURNAL_SUFFIX)]
                if os.path.exists(os.path.join(dirpath, f"{key}.json")):
                    os.unlink(os.path.join(dirpath, name))


def _hour_dirs(camera_dir: Path) -> list[Path]:
    found: list[Path] = []
    try:
        dates = sorted(os.scandir(camera_dir), key=lambda e: e.name)
    except OSError:
        return found
    for date in dates:
        if not date.is_dir() or date.name.startswith("."):
            continue
        try:
            hours = sorted(os.scandir(date.path), key=lambda e: e.name)
        except OSError:
            continue
        found.extend(Path(h.path) for h in hours if h.is_dir() and not h.name.startswith("."))
    return found


def _periods_in(hour_dir: Path, length: int) -> set[Period]:
    periods: set[Period] = set()
    try:
        names = os.listdir(hour_dir)
    except OSError:
        return periods
    for name in names:
        ts_ms = frame_timestamp(name)
        if ts_ms is not None:
            periods.add(Period.containing(ts_ms, length))
    return periods
