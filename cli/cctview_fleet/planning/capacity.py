"""How many cameras one node can take: four limits, the binding one, and a recommendation.

A t2.micro runs out of one of four things first, and ``plan`` says which:

- **CPU**: the agent's measured cost per frame (a dated constant from
  ``bench/results/agent_bench.json``) against the t2.micro's 10 % baseline; above it the
  instance spends CPU credits and, with ``standard`` credits, is throttled once they are gone.
- **Memory**: 1 GiB, less what Debian, sshd and a sync need, against the agent's measured RSS.
- **Network**: on t2, EBS traffic shares the instance's network. Each frame crosses it four
  times: downloaded from the camera and written to the volume, then read back and uploaded to S3
  at sync. Inbound and outbound are separate allowances, so each carries two of the four.
- **Disk**: the data volume must hold every frame between two successful syncs
  (``hold_hours``: the period, its grace time, the hourly sync timer and one missed sync).

The constants are what was measured or read, with the date; the bench figures come from a
2-core development machine, not from a t2.micro (whose vCPU may be slower: docs/operations.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from cctview_agent.fleetconstants import GIB
from cctview_fleet.defaults import DEFAULT_HOLD_HOURS

# bench/results/agent_bench.json, 2026-11-30: median CPU per frame of the four agent runs
# (21 and 250 cameras, uvloop and asyncio, HTTPS).
AGENT_CPU_MS_PER_FRAME = 0.521
AGENT_BENCH_DATE = "2026-11-30"
# The same runs' peak RSS: 40.3 MiB at 21 cameras, 49.0 MiB at 250.
AGENT_BASE_RSS_MIB = 39.5
AGENT_RSS_MIB_PER_CAMERA = (49.0 - 40.3) / (250 - 21)
T2_MICRO_CPU_BASELINE = 0.10  # 6 CPU credits an hour = 10 % of one vCPU
T2_MICRO_MEMORY_MIB = 1024
SYSTEM_MEMORY_MIB = 384  # Debian 12, sshd, journald, and a sync's tar + upload buffers
# t2 publishes only "Low to Moderate". The sustained (10th percentile) figure of cloudonaut.io's
# EC2 Network Performance Cheat Sheet (iperf3, us-east-1, 2018) for t3.micro; the t2.micro row
# was not in the part of the table read (2026-12-01), so this is a stand-in until measured.
T2_MICRO_NETWORK_BITS_S = 60_000_000
NETWORK_CROSSINGS_PER_DIRECTION = 2  # in: camera + EBS read; out: EBS write + S3 upload
DISK_USABLE_FRACTION = 0.95  # ext4's reserved blocks and the agent's 256 MiB reserve


class Limit(StrEnum):
    """The resource that caps cameras per node."""

    CPU = "cpu"
    MEMORY = "memory"
    NETWORK = "network"
    DISK = "disk"


@dataclass(frozen=True, slots=True)
class NodeCapacity:
    """Cameras per node each limit allows, and the smallest of them."""

    cpu: int
    memory: int
    network: int
    disk: int
    hold_hours: float

    @property
    def by_limit(self) -> dict[Limit, int]:
        return {Limit.CPU: self.cpu, Limit.MEMORY: self.memory, Limit.NETWORK: self.network,
                Limit.DISK: self.disk}  # fmt: skip

    @property
    def binding(self) -> Limit:
        """The limit reached first (on a tie, the first in CPU, memory, network, disk order)."""
        return min(self.by_limit, key=lambda limit: self.by_limit[limit])

    @property
    def recommended(self) -> int:
        return self.by_limit[self.binding]

    def to_dict(self) -> dict[str, object]:
        return {
            "cameras_by_limit": {limit.value: n for limit, n in self.by_limit.items()},
            "binding_limit": self.binding.value,
            "recommended_cameras_per_node": self.recommended,
            "hold_hours": self.hold_hours,
            "agent_cpu_ms_per_frame": AGENT_CPU_MS_PER_FRAME,
            "agent_bench_date": AGENT_BENCH_DATE,
        }


def _floor(budget: float, per_camera: float) -> int:
    return max(0, math.floor(budget / per_camera)) if per_camera > 0 else 1_000_000


def node_capacity(
    *, fps: float, frame_bytes: int, data_volume_gib: int, hold_hours: float = DEFAULT_HOLD_HOURS
) -> NodeCapacity:
    """Cameras one t2.micro takes under each limit at ``fps`` frames of ``frame_bytes``."""
    cpu = _floor(T2_MICRO_CPU_BASELINE, fps * AGENT_CPU_MS_PER_FRAME / 1000)
    memory = _floor(
        T2_MICRO_MEMORY_MIB - SYSTEM_MEMORY_MIB - AGENT_BASE_RSS_MIB, AGENT_RSS_MIB_PER_CAMERA
    )
    camera_bits_s = fps * frame_bytes * 8
    network = _floor(T2_MICRO_NETWORK_BITS_S, NETWORK_CROSSINGS_PER_DIRECTION * camera_bits_s)
    disk = _floor(
        data_volume_gib * GIB * DISK_USABLE_FRACTION, fps * frame_bytes * 3600 * hold_hours
    )
    return NodeCapacity(cpu, memory, network, disk, hold_hours)


def volume_gib_for(cameras: int, *, fps: float, frame_bytes: int, hold_hours: float) -> int:
    """The data volume (GiB) that lets ``cameras`` bridge ``hold_hours`` without a sync."""
    needed = cameras * fps * frame_bytes * 3600 * hold_hours / DISK_USABLE_FRACTION
    return max(1, math.ceil(needed / GIB))
