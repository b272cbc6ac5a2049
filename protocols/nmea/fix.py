"""The values NMEA decoding produces: fix quality and mode, error estimates, one merged fix."""

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


class FixMode(enum.IntEnum):
    """The dimension of a fix; values are the GSA mode codes (and gpsd's TPV ``mode``)."""

    NO_FIX = 1
    FIX_2D = 2
    FIX_3D = 3


class AltitudeReference(enum.Enum):
    """What ``GnssFix.altitude_m`` is measured from."""

    ELLIPSOID = "ellipsoid"  # WGS-84 ellipsoidal height: GGA altitude + geoid separation
    MSL = "msl"  # GGA altitude above mean sea level (the geoid), no separation given


# ErrorEstimate and FaultDetection are the GST and GBS sentences' fields under the same names,
# as a fix keeps them (without the sentence's talker and time): the assembler copies by name.
@dataclass(frozen=True)
class ErrorEstimate:
    """A GST sentence: the receiver's 1-sigma position errors, in metres and degrees."""

    rms_m: float | None  # RMS of the pseudorange residuals
    major_m: float | None  # semi-major axis of the error ellipse
    minor_m: float | None
    orientation_deg: float | None  # of the semi-major axis, from true north
    latitude_m: float | None
    longitude_m: float | None
    altitude_m: float | None


@dataclass(frozen=True)
class FaultDetection:
    """A GBS sentence: receiver autonomous integrity monitoring (RAIM) results.

    ``*_error_m`` are the expected 1-sigma errors; ``failed_satellite`` is the most likely
    failed satellite (None when no failure was detected), with its probability of missed
    detection and the estimated bias (and its standard deviation) on its range.
    """

    latitude_error_m: float | None
    longitude_error_m: float | None
    altitude_error_m: float | None
    failed_satellite: int | None
    missed_detection_probability: float | None
    bias_m: float | None
    bias_sigma_m: float | None


@dataclass(frozen=True)
class GnssFix:
    """One epoch of a GNSS receiver, merged from the sentences it sent for that epoch.

    Position, ``quality``, ``satellites`` and ``hdop`` come from GGA, else GNS, else RMC,
    else GLL. ``altitude_m`` is the ellipsoidal height when GGA (else GNS) gives both
    altitude and geoid separation, else the MSL altitude; ``altitude_reference`` says
    which. Speed and course come from RMC, else VTG. ``time`` is UTC; its date comes from
    ZDA, else RMC, else the last date seen (None before any). Fields the sentences did not
    carry are None.

    The fields after ``talker`` were added later and have defaults:

    * ``mode``: from GSA when the epoch had one; otherwise inferred as gpsd does (no position,
      quality NONE or a GGA with under 3 satellites used: NO_FIX; GGA or GNS with an
      altitude: 3D; any other position: 2D).
    * ``pdop``, ``vdop``, ``satellites_used``: from GSA (the IDs as the receiver numbers
      them, merged over the epoch's GSAs; ``hdop`` falls back to GSA's without a GGA).
    * ``satellites_in_view``: ``(constellation, count)`` pairs from GSV, sorted by name;
      constellations are ``gps``, ``glonass``, ``galileo``, ``beidou``, ``qzss``, ``navic``,
      and ``gnss`` for a GN talker without a system ID.
    * ``eph_m``, ``epv_m``: horizontal (root-sum-square of latitude and longitude) and
      vertical 1-sigma errors from GST; ``errors`` is the whole GST.
    * ``heading_deg``: true heading from HDT, else THS (when THS does not say invalid).
    * ``fault_detection``: GBS. ``sentences``: how many sentences were merged into this fix.
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
    mode: FixMode | None = None
    pdop: float | None = None
    vdop: float | None = None
    satellites_used: tuple[int, ...] | None = None
    satellites_in_view: tuple[tuple[str, int], ...] | None = None
    eph_m: float | None = None
    epv_m: float | None = None
    errors: ErrorEstimate | None = None
    heading_deg: float | None = None
    fault_detection: FaultDetection | None = None
    sentences: int = 0
