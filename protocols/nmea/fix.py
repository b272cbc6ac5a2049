"""The values NMEA decoding produces: a fix quality and one merged GNSS fix."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class FixQuality(enum.IntEnum):
    """How good a position is; values are the GGA quality codes."""

    NONE = 0
    GNSS = 1
    DGNSS = 2
    RTK_FIXED = 4
    RTK_FLOAT = 5
    DEAD_RECKONING = 6


class AltitudeReference(enum.Enum):
    """What ``GnssFix.altitude_m`` is measured from."""

    ELLIPSOID = "ellipsoid"  # WGS-84 ellipsoidal height: GGA altitude + geoid separation
    MSL = "msl"  # GGA altitude above mean sea level (the geoid), no separation given


@dataclass(frozen=True)
class GnssFix:
    """One epoch of a GNSS receiver, from its GGA and/or RMC sentence.

    ``altitude_m`` is the ellipsoidal height when GGA gives both altitude and geoid
    separation, else the MSL altitude; ``altitude_reference`` says which. Fields the
    sentences did not carry are None. ``time`` is UTC; a GGA-only epoch takes its date from
    the last RMC seen, and is None before any RMC.
    """

    time: datetime | None
    latitude_deg: float | None
    longitude_deg: float | None
    altitude_m: float | None
    altitude_reference: AltitudeReference | None
    speed_mps: float | None
    course_deg: float | None
    quality: FixQuality
    satellites: int | None
    hdop: float | None
    talker: str
