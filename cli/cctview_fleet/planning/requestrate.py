"""How hard a fleet polls the camera service: requests per second, fleet-wide and per node.

No rate limit is published for webcams.nyctmc.org and a blocked fleet loses everything, so
``plan`` says what load a selection puts on the service (issue 10). The adaptive schedule sends
about one request per new picture (1.31 measured by bench/agent_bench.py at 250 cameras, target
1.3); a camera shows ~0.34 new pictures a second (docs/camsim.md: 88 % of cameras every 1-4 s, 12 %
every ~15 s, 5 % of pictures held twice as long). The fixed 1 Hz grid sends one request a second
per camera whatever the camera does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RequestRate:
    """Requests per second to the camera service for ``cameras`` on ``nodes`` nodes."""

    cameras: int
    nodes: int
    adaptive_per_s: float
    grid_per_s: float

    @property
    def adaptive_per_node_s(self) -> float:
        return self.adaptive_per_s / self.nodes if self.nodes else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"adaptive_per_node_s": round(self.adaptive_per_node_s, 2)}


PICTURES_PER_CAMERA_S = 0.88 / (2.5 * 1.05) + 0.12 / (15.0 * 1.05)  # ~0.343
REQUESTS_PER_PICTURE = 1.3  # the adaptive schedule's ceiling (the bench measures below it)
GRID_REQUESTS_PER_CAMERA_S = 1.0


def request_rate(cameras: int, nodes: int) -> RequestRate:
    adaptive = cameras * PICTURES_PER_CAMERA_S * REQUESTS_PER_PICTURE
    return RequestRate(
        cameras=cameras,
        nodes=nodes,
        adaptive_per_s=round(adaptive, 1),
        grid_per_s=round(cameras * GRID_REQUESTS_PER_CAMERA_S, 1),
    )


def describe(rate: RequestRate) -> str:
    """One line for ``plan``."""
    return (
        f"load on the camera service: ~{rate.adaptive_per_s:,.0f} requests/s "
        f"(~{rate.adaptive_per_node_s:,.1f} per node, adaptive polling; a fixed 1 Hz grid "
        f"would send {rate.grid_per_s:,.0f}/s)"
    )
