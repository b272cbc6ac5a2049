"""Local east-north coordinates around a reference point, and back to WGS84.

The exact WGS84 east-north-up frame of ``edge.geodesy`` (a flat-earth shortcut would be 0.8 m
off at 300 m, more than a radar's error), for one point at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.geodesy import LocalFrame


@dataclass(frozen=True, slots=True)
class GeoPoint:
    latitude_deg: float
    longitude_deg: float
    altitude_m: float = 0.0

    @property
    def coordinates(self) -> tuple[float, float, float]:
        return self.latitude_deg, self.longitude_deg, self.altitude_m

    def offset(self, east_m: float, north_m: float, up_m: float = 0.0) -> GeoPoint:
        """The point ``east_m``/``north_m``/``up_m`` metres away from this one, in its local
        east-north-up frame; not finite (NaN) when any input is not."""
        if not all(map(math.isfinite, (*self.coordinates, east_m, north_m, up_m))):
            return GeoPoint(math.nan, math.nan, math.nan)  # for the publish guard to refuse
        lat, lon, alt = _frame_at(self).enu_to_geodetic(east_m, north_m, up_m)
        return GeoPoint(float(lat), float(lon), float(alt))

    def east_north_of(self, other: GeoPoint) -> tuple[float, float]:
        """``other``'s position east and north of this point (in its local frame), metres;
        NaN when a coordinate is not finite."""
        if not all(map(math.isfinite, (*self.coordinates, *other.coordinates))):
            return math.nan, math.nan
        east, north, _ = _frame_at(self).geodetic_to_enu(
            other.latitude_deg, other.longitude_deg, other.altitude_m
        )
        return float(east), float(north)


@lru_cache(maxsize=64)
def _frame_at(origin: GeoPoint) -> LocalFrame:
    # Imported here: edge.geodesy builds frames from GeoPoints (a cycle at import time).
    from edge.geodesy import LocalFrame

    return LocalFrame.of(origin)


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
