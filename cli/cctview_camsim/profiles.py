"""How each simulated camera behaves: its picture cadence, picture size and network latency.

Two named service profiles:

- ``real`` (the default) reproduces webcams.nyctmc.org as public evidence describes it (sources in
  docs/camsim.md): most cameras show a new picture every ~1-4 s, some every ~15 s; each interval
  varies from picture to picture, and now and then a picture is held for an extra interval (the
  "irregular repeats" pollers see); 352x240 frames of 13-24 KB, 720x480 frames of 17-38 KB for
  state highway cameras (names like ``C1-…``); 150-470 ms a request.
- ``easy`` is the fast stand-in for tests that are not about the service's habits: every camera
  rolls over every ``refresh`` seconds on a fixed grid, 352x240 frames of ~20 KB, no latency.

A camera's :class:`CameraProfile` is a pure function of (service profile, camera, seed), so a test
can know in advance what any camera does.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, replace

from cctview_agent.cameras import Camera
from cctview_camsim.profilename import ProfileName

STATE_HIGHWAY = re.compile(r"^C\d+-")  # "C1-MDE-14-NB_at_Mosholu_Pkwy-Ex12"
CITY_SIZE = (352, 240)
HIGHWAY_SIZE = (720, 480)
# Texture strength -> JPEG size (measured with Pillow's libjpeg at quality 75, see docs/camsim.md):
# at 352x240 0.05 gives ~13 KB and 0.24 ~24 KB; at 720x480 0.0 gives ~21 KB (the scene's shapes
# alone) and 0.075 ~38 KB.
CITY_NOISE = (0.05, 0.24)
HIGHWAY_NOISE = (0.0, 0.075)
EASY_NOISE = 0.16  # ~20 KB at 352x240: the figure the easy frames always had


@dataclass(frozen=True, slots=True)
class CameraProfile:
    """One camera's habits. ``jitter`` and ``hold_chance`` are zero on a fixed grid."""

    period: float  # nominal seconds between pictures
    jitter: float  # each interval is period * (1 ± jitter), drawn per picture
    hold_chance: float  # chance a picture stays up for one more interval
    width: int
    height: int
    noise: float  # texture strength, which sets the JPEG size
    latency: tuple[float, float]  # seconds before the answer leaves, drawn per request

    @property
    def fixed(self) -> bool:
        return self.jitter == 0 and self.hold_chance == 0


@dataclass(frozen=True, slots=True)
class ServiceProfile:
    """How the cameras of one simulator are drawn."""

    name: ProfileName
    refresh: float | None = None  # easy: every camera's fixed period
    fast_period: tuple[float, float] = (1.0, 4.0)  # most cameras: a period in this range
    slow_share: float = 0.12  # the share of cameras with the slow period
    slow_period: tuple[float, float] = (13.0, 17.0)
    jitter: float = 0.15
    hold_chance: float = 0.05
    latency: tuple[float, float] = (0.15, 0.47)

    def camera(self, camera: Camera, seed: int) -> CameraProfile:
        """The profile of ``camera``: deterministic in (profile, camera id and name, seed)."""
        if self.name is ProfileName.EASY:
            assert self.refresh is not None
            width, height = CITY_SIZE
            return CameraProfile(self.refresh, 0.0, 0.0, width, height, EASY_NOISE, self.latency)
        rng = random.Random(_seed_bytes(camera.id, seed))
        if rng.random() < self.slow_share:
            period = rng.uniform(*self.slow_period)
        else:
            period = rng.uniform(*self.fast_period)
        highway = bool(STATE_HIGHWAY.match(camera.name))
        width, height = HIGHWAY_SIZE if highway else CITY_SIZE
        noise = rng.uniform(*(HIGHWAY_NOISE if highway else CITY_NOISE))
        return CameraProfile(
            period, self.jitter, self.hold_chance, width, height, noise, self.latency
        )


def _seed_bytes(camera_id: str, seed: int) -> bytes:
    return hashlib.blake2b(f"{seed}:{camera_id}".encode(), digest_size=16).digest()


def service_profile(
    name: ProfileName,
    *,
    refresh: float | None = None,
    latency: tuple[float, float] | None = None,
) -> ServiceProfile:
    """The named profile; ``easy`` takes ``refresh`` (1 s) and no latency unless ``latency``."""
    if name is ProfileName.EASY:
        profile = ServiceProfile(name=name, refresh=refresh or 1.0, latency=(0.0, 0.0))
    else:
        profile = ServiceProfile(name=name)
    return profile if latency is None else replace(profile, latency=latency)
