"""The cost model: AWS prices in one dated table, the free tier, and monthly cost lines.

One model, used by both sides so the numbers never disagree: the Pulumi program (infra/) warns
when the fleet it declares leaves the free tier, and ``cctview-fleet plan`` prints the cost table.
The table itself (:class:`Prices`, :class:`FreeTier`) lives in the dependency-free
:mod:`cctview_agent.fleetconstants` with the other shared figures; this module computes with it.

Prices differ by region and change; the table says where and when they were read, and
docs/operations.md ("What a month costs") cites the pages. Override
any of them with a JSON file, ``{"ec2_hour_usd": 0.0126, "as_of": "2026-01-01 eu-west-1"}``,
named by ``--prices FILE`` (plan) or ``$CCTVIEW_PRICES``. An unknown key is refused, so a typo
cannot silently leave the old price in place.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from cctview_agent.fleetconstants import (
    DEFAULT_FREE_TIER,
    DEFAULT_PRICES,
    GB,
    HOURS_PER_MONTH,
    FreeTier,
    Prices,
)
from cctview_fleet.errors import ConfigError

PRICES_ENV = "CCTVIEW_PRICES"
FREE_TIER_ENV = "CCTVIEW_FREE_TIER"


def load_prices(path: Path | None = None) -> Prices:
    """The default table, overridden by ``path`` or, when it is None, by ``$CCTVIEW_PRICES``."""
    if path is None and os.environ.get(PRICES_ENV):
        path = Path(os.environ[PRICES_ENV])
    if path is None:
        return DEFAULT_PRICES
    try:
        raw = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(
            f"cannot read prices file {path}: {exc.strerror or exc}", key="prices", path=path
        ) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f'prices file {path} is not JSON ({exc}); example: {{"ec2_hour_usd": 0.0116}}',
            key="prices",
            path=path,
        ) from exc
    return prices_from_mapping(raw, source=str(path))


def load_free_tier(value: str | None = None) -> FreeTier:
    """``value`` (a flag), else ``$CCTVIEW_FREE_TIER``, else none (:data:`DEFAULT_FREE_TIER`:
    no account still has the legacy tier's 12 months)."""
    value = value or os.environ.get(FREE_TIER_ENV) or DEFAULT_FREE_TIER.value
    try:
        return FreeTier(value.strip().lower())
    except ValueError:
        raise ConfigError(
            f"free tier {value!r} is not one of {', '.join(t.value for t in FreeTier)}; "
            "accounts created on or after 2025-07-15 have 'credits', e.g. --free-tier credits",
            key="free_tier",
        ) from None


def for_free_tier(prices: Prices, tier: FreeTier) -> Prices:
    """The prices with the allowances ``tier`` grants: the legacy tier keeps the table's, the
    other two have none (credits are money, not allowances: see :func:`credit_months`)."""
    if tier is FreeTier.LEGACY:
        return prices
    none: dict[str, Any] = {f.name: 0.0 for f in fields(Prices) if f.name.startswith("free_")}
    return replace(prices, **none)


def credit_months(monthly_usd: float, prices: Prices) -> float:
    """How many months the credit-based free tier's credits pay ``monthly_usd`` (capped at the
    months the credits are valid for)."""
    if monthly_usd <= 0:
        return prices.credits_months
    return min(prices.credits_months, prices.credits_usd / monthly_usd)


def prices_from_mapping(raw: Any, *, source: str = "prices") -> Prices:
    """Validate an override mapping: known keys only, numbers non-negative and finite."""
    if not isinstance(raw, dict):
        raise ConfigError(f'{source} must be a JSON object like {{"ec2_hour_usd": 0.0116}}')
    known = {f.name: f for f in fields(Prices)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(
                f"{source}: unknown price {key!r}; known: {', '.join(sorted(known))}", key=key
            )
        if key in ("as_of", "instance_type"):
            if not isinstance(value, str) or not value:
                raise ConfigError(f'{source}: {key} must be text, e.g. "2026-01 eu-west-1"')
            values[key] = value
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise ConfigError(
                f"{source}: {key} must be a non-negative number, not {value!r}; "
                f'example: {{"{key}": {getattr(DEFAULT_PRICES, key)}}}',
                key=key,
            )
        values[key] = float(value)
    return replace(DEFAULT_PRICES, **values)


@dataclass(frozen=True, slots=True)
class CostLine:
    """One line of a monthly bill: what is used, how much of it the free tier covers, the cost."""

    item: str
    quantity: float
    unit: str
    free: float
    billable: float
    usd: float

    @property
    def free_tier_use(self) -> float:
        """The fraction of the free allowance used (above 1.0: the free tier is exceeded)."""
        return self.quantity / self.free if self.free else math.inf

    @classmethod
    def metered(
        cls, item: str, quantity: float, unit: str, *, free: float, usd_per_unit: float
    ) -> CostLine:
        """A line billed per unit above a free allowance (every AWS free tier works this way)."""
        billable = max(0.0, quantity - free)
        return cls(item, quantity, unit, free, billable, billable * usd_per_unit)


def ec2_line(nodes: int, prices: Prices = DEFAULT_PRICES) -> CostLine:
    return CostLine.metered(
        f"EC2 {prices.instance_type}",
        nodes * HOURS_PER_MONTH,
        "instance-hours",
        free=prices.free_ec2_hours,
        usd_per_unit=prices.ec2_hour_usd,
    )


def ebs_line(total_gib: float, prices: Prices = DEFAULT_PRICES) -> CostLine:
    """EBS volumes: AWS counts the provisioned size; a GiB-sized volume is billed as GB-months."""
    return CostLine.metered(
        "EBS gp3",
        total_gib,
        "GB-months",
        free=prices.free_ebs_gb,
        usd_per_unit=prices.ebs_gb_month_usd,
    )


def ipv4_line(addresses: int, prices: Prices = DEFAULT_PRICES) -> CostLine:
    """Public IPv4: every node has one (SSH reaches it there), billed by the hour since 2024."""
    return CostLine.metered(
        "Public IPv4",
        addresses * HOURS_PER_MONTH,
        "address-hours",
        free=prices.free_ipv4_hours,
        usd_per_unit=prices.ipv4_hour_usd,
    )


def snapshot_line(stored_gb: float, prices: Prices = DEFAULT_PRICES) -> CostLine:
    """EBS snapshots: billed by the GB they store, whatever the volume's size."""
    return CostLine.metered(
        "EBS snapshots",
        stored_gb,
        "GB-months",
        free=prices.free_snapshot_gb,
        usd_per_unit=prices.snapshot_gb_month_usd,
    )


def s3_storage_line(stored_bytes: float, prices: Prices = DEFAULT_PRICES) -> CostLine:
    return CostLine.metered(
        "S3 storage",
        stored_bytes / GB,
        "GB-months",
        free=prices.free_s3_gb,
        usd_per_unit=prices.s3_gb_month_usd,
    )


def s3_requests_line(puts: float, item: str, prices: Prices = DEFAULT_PRICES) -> CostLine:
    return CostLine.metered(
        item,
        puts,
        "PUT requests",
        free=prices.free_s3_puts,
        usd_per_unit=prices.s3_put_per_1000_usd / 1000,
    )


def free_tier_warnings(
    node_count: int, ebs_total_gib: float, prices: Prices = DEFAULT_PRICES
) -> list[str]:
    """What leaves the free tier, one sentence each (empty when the fleet fits it). With no
    allowances (``for_free_tier`` of credits or none) every billed line is named."""
    warnings: list[str] = []
    ec2 = ec2_line(node_count, prices)
    if ec2.billable > 0:
        warnings.append(
            f"{node_count} nodes x {HOURS_PER_MONTH:.0f} h = {ec2.quantity:,.0f} instance-hours "
            f"a month {_beyond(prices.free_ec2_hours, 'h')}: about "
            f"${ec2.usd:,.2f}/month for EC2 (prices {prices.as_of})"
        )
    ipv4 = ipv4_line(node_count, prices)
    if ipv4.billable > 0:
        warnings.append(
            f"{node_count} public IPv4 addresses x {HOURS_PER_MONTH:.0f} h = "
            f"{ipv4.quantity:,.0f} address-hours a month {_beyond(prices.free_ipv4_hours, 'h')}: "
            f"about ${ipv4.usd:,.2f}/month at ${prices.ipv4_hour_usd}/h each "
            f"(prices {prices.as_of})"
        )
    ebs = ebs_line(ebs_total_gib, prices)
    if ebs.billable > 0:
        warnings.append(
            f"EBS in total {ebs_total_gib:,.0f} GB (root and data volumes) "
            f"{_beyond(prices.free_ebs_gb, 'GB')}: about ${ebs.usd:,.2f}/month for EBS "
            f"(prices {prices.as_of})"
        )
    return warnings


def _beyond(free: float, unit: str) -> str:
    if free:
        return f"exceeds the free tier's {free:,.0f} {unit}"
    return "has no free allowance in this free tier"
