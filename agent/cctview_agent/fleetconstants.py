"""The fleet's shared constants: tag keys, default figures and the price table, in one place.

Three programs read the same names and numbers: the Pulumi program (infra/) declares resources
with these tags and sizes, the CLI finds nodes and volumes by them and prices a plan with them,
and the local fleet (devfleet) tags its stand-in instances with them. Written once here, they
cannot drift apart. This module imports only the standard library on purpose: the Pulumi program
and the CLI's fast start both import it without pulling in boto3, paramiko, rich or pulumi.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# -- Tag keys (docs/infra.md, "Identity and discovery") -----------------------------------------
# Identity: on everything the fleet owns, and on a node's instance and volumes.
FLEET_TAG = "cctview:fleet"  # <stack>; the CLI discovers the fleet by it
NODE_TAG = "cctview:node"  # node-NN
GENERATION_TAG = "cctview:generation"  # data volumes: 1 is Pulumi's, 2 and up rotate-volumes'
ROLE_TAG = "cctview:role"  # "node", "data", "root", "bucket", ... for people reading the console
SPEC_TAG = "cctview:spec"  # instances: digests of the inputs a change of which replaces them
# SSH address overrides (bastions, the local fleet).
SSH_HOST_TAG = "cctview:ssh-host"
SSH_PORT_TAG = "cctview:ssh-port"
# Volume rotation's progress, kept on the volumes so an interrupted rotation resumes.
ROTATION_TAG = "cctview:rotation"  # a RotationState (below)
ROTATION_FROM_TAG = "cctview:rotation-from"  # on the new volume: the volume it replaces
ROTATION_TO_TAG = "cctview:rotation-to"  # on the old volume: the volume replacing it
ROTATION_SNAPSHOT_TAG = "cctview:rotation-snapshot"  # the operator's --snapshot choice
ROTATION_KEEP_TAG = "cctview:rotation-keep"  # the operator's --keep choice
SNAPSHOT_TAG = "cctview:snapshot"  # on the old volume: the snapshot taken of it
VOLUME_TAG = "cctview:volume"  # on a snapshot: the volume it was taken of
# `cctview-fleet upgrade`, on instances: its progress (<sha16>:<step>), and the wheel a node runs
# once upgraded (its digest and key). The program sets the last two on a new node, and the user
# data reads them at boot (a replaced node installs what its predecessor ran).
UPGRADE_TAG = "cctview:upgrade"
AGENT_TAG = "cctview:agent-sha256"
AGENT_KEY_TAG = "cctview:agent-key"
# The agent's hashed lock inside its wheel (the wheel's sha256 covers it): first boot and the
# upgrade's stage install every dependency from it with --require-hashes, then the wheel alone.
NODE_LOCK_MEMBER = "cctview_agent/locks/node.lock"
# On an instance: the data volume it runs on (set by the program for generation 1, moved by
# rotate-volumes at the switch); its user data reads it at boot through the metadata service.
DATA_VOLUME_TAG = "cctview:data-volume"
# The device name in EC2's attachment record of a node's data volume: Pulumi's attachment of
# generation 1 and `roll`'s re-attachment of a later one use it, and the user data passes it to
# `volume prepare` (a Xen instance shows it as /dev/xvdf; Nitro finds the volume by its id).
DATA_VOLUME_DEVICE = "/dev/sdf"


class RotationState(StrEnum):
    """The value of :data:`ROTATION_TAG`: where a volume stands in a rotation, in step order.

    The new volume walks created -> attached -> prepared -> switched -> complete; the old one
    draining -> retired -> detached (-> snapshotted) -> kept, or is deleted. From retired on,
    the old volume's periods are verified in S3 (teardown relies on it).
    """

    CREATED = "created"
    ATTACHED = "attached"
    PREPARED = "prepared"
    SWITCHED = "switched"
    COMPLETE = "complete"
    DRAINING = "draining"
    RETIRED = "retired"
    DETACHED = "detached"
    SNAPSHOTTED = "snapshotted"
    KEPT = "kept"


# -- Environment shared by the CLI and the Pulumi program ---------------------------------------
ROLL_ENV = "CCTVIEW_ROLL"  # set by `cctview-fleet roll`; the program's disruption guard reads it

# -- Fleet defaults: `plan`, `assign` and the Pulumi program's settings ------------------------
DEFAULT_CAMERAS_PER_NODE = 21  # what one t2.micro polled within its 10 % CPU baseline
DEFAULT_ROOT_VOLUME_GIB = 8  # the Debian 12 AMI's root snapshot; it cannot be smaller
DEFAULT_DATA_VOLUME_GIB = 8  # ~5 h of 21 cameras at 1 fps; sync ships each hour away
DEFAULT_PERIOD_S = 3600  # one packed object per camera-hour

# -- Units and the price table (cctview_fleet.planning.costs computes with them) ---------------
HOURS_PER_MONTH = 730.0  # AWS bills a "month" as 730 hours
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
GB = 1_000_000_000  # AWS prices storage per GB (decimal) ...
GIB = 1024**3  # ... while disks and file systems speak GiB


@dataclass(frozen=True, slots=True)
class Prices:
    """On-demand prices, us-east-1, and the legacy (12-month) free tier's allowances.

    Read 2025-04 (EC2, EBS, S3) and 2026-12 (public IPv4, snapshots, the free-tier change); the
    allowances apply only under :attr:`FreeTier.LEGACY` (see ``costs.for_free_tier``).
    """

    as_of: str = "2025-04/2026-12 us-east-1"
    instance_type: str = "t2.micro"
    ec2_hour_usd: float = 0.0116  # t2.micro, Linux, on demand
    ebs_gb_month_usd: float = 0.08  # gp3
    snapshot_gb_month_usd: float = 0.05  # EBS snapshot, Standard tier, per GB stored
    ipv4_hour_usd: float = 0.005  # every public IPv4 address, in use or idle, since 2024-02-01
    s3_gb_month_usd: float = 0.023  # S3 Standard, first 50 TB
    s3_put_per_1000_usd: float = 0.005  # PUT, COPY, POST, LIST
    free_ec2_hours: float = 750.0  # t2.micro hours a month, all instances together
    free_ipv4_hours: float = 750.0  # public IPv4 address-hours on EC2, all addresses together
    free_ebs_gb: float = 30.0  # EBS GB-months, root volumes included
    free_snapshot_gb: float = 1.0
    free_s3_gb: float = 5.0
    free_s3_puts: float = 2000.0
    credits_usd: float = 200.0  # credit-based free tier (accounts from 2025-07-15): $200 credits
    credits_months: float = 6.0  # ... usable for six months (the Free plan then closes)


class FreeTier(StrEnum):
    """Which free tier the account has (AWS changed it on 15 July 2025).

    :data:`DEFAULT_FREE_TIER` is ``none``: the legacy tier lasted 12 months from sign-up and
    only accounts created before 15 July 2025 had it, so by 15 July 2026 no account still does;
    ``legacy`` and ``credits`` stay selectable for a plan of what was (or a credits account).
    """

    LEGACY = "legacy"  # created before 2025-07-15: 12 months of 750 h t2.micro, 30 GB EBS, ...
    CREDITS = "credits"  # created on or after 2025-07-15: credits, no hour or GB allowances
    NONE = "none"  # the 12 months or the credits are over: every hour is billed


DEFAULT_FREE_TIER = FreeTier.NONE  # every account's 12 legacy months ended by 2026-07-15


DEFAULT_PRICES = Prices()
