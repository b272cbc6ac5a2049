"""Local east-north coordinates around a reference point, and back to WGS84.

A flat-earth (equirectangular) approximation: within the few hundred metres a roadside sensor
sees, its error is millimetres, far below radar and GNSS error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_378_137.0  # WGS84 semi-major axis


@dataclass(frozen=True, slots=True)
class GeoPoint:
    latitude_deg: float
    longitude_deg: float
    altitude_m: float = 0.0

    def offset(self, east_m: float, north_m: float, up_m: float = 0.0) -> GeoPoint:
        """The point ``east_m``/``north_m``/``up_m`` metres away from this one."""
        lat = self.latitude_deg + math.degrees(north_m / EARTH_RADIUS_M)
        lon = self.longitude_deg + math.degrees(
            east_m / (EARTH_RADIUS_M * math.cos(math.radians(self.latitude_deg)))
        )
        return GeoPoint(lat, lon, self.altitude_m + up_m)

    def east_north_of(self, other: GeoPoint) -> tuple[float, float]:
        """``other``'s position east and north of this point, in metres."""
        north = math.radians(other.latitude_deg - self.latitude_deg) * EARTH_RADIUS_M
        east = (
            math.radians(other.longitude_deg - self.longitude_deg)
            * EARTH_RADIUS_M
            * math.cos(math.radians(self.latitude_deg))
        )
        return east, north


def sensor_to_east_north(x_m: float, y_m: float, heading_rad: float) -> tuple[float, float]:
    """Rotate a sensor-frame vector (x forward, y left) into east/north.

    ``heading_rad`` is the sensor boresight, clockwise from true north.
    """
    sin_h, cos_h = math.sin(heading_rad), math.cos(heading_rad)
    # forward = (sin h, cos h) in east/north; left = forward turned 90 degrees anticlockwise.
    return x_m * sin_h - y_m * cos_h, x_m * cos_h + y_m * sin_h


def east_north_to_sensor(east_m: float, north_m: float, heading_rad: float) -> tuple[float, float]:
    """Inverse of ``sensor_to_east_north``: east/north into (x forward, y left)."""
    sin_h, cos_h = math.sin(heading_rad), math.cos(heading_rad)
    return east_m * sin_h + north_m * cos_h, -east_m * cos_h + north_m * sin_h


def heading_of(east: float, north: float) -> float:
    """Course of a velocity vector, rad clockwise from north in [0, 2*pi)."""
    course = math.atan2(east, north) % math.tau
    # A tiny negative angle rounds up to exactly tau: that is north, 0.
    return 0.0 if course == math.tau else course
