"""Fault spec: which cameras misbehave and how, parsed from ``KIND=TARGET[,KIND=TARGET...]``.

TARGET is a fraction of the catalog (``offline=0.05``), ``all``, or camera ids joined by ``+``
(``hang=<id>+<id>``). Explicit ids are assigned first, then fractions and ``all`` in the order
written, each over the cameras still unassigned, so a camera has at most one fault and
``offline=0.1,5xx=0.1`` makes two disjoint tenths. Which cameras a fraction picks is a pure
function of the seed (a seeded shuffle of the ids), so a test can name them in advance.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cctview_agent.errors import ConfigError


class FaultKind(enum.StrEnum):
    """How a camera's image endpoint misbehaves (the behaviours live in responses.py)."""

    OFFLINE = "offline"  # 200, the shared "being serviced" PNG labelled image/jpeg
    NOT_FOUND = "404"  # 404 as if the camera were removed
    SERVER_ERROR = "5xx"  # 500, 502, 503 in turn
    HANG = "hang"  # accept, send nothing until the client gives up (capped)
    DRIP = "drip"  # headers then a few bytes at a time
    TRUNCATE = "truncate"  # body cut before the JPEG's end (short Content-Length, or a lie)
    HTML = "html"  # 200 with an HTML error page
    RESET = "reset"  # TCP reset part-way through the body
    OVERSIZE = "oversize"  # a 5 MiB body
    FROZEN = "frozen"  # the picture stops, its burned-in clock ticks on ("dies quietly")
    RATE_LIMITED = "429"  # one frame per rate-limit window, else 429 with Retry-After
    FORBIDDEN = "403"  # 403 as a blocked client gets it


KIND_HELP = ", ".join(kind.value for kind in FaultKind)


@dataclass(frozen=True, slots=True)
class FaultRule:
    """One ``KIND=TARGET`` item: a fraction, every camera (``all``) or explicit ids."""

    kind: FaultKind
    fraction: float | None = None
    ids: tuple[str, ...] = ()
    everyone: bool = False


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """A parsed spec; ``text`` is kept to report what is active."""

    text: str
    rules: tuple[FaultRule, ...]


def _bad(text: str, why: str) -> ConfigError:
    return ConfigError(
        f"bad fault spec {text!r}: {why}; expected KIND=TARGET[,KIND=TARGET...] with KIND one of "
        f"{KIND_HELP} and TARGET a fraction (0.05), 'all', or camera ids joined by '+'",
        key="faults",
    )


def parse_fault_spec(text: str) -> FaultSpec:
    """Parse a spec; an empty string means no faults. Raises ConfigError naming the bad item."""
    rules: list[FaultRule] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        kind_text, sep, target = item.partition("=")
        if not sep or not target.strip():
            raise _bad(text, f"{item!r} has no '=TARGET'")
        try:
            kind = FaultKind(kind_text.strip().lower())
        except ValueError:
            raise _bad(text, f"unknown fault kind {kind_text.strip()!r}") from None
        target = target.strip()
        if target.lower() == "all":
            rules.append(FaultRule(kind, everyone=True))
            continue
        try:
            fraction = float(target)
        except ValueError:
            ids = tuple(part.strip() for part in target.split("+"))
            if any(not part for part in ids):
                raise _bad(text, f"{item!r} has an empty camera id") from None
            rules.append(FaultRule(kind, ids=ids))
            continue
        if not 0.0 <= fraction <= 1.0:
            raise _bad(text, f"fraction {target} is not between 0 and 1")
        rules.append(FaultRule(kind, fraction=fraction))
    return FaultSpec(text=text.strip(), rules=tuple(rules))


def assign_faults(spec: FaultSpec, camera_ids: Iterable[str], seed: int) -> Mapping[str, FaultKind]:
    """Camera id -> fault, deterministic in (spec, ids, seed). Unknown ids are a ConfigError."""
    ordered = list(camera_ids)
    known = set(ordered)
    assignment: dict[str, FaultKind] = {}
    for rule in spec.rules:
        for camera_id in rule.ids:
            if camera_id not in known:
                raise _bad(spec.text, f"no camera with id {camera_id!r}")
            assignment.setdefault(camera_id, rule.kind)
    shuffled = sorted(ordered)
    random.Random(f"cctview-camsim-faults-{seed}").shuffle(shuffled)
    remaining = [camera_id for camera_id in shuffled if camera_id not in assignment]
    for rule in spec.rules:
        if rule.everyone:
            take = len(remaining)
        elif rule.fraction is not None:
            # At least one camera for any fraction above zero, so small test catalogs see it.
            wanted = round(rule.fraction * len(ordered))
            take = min(len(remaining), max(wanted, 1 if rule.fraction > 0 else 0))
        else:
            continue
        for camera_id in remaining[:take]:
            assignment[camera_id] = rule.kind
        remaining = remaining[take:]
    return assignment
