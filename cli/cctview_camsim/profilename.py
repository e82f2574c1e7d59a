"""The names of the simulator's service profiles, alone: `cctview-fleet dev up --camsim-profile`
offers them in every CLI start, which must not load the profiles' own machinery."""

from __future__ import annotations

import enum


class ProfileName(enum.StrEnum):
    REAL = "real"
    EASY = "easy"
