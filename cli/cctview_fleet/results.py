"""Per-node results of fleet operations, in the manner of fabric's GroupResult.

A fleet operation tries every node and returns a :class:`FleetResult` that maps each node to its
value or its error, so a failure on one node never hides the others' outcome. Callers render it as
one table and exit non-zero when :attr:`FleetResult.failed` is not empty.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from cctview_fleet.errors import CctviewError, FleetError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class NodeResult(Generic[T]):
    """What one node gave: a value, or the error that stopped it."""

    node: str
    value: T | None = None
    error: CctviewError | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class FleetResult(Mapping[str, NodeResult[T]]):
    """Results by node name, in the order the nodes were given."""

    def __init__(self, results: list[NodeResult[T]]) -> None:
        self._results = {result.node: result for result in results}

    def __getitem__(self, node: str) -> NodeResult[T]:
        return self._results[node]

    def __iter__(self) -> Iterator[str]:
        return iter(self._results)

    def __len__(self) -> int:
        return len(self._results)

    @property
    def succeeded(self) -> dict[str, T | None]:
        return {name: r.value for name, r in self._results.items() if r.ok}

    @property
    def failed(self) -> dict[str, CctviewError]:
        return {name: r.error for name, r in self._results.items() if r.error is not None}

    def raise_on_failure(self, what: str) -> None:
        """One FleetError naming every node that failed, after the caller rendered the table."""
        if self.failed:
            names = ", ".join(sorted(self.failed))
            raise FleetError(f"{what} failed on {len(self.failed)} of {len(self)} nodes: {names}")
