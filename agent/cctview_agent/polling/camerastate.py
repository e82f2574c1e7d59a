"""What a camera's ``state`` can be: the values the agent writes into its status and logs.

A ``Literal`` rather than an enum: the states travel as plain strings (the status JSON, the
``camera_state`` log lines, ``cctview-fleet status``), and the type checker then rejects a
misspelt state wherever one is set or compared (mypy's strict equality), at no cost at run time.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

CameraState: TypeAlias = Literal[
    "starting",  # polling has not answered yet
    "ok",  # frames arrive
    "failing",  # fetches fail (HTTP errors, timeouts); the failure kind is in the log line
    "offline",  # the camera serves the NYC DOT placeholder picture instead of a frame
    "frozen",  # frames arrive but the picture has not changed for `frozen_after` seconds
    "stopped",  # the poller ended (reassignment, shutdown)
]
