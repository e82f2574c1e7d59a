"""The sun's elevation at a place and time, for "daylight only" selections of training data.

NOAA's solar position equations (the ones behind its solar calculator, after Meeus' "Astronomical
Algorithms"): the sun's declination and the equation of time from the Julian century, then the
hour angle at the camera. Accurate to a fraction of a degree between 1800 and 2100, which is far
more than deciding whether a traffic camera sees daylight needs. Atmospheric refraction is left
out: at the horizon it lifts the sun by about 0.57 degrees, which is why :data:`DAYLIGHT_DEGREES`
(the sun's centre at -0.833 degrees, the usual sunrise/sunset definition) stands for "sun up".
No dependency: the arithmetic is a dozen lines.
"""

from __future__ import annotations

import math

DAYLIGHT_DEGREES = -0.833  # sunrise and sunset: the upper limb on the horizon, with refraction


def solar_elevation(latitude: float, longitude: float, ts_ms: int) -> float:
    """Degrees of the sun's centre above the horizon at (latitude, longitude), UTC ``ts_ms``."""
    julian_day = ts_ms / 86_400_000 + 2_440_587.5
    t = (julian_day - 2_451_545.0) / 36_525  # Julian centuries since J2000.0
    mean_longitude = math.radians((280.46646 + t * (36000.76983 + t * 0.0003032)) % 360)
    mean_anomaly = math.radians(357.52911 + t * (35999.05029 - 0.0001537 * t))
    eccentricity = 0.016708634 - t * (0.000042037 + 0.0000001267 * t)
    centre = math.radians(
        math.sin(mean_anomaly) * (1.914602 - t * (0.004817 + 0.000014 * t))
        + math.sin(2 * mean_anomaly) * (0.019993 - 0.000101 * t)
        + math.sin(3 * mean_anomaly) * 0.000289
    )
    omega = math.radians(125.04 - 1934.136 * t)
    apparent_longitude = mean_longitude + centre - math.radians(0.00569 + 0.00478 * math.sin(omega))
    seconds = 21.448 - t * (46.815 + t * (0.00059 - t * 0.001813))
    obliquity = math.radians(23 + (26 + seconds / 60) / 60 + 0.00256 * math.cos(omega))
    declination = math.asin(math.sin(obliquity) * math.sin(apparent_longitude))
    y = math.tan(obliquity / 2) ** 2
    equation_of_time = 4 * math.degrees(  # minutes
        y * math.sin(2 * mean_longitude)
        - 2 * eccentricity * math.sin(mean_anomaly)
        + 4 * eccentricity * y * math.sin(mean_anomaly) * math.cos(2 * mean_longitude)
        - 0.5 * y * y * math.sin(4 * mean_longitude)
        - 1.25 * eccentricity * eccentricity * math.sin(2 * mean_anomaly)
    )
    minutes_of_day = (ts_ms / 60_000) % 1440
    true_solar_minutes = (minutes_of_day + equation_of_time + 4 * longitude) % 1440
    hour_angle = math.radians(true_solar_minutes / 4 - 180)
    lat = math.radians(latitude)
    cos_zenith = math.sin(lat) * math.sin(declination) + math.cos(lat) * math.cos(
        declination
    ) * math.cos(hour_angle)
    return 90 - math.degrees(math.acos(max(-1.0, min(1.0, cos_zenith))))


def is_daylight(latitude: float, longitude: float, ts_ms: int) -> bool:
    """True when the sun is up at the camera (its centre above :data:`DAYLIGHT_DEGREES`)."""
    return solar_elevation(latitude, longitude, ts_ms) > DAYLIGHT_DEGREES
