"""The CLI's default figures: what a flag shows in ``--help`` and what the library assumes.

Each value is used twice, by the typer option that offers it and by the library function that
takes it, and lives here so that the command modules can show it without importing the library
(boto3, paramiko, the catalog's HTTP stack...): ``cctview-fleet --help`` stays fast
(bench/startup_bench.py). The library modules import their defaults from here too, so there is
one value. Figures shared with the Pulumi program and the agent are in
:mod:`cctview_agent.fleetconstants` instead. Standard library only, on purpose.
"""

from __future__ import annotations

# Fleet operations (fleetops, ssh, nodehealth).
DEFAULT_PARALLEL = 16  # nodes worked on at once
DEFAULT_CONNECT_TIMEOUT = 5.0  # seconds for an SSH connection to a node
DEFAULT_HEALTH_TIMEOUT = 600.0  # a replaced t2.micro boots and installs the agent in minutes

# The camera catalog (catalog).
DEFAULT_CATALOG_URL = "https://webcams.nyctmc.org/api/cameras"
CATALOG_ENV = "CCTVIEW_CATALOG"

# Sizing a fleet (planning, capacity).
DEFAULT_RETENTION_DAYS = 30
DEFAULT_FRAME_BYTES = 20_000  # a NYC DOT JPEG is about 20 KB
DEFAULT_FPS = 1.0  # the best a feed gives
DEFAULT_HOLD_HOURS = 4.0  # hours of frames a data volume must hold between syncs

# Volumes (volumes).
DEFAULT_THRESHOLD = 80.0  # disk use in percent from which rotate-volumes swaps a volume

# Data sets (shardselect, trainingset).
URL_FORMS: tuple[str, ...] = ("s3", "https", "pipe")  # how `dataset shards` spells a shard
DEFAULT_STREAMS = 8  # shards read at once by `dataset build`
