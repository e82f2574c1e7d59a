"""The fleet's settings: Pulumi config parsed once into a typed, validated :class:`FleetSettings`.

Only ``infra/__main__.py`` reads ``pulumi.Config``; it hands the raw strings to
:func:`settings_from_mapping`, which is plain Python so tests can feed it bad configurations.
Every error is a :class:`ConfigError` whose message names the key and shows a
``pulumi config set`` line that would fix it. Unknown ``cctview-fleet:`` keys are refused, so a
typo (``nodecount``) cannot silently leave a default in place.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cctview_agent.errors import ConfigError
from cctview_agent.fleetconstants import (
    DEFAULT_CAMERAS_PER_NODE,
    DEFAULT_DATA_VOLUME_GIB,
    DEFAULT_FREE_TIER,
    DEFAULT_PERIOD_S,
    DEFAULT_ROOT_VOLUME_GIB,
    FreeTier,
)
from cctview_agent.periods import validate_period_length

PROJECT = "cctview-fleet"
DEBIAN_OWNER = (
    "136693071363"  # Debian's own AWS account (https://wiki.debian.org/Cloud/AmazonEC2Image)
)
DEBIAN_12_NAME = "debian-12-amd64-*"
ENFORCEMENT_LEVELS = ("mandatory", "advisory", "disabled")

# key -> the arguments of a ``pulumi config set`` that sets it (shown in error messages).
EXAMPLES: dict[str, str] = {
    "nodeCount": "nodeCount 12",
    "instanceType": "instanceType t2.micro",
    "rootVolumeGiB": "rootVolumeGiB 8",
    "dataVolumeGiB": "dataVolumeGiB 8",
    "dataVolumeType": "dataVolumeType gp3",
    "ebsBudgetGiB": "ebsBudgetGiB 200",
    "sshPublicKey": 'sshPublicKey "$(cat ~/.ssh/id_ed25519.pub)"',
    "sshAllowedCidrs": "--path 'sshAllowedCidrs[0]' 203.0.113.7/32",
    "sshUser": "sshUser admin",
    "bucketName": "bucketName my-cctview-frames",
    "bucketPrefix": "bucketPrefix cctview",
    "lifecycleDays": "lifecycleDays 0",
    "camerasPerNode": "camerasPerNode 21",
    "amiId": "amiId ami-0123456789abcdef0",
    "amiOwner": f"amiOwner {DEBIAN_OWNER}",
    "amiNameFilter": f"amiNameFilter '{DEBIAN_12_NAME}'",
    "availabilityZone": "availabilityZone us-east-1a",
    "vpcId": "vpcId vpc-0123456789abcdef0",
    "subnetIds": "--path 'subnetIds[0]' subnet-0123456789abcdef0",
    "freeTier": "freeTier credits",
    "maxDisruptedNodes": "maxDisruptedNodes 1",
    "agentPeriod": "agentPeriod 3600",
    "contact": "contact ops@example.org",
    "policyEnforcement": "--path 'policyEnforcement.t2-family' advisory",
}
_VOLUME_TYPES = ("gp3", "gp2", "st1", "sc1")  # io1/io2 cost per IOPS: never for frames
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
_AMI = re.compile(r"^ami-[0-9a-f]{8,17}$")
_AZ = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d[a-z]$")
_VPC = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_SSH_KEY = re.compile(
    r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,3}( .*)?$"
)


@dataclass(frozen=True, slots=True)
class FleetSettings:
    """Everything the program needs to declare a fleet, validated."""

    stack: str
    region: str
    ssh_public_key: str
    ssh_allowed_cidrs: tuple[str, ...]
    node_count: int = 12
    instance_type: str = "t2.micro"
    root_volume_gib: int = DEFAULT_ROOT_VOLUME_GIB
    data_volume_gib: int = DEFAULT_DATA_VOLUME_GIB
    data_volume_type: str = "gp3"
    ebs_budget_gib: int = 200
    ssh_user: str = "admin"
    bucket_name: str | None = None  # None: Pulumi names it cctview-<stack>-<random>
    bucket_prefix: str = "cctview"
    lifecycle_days: int = 0  # 0: keep frames in S3 until you delete them
    cameras_per_node: int = DEFAULT_CAMERAS_PER_NODE
    ami_id: str | None = None  # None: the newest Debian 12 image, looked up once
    ami_owner: str = DEBIAN_OWNER
    ami_name_filter: str = DEBIAN_12_NAME
    availability_zone: str | None = None  # None: the first zone that offers instance_type
    vpc_id: str | None = None  # None: the subnets' VPC, else the region's default VPC
    subnet_ids: tuple[str, ...] = ()  # none: the VPC's default subnet in the zone
    # which free tier the account has (FreeTier); none: the legacy 12 months are over everywhere
    free_tier: str = DEFAULT_FREE_TIER.value
    max_disrupted_nodes: int = 1  # running nodes one `up` may replace or stop (disruption.py)
    agent_period: int = DEFAULT_PERIOD_S
    # Whom the camera service's operators can reach: every agent's User-Agent names it.
    contact: str = ""
    policy_enforcement: Mapping[str, str] = field(default_factory=dict)

    @property
    def fleet_tag(self) -> str:
        """The value of ``cctview:fleet``: the stack name, as the CLI discovers nodes by it."""
        return self.stack

    @property
    def ebs_total_gib(self) -> int:
        return self.node_count * (self.root_volume_gib + self.data_volume_gib)

    @property
    def capacity(self) -> int:
        """Cameras the fleet can take at ``camerasPerNode``."""
        return self.node_count * self.cameras_per_node


def _bad(key: str, why: str) -> ConfigError:
    return ConfigError(
        f"config {PROJECT}:{key} {why}; e.g. pulumi config set {EXAMPLES[key]}", key=key
    )


def _integer(raw: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = raw.get(key)
    if value is None or value == "":
        return default
    try:
        number = int(str(value).strip())
    except ValueError:
        raise _bad(key, f"must be a whole number, not {value!r}") from None
    if not low <= number <= high:
        raise _bad(key, f"must be between {low} and {high}, not {number}")
    return number


def _text(raw: Mapping[str, Any], key: str, default: str | None) -> str | None:
    value = raw.get(key)
    if value is None:
        return default
    value = str(value).strip()
    return value or default


def _matching(
    raw: Mapping[str, Any], key: str, default: str | None, pattern: re.Pattern[str], what: str
) -> str | None:
    value = _text(raw, key, default)
    if value is not None and not pattern.match(value):
        raise _bad(key, f"must be {what}, not {value!r}")
    return value


def _string_list(raw: Mapping[str, Any], key: str) -> list[str]:
    """A list from structured config (a JSON array string) or a comma-separated string."""
    value = raw.get(key)
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        items = value
    elif isinstance(value, str) and value.strip().startswith("["):
        try:
            items = json.loads(value)
        except json.JSONDecodeError:
            raise _bad(key, f"is not a valid list: {value!r}") from None
        if not isinstance(items, list):
            raise _bad(key, f"must be a list, not {value!r}")
    else:
        items = str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def _cidrs(raw: Mapping[str, Any]) -> tuple[str, ...]:
    key = "sshAllowedCidrs"
    items = _string_list(raw, key)
    if not items:
        raise _bad(key, "is required (there is no default that opens SSH to the world)")
    cidrs: list[str] = []
    for item in items:
        try:
            network = ipaddress.ip_network(item, strict=True)
        except ValueError as exc:
            raise _bad(key, f"has {item!r}, which is not a network address ({exc})") from None
        if network.prefixlen == 0:
            raise _bad(
                key,
                f"has {item!r}, which opens SSH to the whole internet; name your own "
                "address or your office's range",
            )
        cidrs.append(str(network))
    return tuple(cidrs)


def _enforcement(raw: Mapping[str, Any]) -> dict[str, str]:
    key = "policyEnforcement"
    value = raw.get(key)
    if value is None or value == "":
        return {}
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise _bad(key, f"must be a map of policy name to level, not {value!r}")
    for name, level in parsed.items():
        if level not in ENFORCEMENT_LEVELS:
            raise _bad(
                key,
                f"gives {name!r} the level {level!r}; use one of {', '.join(ENFORCEMENT_LEVELS)}",
            )
    return {str(name): str(level) for name, level in parsed.items()}


def settings_from_mapping(
    raw: Mapping[str, Any], *, stack: str, region: str | None
) -> FleetSettings:
    """Validate the ``cctview-fleet:`` keys (without the namespace) and the AWS region."""
    unknown = sorted(set(raw) - set(EXAMPLES))
    if unknown:
        raise ConfigError(
            f"config {PROJECT}:{unknown[0]} is not a setting of this program; known settings: "
            f"{', '.join(sorted(EXAMPLES))}",
            key=unknown[0],
        )
    if not region:
        raise ConfigError(
            "config aws:region is required; e.g. pulumi config set aws:region us-east-1",
            key="aws:region",
        )
    ssh_key = _text(raw, "sshPublicKey", None)
    if ssh_key is None:
        raise _bad("sshPublicKey", "is required (the public key the operator's SSH uses)")
    if ssh_key.startswith("-----BEGIN") or "PRIVATE KEY" in ssh_key:
        raise _bad("sshPublicKey", "holds a PRIVATE key; give the .pub file's one line instead")
    if not _SSH_KEY.match(ssh_key):
        raise _bad(
            "sshPublicKey", "is not an OpenSSH public key line (ssh-ed25519 AAAA... you@host)"
        )
    cidrs = _cidrs(raw)
    volume_type = _text(raw, "dataVolumeType", "gp3")
    if volume_type not in _VOLUME_TYPES:
        raise _bad(
            "dataVolumeType", f"must be one of {', '.join(_VOLUME_TYPES)}, not {volume_type!r}"
        )
    # st1/sc1 have a 125 GiB minimum; gp2/gp3 start at 1 GiB.
    data_low = 125 if volume_type in ("st1", "sc1") else 1
    settings = FleetSettings(
        stack=stack,
        region=region,
        ssh_public_key=ssh_key,
        ssh_allowed_cidrs=cidrs,
        node_count=_integer(raw, "nodeCount", 12, 1, 99),
        instance_type=_matching(
            raw, "instanceType", "t2.micro", _INSTANCE_TYPE, "an EC2 instance type like t2.micro"
        )
        or "t2.micro",
        root_volume_gib=_integer(raw, "rootVolumeGiB", DEFAULT_ROOT_VOLUME_GIB, 8, 1024),
        data_volume_gib=_integer(raw, "dataVolumeGiB", DEFAULT_DATA_VOLUME_GIB, data_low, 16384),
        data_volume_type=volume_type,
        ebs_budget_gib=_integer(raw, "ebsBudgetGiB", 200, 1, 1_000_000),
        ssh_user=_matching(raw, "sshUser", "admin", _USER, "a Unix user name") or "admin",
        bucket_name=_matching(
            raw, "bucketName", None, _BUCKET, "3-63 lower-case letters, digits, '.' or '-'"
        ),
        bucket_prefix=(
            _matching(
                raw,
                "bucketPrefix",
                "cctview",
                _PREFIX,
                "one path segment of letters, digits, '.', '_' or '-'",
            )
            or "cctview"
        ),
        lifecycle_days=_integer(raw, "lifecycleDays", 0, 0, 36500),
        cameras_per_node=_integer(raw, "camerasPerNode", DEFAULT_CAMERAS_PER_NODE, 1, 1000),
        ami_id=_matching(raw, "amiId", None, _AMI, "an AMI id like ami-0123456789abcdef0"),
        ami_owner=_text(raw, "amiOwner", DEBIAN_OWNER) or DEBIAN_OWNER,
        ami_name_filter=_text(raw, "amiNameFilter", DEBIAN_12_NAME) or DEBIAN_12_NAME,
        availability_zone=_matching(
            raw, "availabilityZone", None, _AZ, "a zone of the region like us-east-1a"
        ),
        agent_period=_period(raw),
        contact=_contact(raw),
        policy_enforcement=_enforcement(raw),
        vpc_id=_matching(raw, "vpcId", None, _VPC, "a VPC id like vpc-0123456789abcdef0"),
        subnet_ids=_subnets(raw),
        free_tier=_free_tier(raw),
        max_disrupted_nodes=_integer(raw, "maxDisruptedNodes", 1, 0, 99),
    )
    if settings.availability_zone and not settings.availability_zone.startswith(region):
        raise _bad("availabilityZone", f"{settings.availability_zone!r} is not in {region}")
    return settings


def _contact(raw: Mapping[str, Any]) -> str:
    contact = _text(raw, "contact", "") or ""
    if any(ch in contact for ch in "\r\n()"):
        raise _bad("contact", "must be one line without parentheses (an e-mail or URL)")
    return contact


def _period(raw: Mapping[str, Any]) -> int:
    period = _integer(raw, "agentPeriod", DEFAULT_PERIOD_S, 1, 3600)
    try:
        return validate_period_length(period)
    except ConfigError:
        raise _bad(
            "agentPeriod", f"= {period} must divide an hour (3600, 1800, 900, 600, 300, 60, ...)"
        ) from None


def _subnets(raw: Mapping[str, Any]) -> tuple[str, ...]:
    items = _string_list(raw, "subnetIds")
    for item in items:
        if not _SUBNET.match(item):
            raise _bad("subnetIds", f"has {item!r}, which is not a subnet id like subnet-0123abcd")
    return tuple(dict.fromkeys(items))


def _free_tier(raw: Mapping[str, Any]) -> str:
    value = _text(raw, "freeTier", DEFAULT_FREE_TIER.value) or DEFAULT_FREE_TIER.value
    if value not in {tier.value for tier in FreeTier}:
        raise _bad(
            "freeTier",
            f"must be one of {', '.join(t.value for t in FreeTier)} (accounts created on or "
            f"after 2025-07-15 have credits), not {value!r}",
        )
    return value
