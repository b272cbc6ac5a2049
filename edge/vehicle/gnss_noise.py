"""How much to trust one GNSS fix: its measurement noise for the vehicle's motion filter.

A receiver's own error estimate (GST: 1-sigma latitude and longitude errors) is used when it
sent one; otherwise HDOP times a user range error (UERE) typical of the fix's quality. Both are
floored per quality, because receivers are optimistic. The HDOP path is deliberately
conservative: HDOP x UERE approximates the *horizontal* (root-sum-square) error, and it is used
here as the error of *each* axis, a factor of about 1.4 to spare.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from protocols.nmea.fix import FixQuality

UERE_M: dict[FixQuality, float] = {
    FixQuality.RTK_FIXED: 0.05,
    FixQuality.RTK_FLOAT: 0.5,
    FixQuality.DGNSS: 1.0,
    FixQuality.GNSS: 2.5,
}
"""1-sigma user range error per fix quality, metres (conservative ends of the usual ranges)."""
FLOOR_M: dict[FixQuality, float] = {
    FixQuality.RTK_FIXED: 0.02,
    FixQuality.RTK_FLOAT: 0.2,
    FixQuality.DGNSS: 0.5,
    FixQuality.GNSS: 1.0,
}
"""The least 1-sigma per-axis position error a fix of each quality is believed to have."""
SPEED_SIGMA_MPS: dict[FixQuality, float] = {
    FixQuality.RTK_FIXED: 0.1,
    FixQuality.RTK_FLOAT: 0.15,
    FixQuality.DGNSS: 0.2,
    FixQuality.GNSS: 0.3,
}
"""1-sigma of the receiver's Doppler speed; its course error follows from it."""
MISSING_HDOP = 3.0  # a fix without HDOP is taken to have a poor geometry
MIN_COURSE_SIGMA_RAD = math.radians(1.5)  # course over ground differs from heading by slip
MIN_SPEED_FOR_COURSE_MPS = 2.0  # below a brisk walk, course over ground is mostly noise


@dataclass(frozen=True)
class GnssNoise:
    """1-sigma errors of one fix: position per axis (east, north), speed, and the quality."""

    east_sigma_m: float
    north_sigma_m: float
    speed_sigma_mps: float
    quality: FixQuality

    def course_sigma_rad(self, speed_mps: float) -> float | None:
        """The course's 1-sigma at ``speed_mps``; None when too slow for a course to mean much."""
        if not speed_mps >= MIN_SPEED_FOR_COURSE_MPS:
            return None
        return max(MIN_COURSE_SIGMA_RAD, 2.0 * self.speed_sigma_mps / speed_mps)


def fix_quality(quality: Any) -> FixQuality | None:
    """The ``FixQuality`` of a fix's quality field (an enum or its GGA code); None if unknown."""
    try:
        return FixQuality(int(quality))
    except (TypeError, ValueError):
        return None


def gnss_noise(
    quality: FixQuality,
    hdop: float | None,
    latitude_sigma_m: float | None = None,
    longitude_sigma_m: float | None = None,
    eph_m: float | None = None,
) -> GnssNoise | None:
    """The noise of a fix of ``quality``; None for a quality that is no measured position (NONE,
    or the receiver's own dead reckoning).

    GST's per-axis sigmas are used when both are finite and positive, else GST's horizontal
    error ``eph_m`` for each axis, else ``hdop`` x ``UERE_M``; each at least ``FLOOR_M``.
    """
    uere = UERE_M.get(quality)
    if uere is None:
        return None
    floor = FLOOR_M[quality]
    lat_sigma, lon_sigma = _positive(latitude_sigma_m), _positive(longitude_sigma_m)
    eph = _positive(eph_m)
    if lat_sigma is not None and lon_sigma is not None:
        east, north = lon_sigma, lat_sigma
    elif eph is not None:
        east = north = eph
    else:
        dop = _positive(hdop)
        east = north = (dop if dop is not None and dop < 100 else MISSING_HDOP) * uere
    return GnssNoise(max(east, floor), max(north, floor), SPEED_SIGMA_MPS[quality], quality)


def _positive(value: float | None) -> float | None:
    """``value`` when it is a finite positive number, else None."""
    return value if value is not None and math.isfinite(value) and value > 0 else None
