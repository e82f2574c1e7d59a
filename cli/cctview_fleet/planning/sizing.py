"""Sizing a fleet for a camera selection: nodes, storage per day, and what a month costs.

``cctview-fleet plan`` prints this; the Pulumi program uses the same defaults (cameras per node,
volume sizes) and the same cost model (:mod:`cctview_fleet.planning.costs`), so the two never
disagree.

The storage estimate assumes every camera yields ``fps`` frames of ``frame_bytes`` all day
(1 fps, ~20 KB, 86,400 s): an upper bound, since real feeds repeat frames and go offline. Pass
measured values when you have them (``cctview-fleet status`` shows frames per minute).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cctview_agent.fleetconstants import (
    DAYS_PER_MONTH,
    DEFAULT_CAMERAS_PER_NODE,
    DEFAULT_DATA_VOLUME_GIB,
    DEFAULT_FREE_TIER,
    DEFAULT_PERIOD_S,
    DEFAULT_PRICES,
    DEFAULT_ROOT_VOLUME_GIB,
    GIB,
    FreeTier,
    Prices,
)
from cctview_fleet.defaults import (
    DEFAULT_FPS,
    DEFAULT_FRAME_BYTES,
    DEFAULT_HOLD_HOURS,
    DEFAULT_RETENTION_DAYS,
)
from cctview_fleet.errors import ConfigError
from cctview_fleet.planning.capacity import (
    Limit,
    NodeCapacity,
    node_capacity,
    volume_gib_for,
)
from cctview_fleet.planning.costs import (
    CostLine,
    credit_months,
    ebs_line,
    ec2_line,
    for_free_tier,
    free_tier_warnings,
    ipv4_line,
    s3_requests_line,
    s3_storage_line,
    snapshot_line,
)

# Fleet defaults shared with the Pulumi program live in cctview_agent.fleetconstants.
SECONDS_PER_DAY = 86_400
PUTS_PER_PACKED_PERIOD = 2  # the tar and its manifest
SYNC_INTERVAL_S = 3600  # the agent's sync timer (cctview-agent-sync.timer): hourly


@dataclass(frozen=True, slots=True)
class Plan:
    """A fleet sized for ``cameras``, with the monthly cost of both S3 layouts."""

    cameras: int
    cameras_per_node: int
    nodes: int
    fps: float
    frame_bytes: int
    period_s: int
    retention_days: int
    frames_per_day: int
    bytes_per_day: float
    node_bytes_per_hour: float
    volume_hours: float  # how long a node's data volume holds its cameras' frames
    root_volume_gib: int
    data_volume_gib: int
    ebs_total_gib: int
    retained_gib: int  # rotated-out and kept volumes: billed like any volume until deleted
    free_tier: FreeTier
    capacity: NodeCapacity
    ec2: CostLine
    ipv4: CostLine
    ebs: CostLine
    snapshots: CostLine
    s3_storage: CostLine
    s3_requests_packed: CostLine
    s3_requests_per_frame: CostLine
    prices: Prices
    warnings: tuple[str, ...]

    @property
    def gib_per_day(self) -> float:
        return self.bytes_per_day / GIB

    @property
    def _fixed_usd(self) -> float:
        """Everything but the S3 requests, which differ between the two layouts."""
        lines = (self.ec2, self.ipv4, self.ebs, self.snapshots, self.s3_storage)
        return sum(line.usd for line in lines)

    @property
    def monthly_usd_packed(self) -> float:
        return self._fixed_usd + self.s3_requests_packed.usd

    @property
    def monthly_usd_per_frame(self) -> float:
        return self._fixed_usd + self.s3_requests_per_frame.usd

    @property
    def credit_months(self) -> float | None:
        """Under the credit-based free tier: months the credits pay the packed fleet."""
        if self.free_tier is not FreeTier.CREDITS:
            return None
        return credit_months(self.monthly_usd_packed, self.prices)

    def to_dict(self) -> dict[str, object]:
        """The ``plan --json`` shape: plain numbers, cost lines by name."""

        def line(cost: CostLine) -> dict[str, object]:
            return {
                "item": cost.item,
                "quantity": round(cost.quantity, 3),
                "unit": cost.unit,
                "free": cost.free,
                "billable": round(cost.billable, 3),
                "usd": round(cost.usd, 2),
                "free_tier_use": round(cost.free_tier_use, 4),
            }

        return {
            "cameras": self.cameras,
            "cameras_per_node": self.cameras_per_node,
            "nodes": self.nodes,
            "fps": self.fps,
            "frame_bytes": self.frame_bytes,
            "period_s": self.period_s,
            "retention_days": self.retention_days,
            "frames_per_day": self.frames_per_day,
            "gib_per_day": round(self.gib_per_day, 3),
            "volume_hours": round(self.volume_hours, 2),
            "ebs_total_gib": self.ebs_total_gib,
            "retained_gib": self.retained_gib,
            "free_tier": self.free_tier.value,
            "credit_months": None if self.credit_months is None else round(self.credit_months, 2),
            "capacity": self.capacity.to_dict(),
            "monthly": {
                "ec2": line(self.ec2),
                "ipv4": line(self.ipv4),
                "ebs": line(self.ebs),
                "snapshots": line(self.snapshots),
                "s3_storage": line(self.s3_storage),
                "s3_requests_packed": line(self.s3_requests_packed),
                "s3_requests_per_frame": line(self.s3_requests_per_frame),
                "total_usd_packed": round(self.monthly_usd_packed, 2),
                "total_usd_per_frame": round(self.monthly_usd_per_frame, 2),
            },
            "prices_as_of": self.prices.as_of,
            "warnings": list(self.warnings),
        }


def nodes_needed(cameras: int, cameras_per_node: int) -> int:
    """Nodes for ``cameras``: ``ceil(cameras / per node)``; an empty selection needs none."""
    if cameras_per_node < 1:
        raise ConfigError(
            f"cameras per node must be at least 1, not {cameras_per_node}; "
            "e.g. --cameras-per-node 21",
            key="cameras_per_node",
        )
    return math.ceil(cameras / cameras_per_node)


def volume_warnings(volume_hours: float, period_s: int, data_volume_gib: int) -> list[str]:
    """A warning when a node's data volume holds less than two sync intervals of frames.

    A node frees space by deleting periods already verified in S3 (space-driven retention); with
    less than two intervals on the volume, one missed or slow sync leaves nothing verified to
    delete, and the agent pauses and drops frames. A period longer than the timer's hour ships
    only once it closes, so it stretches the interval."""
    interval_h = max(SYNC_INTERVAL_S, period_s) / 3600
    if volume_hours >= 2 * interval_h:
        return []
    needed = math.ceil(data_volume_gib * 2 * interval_h / volume_hours)
    return [
        f"a node's {data_volume_gib} GiB data volume holds {volume_hours:.1f} h of frames, less "
        f"than two sync intervals ({2 * interval_h:g} h): one missed sync would pause recording; "
        f"use --data-volume-gib {needed} or more, or fewer --cameras-per-node"
    ]


def make_plan(
    cameras: int,
    *,
    cameras_per_node: int = DEFAULT_CAMERAS_PER_NODE,
    retention_days: int = DEFAULT_RETENTION_DAYS,
    fps: float = DEFAULT_FPS,
    frame_bytes: int = DEFAULT_FRAME_BYTES,
    period_s: int = DEFAULT_PERIOD_S,
    root_volume_gib: int = DEFAULT_ROOT_VOLUME_GIB,
    data_volume_gib: int = DEFAULT_DATA_VOLUME_GIB,
    retained_gib: int = 0,
    snapshot_gb: float = 0.0,
    hold_hours: float = DEFAULT_HOLD_HOURS,
    free_tier: FreeTier = DEFAULT_FREE_TIER,
    prices: Prices = DEFAULT_PRICES,
) -> Plan:
    """Size the fleet and price a month of it (steady state: S3 holds ``retention_days``).

    ``prices`` is the table; ``free_tier`` decides which of its allowances apply.
    """
    checks = (
        ("retention_days", retention_days, "--retention-days 30", retention_days < 0),
        ("fps", fps, "--fps 1", not (math.isfinite(fps) and fps > 0)),
        ("frame_bytes", frame_bytes, "--frame-kb 20", frame_bytes <= 0),
        ("period_s", period_s, "--period 3600", period_s <= 0),
        ("retained_gib", retained_gib, "--retained-gib 0", retained_gib < 0),
        ("snapshot_gb", snapshot_gb, "--snapshot-gb 0", not 0 <= snapshot_gb < math.inf),
        ("hold_hours", hold_hours, "--hold-hours 4", not 0 < hold_hours < math.inf),
    )
    for key, value, example, bad in checks:
        if bad:
            raise ConfigError(f"{key} = {value!r} is out of range; e.g. {example}", key=key)
    nodes = nodes_needed(cameras, cameras_per_node)
    frames_per_camera_day = fps * SECONDS_PER_DAY
    frames_per_day = round(cameras * frames_per_camera_day)
    bytes_per_day = frames_per_day * frame_bytes
    per_node_cameras = min(cameras, cameras_per_node)
    node_bytes_per_hour = per_node_cameras * fps * 3600 * frame_bytes
    volume_hours = data_volume_gib * GIB / node_bytes_per_hour if node_bytes_per_hour else math.inf
    ebs_total = nodes * (root_volume_gib + data_volume_gib)
    billed = for_free_tier(prices, free_tier)
    capacity = node_capacity(
        fps=fps, frame_bytes=frame_bytes, data_volume_gib=data_volume_gib, hold_hours=hold_hours
    )
    periods_per_month = cameras * SECONDS_PER_DAY / period_s * DAYS_PER_MONTH
    frames_per_month = frames_per_day * DAYS_PER_MONTH
    return Plan(
        cameras=cameras,
        cameras_per_node=cameras_per_node,
        nodes=nodes,
        fps=fps,
        frame_bytes=frame_bytes,
        period_s=period_s,
        retention_days=retention_days,
        frames_per_day=frames_per_day,
        bytes_per_day=bytes_per_day,
        node_bytes_per_hour=node_bytes_per_hour,
        volume_hours=volume_hours,
        root_volume_gib=root_volume_gib,
        data_volume_gib=data_volume_gib,
        ebs_total_gib=ebs_total,
        retained_gib=retained_gib,
        free_tier=free_tier,
        capacity=capacity,
        ec2=ec2_line(nodes, billed),
        ipv4=ipv4_line(nodes, billed),
        ebs=ebs_line(ebs_total + retained_gib, billed),
        snapshots=snapshot_line(snapshot_gb, billed),
        s3_storage=s3_storage_line(bytes_per_day * retention_days, billed),
        s3_requests_packed=s3_requests_line(
            periods_per_month * PUTS_PER_PACKED_PERIOD,
            "S3 PUTs, packed (2 per camera-period)",
            billed,
        ),
        s3_requests_per_frame=s3_requests_line(
            frames_per_month, "S3 PUTs, one object per frame", billed
        ),
        prices=prices,
        warnings=(
            *free_tier_warnings(nodes, ebs_total + retained_gib, billed),
            *volume_warnings(volume_hours, period_s, data_volume_gib),
            *_capacity_warnings(cameras_per_node, capacity, fps=fps, frame_bytes=frame_bytes),
        ),
    )


def _capacity_warnings(
    cameras_per_node: int, capacity: NodeCapacity, *, fps: float, frame_bytes: int
) -> list[str]:
    """One sentence when ``cameras_per_node`` is over a limit, saying which and what to do."""
    over = [(limit, n) for limit, n in capacity.by_limit.items() if cameras_per_node > n]
    if not over:
        return []
    names = ", ".join(f"{limit.value} ({n})" for limit, n in over)
    advice = f"use --cameras-per-node {capacity.recommended}"
    if capacity.binding is Limit.DISK:
        gib = volume_gib_for(
            cameras_per_node, fps=fps, frame_bytes=frame_bytes, hold_hours=capacity.hold_hours
        )
        advice += f" or --data-volume-gib {gib}"
    return [f"{cameras_per_node} cameras per node is over the node's limit for {names}: {advice}"]
