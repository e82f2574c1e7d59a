"""`cctview-fleet plan`: how many nodes a camera selection needs, and what a month of it costs.

Thin: the selection flags come from :mod:`cctview_fleet.commands.options`, the numbers from
:func:`cctview_fleet.planning.sizing.make_plan` (the cost model the Pulumi program warns with),
and this module only renders them -- a table, or the plan as JSON with ``--json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cctview_agent.fleetconstants import (
    DEFAULT_CAMERAS_PER_NODE,
    DEFAULT_DATA_VOLUME_GIB,
    DEFAULT_PERIOD_S,
)
from cctview_fleet.commands.options import (
    BBoxOption,
    CamerasOption,
    CatalogOption,
    OnlineOnlyOption,
    selection_from_options,
)
from cctview_fleet.defaults import (
    DEFAULT_FPS,
    DEFAULT_FRAME_BYTES,
    DEFAULT_HOLD_HOURS,
    DEFAULT_RETENTION_DAYS,
)

if TYPE_CHECKING:
    from cctview_fleet.planning.costs import CostLine
    from cctview_fleet.planning.sizing import Plan

_UNITS = {"instance-hours": "h", "address-hours": "h", "GB-months": "GB", "PUT requests": "PUTs"}


def _quantity(value: float, line: CostLine) -> str:
    return f"{value:,.0f} {_UNITS.get(line.unit, line.unit)}"


def _use(line: CostLine) -> str:
    """The share of the free allowance used: a percentage, or a multiple once it is exceeded."""
    if not line.free:
        return "-"
    use = line.free_tier_use
    return f"{use:.0%}" if use <= 1 else f"{use:,.1f}x"


def _row(name: str, line: CostLine) -> tuple[str, str, str, str, str]:
    return (name, _quantity(line.quantity, line), _quantity(line.free, line), _use(line),
            f"${line.usd:,.2f}")  # fmt: skip


def render_plan(plan: Plan, description: str) -> None:
    """The plan as two short paragraphs and one cost table, both S3 layouts side by side."""
    from cctview_fleet.render import console, err_console, styled, table

    console.print(
        f"[bold]{plan.cameras} cameras[/] ({description}) at {plan.cameras_per_node} per node: "
        f"[bold]{plan.nodes} node{'' if plan.nodes == 1 else 's'}[/]"
    )
    console.print(
        f"{plan.frames_per_day:,} frames/day at {plan.fps:g} fps x {plan.frame_bytes / 1000:g} KB"
        f" = {plan.gib_per_day:,.1f} GiB/day; each node's {plan.data_volume_gib} GiB data "
        f"volume holds {plan.volume_hours:,.1f} h of frames; S3 keeps {plan.retention_days} days"
    )
    capacity = plan.capacity
    limits = ", ".join(f"{limit.value} {n:,}" for limit, n in capacity.by_limit.items())
    console.print(
        f"A node takes [bold]{capacity.recommended} cameras[/] ({capacity.binding.value} binds; "
        f"cameras by limit: {limits}; disk bridges {capacity.hold_hours:g} h without a sync)"
    )
    rows = [
        _row(f"EC2 {plan.prices.instance_type}", plan.ec2),
        _row("Public IPv4", plan.ipv4),
        _row(f"EBS, {plan.retained_gib} GiB retained" if plan.retained_gib else "EBS", plan.ebs),
        _row("EBS snapshots", plan.snapshots),
        _row("S3 storage", plan.s3_storage),
        _row("S3 PUTs, packed", plan.s3_requests_packed),
        ("total, packed", "", "", "", f"${plan.monthly_usd_packed:,.2f}"),
        _row("S3 PUTs, per frame", plan.s3_requests_per_frame),
        ("total, per frame", "", "", "", f"${plan.monthly_usd_per_frame:,.2f}"),
    ]
    console.print(
        table(
            "Monthly cost",
            ("per month", "use", "free tier", "of free", "cost"),
            rows,
            caption=(
                f"packed: 2 PUTs per camera-period; free tier: {plan.free_tier.value}; prices "
                f"{plan.prices.as_of} (--prices FILE or $CCTVIEW_PRICES)"
            ),
        )
    )
    if plan.credit_months is not None:
        console.print(
            f"Credits: ${plan.prices.credits_usd:,.0f} pay the packed fleet for "
            f"{plan.credit_months:,.1f} of their {plan.prices.credits_months:g} months"
        )
    for warning in plan.warnings:
        err_console.print(styled("[yellow]warning:[/] {}", warning))


def plan(
    cameras: CamerasOption = None,
    catalog: CatalogOption = None,
    bbox: BBoxOption = None,
    online_only: OnlineOnlyOption = False,
    cameras_per_node: Annotated[
        int, typer.Option("--cameras-per-node", min=1, help="Cameras one node polls.")
    ] = DEFAULT_CAMERAS_PER_NODE,
    retention_days: Annotated[
        int, typer.Option("--retention-days", min=0, help="Days S3 keeps the frames.")
    ] = DEFAULT_RETENTION_DAYS,
    frame_kb: Annotated[
        float, typer.Option("--frame-kb", min=0.001, help="Measured mean frame size in KB.")
    ] = DEFAULT_FRAME_BYTES / 1000,
    fps: Annotated[
        float, typer.Option("--fps", min=0.001, help="Measured new frames per second per camera.")
    ] = DEFAULT_FPS,
    period: Annotated[
        int, typer.Option("--period", min=1, help="Seconds per packed object (agent period).")
    ] = DEFAULT_PERIOD_S,
    data_volume_gib: Annotated[
        int, typer.Option("--data-volume-gib", min=1, help="Data volume per node (GiB).")
    ] = DEFAULT_DATA_VOLUME_GIB,
    retained_gib: Annotated[
        int, typer.Option("--retained-gib", min=0, help="Rotated-out volumes kept, in GiB.")
    ] = 0,
    snapshot_gb: Annotated[
        float, typer.Option("--snapshot-gb", min=0, help="EBS snapshots kept, in GB.")
    ] = 0.0,
    hold_hours: Annotated[
        float,
        typer.Option("--hold-hours", min=0.1, help="Hours a data volume bridges between syncs."),
    ] = DEFAULT_HOLD_HOURS,
    free_tier: Annotated[
        str | None,
        typer.Option(
            "--free-tier",
            help="none (no allowances: every account's legacy 12 months are over), credits "
            "(account from 2025-07-15, within its 6 months), or legacy (750 h, 30 GB); "
            "default $CCTVIEW_FREE_TIER or none.",
        ),
    ] = None,
    prices: Annotated[
        Path | None,
        typer.Option(
            "--prices", help="JSON file overriding prices (see costs.py).", dir_okay=False
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """How many nodes a camera selection needs, storage per day, and a monthly cost by line."""
    from cctview_fleet.planning.costs import load_free_tier, load_prices
    from cctview_fleet.planning.requestrate import describe as describe_rate
    from cctview_fleet.planning.requestrate import request_rate
    from cctview_fleet.planning.sizing import make_plan
    from cctview_fleet.render import console, print_json

    selection = selection_from_options(cameras, catalog, bbox, online_only)
    result = make_plan(
        len(selection.cameras),
        cameras_per_node=cameras_per_node,
        retention_days=retention_days,
        fps=fps,
        frame_bytes=round(frame_kb * 1000),
        period_s=period,
        data_volume_gib=data_volume_gib,
        retained_gib=retained_gib,
        snapshot_gb=snapshot_gb,
        hold_hours=hold_hours,
        free_tier=load_free_tier(free_tier),
        prices=load_prices(prices),
    )
    rate = request_rate(result.cameras, result.nodes)
    if as_json:
        print_json(
            result.to_dict()
            | {"selection": selection.request.describe(), "request_rate": rate.to_dict()}
        )
        return
    render_plan(result, selection.request.describe())
    console.print(describe_rate(rate))


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)
