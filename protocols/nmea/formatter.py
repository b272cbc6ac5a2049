"""Write GGA, RMC, VTG, ZDA, GST and HDT sentences with checksums (for simulated receivers)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from protocols.nmea.fields import GNSS_TALKERS, KMH_MPS, KNOT_MPS, checksum
from protocols.nmea.fix import FixQuality

# RMC mode indicator for each quality (NMEA 2.3+).
_MODE = {
    FixQuality.NONE: "N",
    FixQuality.GNSS: "A",
    FixQuality.DGNSS: "D",
    FixQuality.RTK_FIXED: "R",
    FixQuality.RTK_FLOAT: "F",
    FixQuality.DEAD_RECKONING: "E",
}


def format_gga(
    time: datetime,
    latitude_deg: float,
    longitude_deg: float,
    *,
    altitude_msl_m: float,
    geoid_separation_m: float = 0.0,
    quality: FixQuality = FixQuality.GNSS,
    satellites: int = 12,
    hdop: float = 0.9,
    talker: str = "GN",
) -> bytes:
    """A GGA sentence (bytes, no CR/LF). Time is truncated to 1/100 s, converted to UTC.

    Raises ``ValueError`` for a talker we do not know, or coordinates or counts out of range.
    """
    _check_talker(talker)
    if not 0 <= satellites <= 99:
        raise ValueError(f"satellites {satellites} not in 0..99")
    fields = [
        _time(time),
        *_coordinate(latitude_deg, "NS", 90),
        *_coordinate(longitude_deg, "EW", 180),
        str(int(quality)),
        f"{satellites:02d}",
        f"{hdop:.1f}",
        f"{altitude_msl_m:.3f}",
        "M",
        f"{geoid_separation_m:.3f}",
        "M",
        "",
        "",
    ]
    return _sentence(f"{talker}GGA", fields)


def format_rmc(
    time: datetime,
    latitude_deg: float,
    longitude_deg: float,
    *,
    speed_mps: float,
    course_deg: float,
    quality: FixQuality = FixQuality.GNSS,
    talker: str = "GN",
) -> bytes:
    """An RMC sentence (bytes, no CR/LF); status V when ``quality`` is NONE.

    Raises ``ValueError`` for a talker we do not know or coordinates out of range.
    """
    _check_talker(talker)
    utc = _as_utc(time)
    fields = [
        _time(utc),
        "V" if quality == FixQuality.NONE else "A",
        *_coordinate(latitude_deg, "NS", 90),
        *_coordinate(longitude_deg, "EW", 180),
        f"{speed_mps / KNOT_MPS:.3f}",
        f"{course_deg % 360.0:.3f}",
        utc.strftime("%d%m%y"),
        "",
        "",
        _MODE[quality],
    ]
    return _sentence(f"{talker}RMC", fields)


def format_vtg(
    *,
    speed_mps: float,
    course_deg: float,
    quality: FixQuality = FixQuality.GNSS,
    talker: str = "GN",
) -> bytes:
    """A VTG sentence (bytes, no CR/LF): course true, speed in knots and km/h, mode.

    Raises ``ValueError`` for a talker we do not know or a negative or non-finite speed.
    """
    _check_talker(talker)
    if not 0.0 <= speed_mps < math.inf:
        raise ValueError(f"speed {speed_mps} m/s not >= 0")
    fields = [
        f"{course_deg % 360.0:.3f}",
        "T",
        "",
        "M",
        f"{speed_mps / KNOT_MPS:.3f}",
        "N",
        f"{speed_mps / KMH_MPS:.3f}",
        "K",
        _MODE[quality],
    ]
    return _sentence(f"{talker}VTG", fields)


def format_zda(time: datetime, *, talker: str = "GN") -> bytes:
    """A ZDA sentence (bytes, no CR/LF): UTC time (1/100 s) and four-digit-year date.

    Raises ``ValueError`` for a talker we do not know.
    """
    _check_talker(talker)
    utc = _as_utc(time)
    fields = [_time(utc), f"{utc.day:02d}", f"{utc.month:02d}", f"{utc.year:04d}", "00", "00"]
    return _sentence(f"{talker}ZDA", fields)


def format_gst(
    time: datetime,
    *,
    latitude_m: float,
    longitude_m: float,
    altitude_m: float,
    rms_m: float = 1.0,
    talker: str = "GN",
) -> bytes:
    """A GST sentence (bytes, no CR/LF) with 1-sigma errors in metres (to 1 mm).

    The error ellipse is written as axis-aligned (major = the larger of latitude and
    longitude). Raises ``ValueError`` for a talker we do not know or a negative error.
    """
    _check_talker(talker)
    errors = (rms_m, latitude_m, longitude_m, altitude_m)
    if not all(0.0 <= error < math.inf for error in errors):
        raise ValueError(f"errors {errors} not all >= 0")
    major, minor = max(latitude_m, longitude_m), min(latitude_m, longitude_m)
    orientation = 0.0 if latitude_m >= longitude_m else 90.0
    values = (rms_m, major, minor, orientation, latitude_m, longitude_m, altitude_m)
    return _sentence(f"{talker}GST", [_time(time), *(f"{value:.3f}" for value in values)])


def format_hdt(heading_deg: float, *, talker: str = "GN") -> bytes:
    """An HDT sentence (bytes, no CR/LF): true heading to 1/1000 degree.

    Raises ``ValueError`` for a talker we do not know or a non-finite heading.
    """
    _check_talker(talker)
    if not math.isfinite(heading_deg):
        raise ValueError(f"heading {heading_deg} is not finite")
    return _sentence(f"{talker}HDT", [f"{heading_deg % 360.0:.3f}", "T"])


def _sentence(head: str, fields: list[str]) -> bytes:
    body = ",".join([head, *fields])
    return f"${body}*{checksum(body):02X}".encode("ascii")


def _check_talker(talker: str) -> None:
    if talker not in GNSS_TALKERS:
        raise ValueError(f"talker {talker!r} not one of {sorted(GNSS_TALKERS)}")


def _as_utc(time: datetime) -> datetime:
    return time.astimezone(UTC) if time.tzinfo is not None else time


def _time(time: datetime) -> str:
    utc = _as_utc(time)
    return f"{utc:%H%M%S}.{utc.microsecond // 10_000:02d}"


def _coordinate(value: float, hemispheres: str, limit: int) -> tuple[str, str]:
    if not abs(value) <= limit:  # also rejects NaN
        raise ValueError(f"coordinate {value} not within ±{limit}")
    # Integer ten-millionths of a minute, so rounding can never print 60 minutes.
    units = round(abs(value) * 60 * 10**7)
    degrees, rest = divmod(units, 60 * 10**7)
    minutes, fraction = divmod(rest, 10**7)
    width = 2 if limit == 90 else 3
    text = f"{degrees:0{width}d}{minutes:02d}.{fraction:07d}"
    return text, hemispheres[1] if value < 0 else hemispheres[0]
