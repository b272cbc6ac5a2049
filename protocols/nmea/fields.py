"""The framing and field conversions every NMEA 0183 sentence shares.

Each function takes the text of one field (or the whole line, for framing) and returns a
typed value, or raises ``NmeaError`` with a countable ``reason``; none raises anything else.
"""

from __future__ import annotations

import math
import re
from datetime import date, time

from protocols.errors import NmeaError

KNOT_MPS = 1852.0 / 3600.0
KMH_MPS = 1000.0 / 3600.0

GNSS_TALKERS = frozenset({"GP", "GN", "GL", "GA", "GB", "BD", "GQ", "GI"})
"""GPS, multi-GNSS, GLONASS, Galileo, BeiDou (two ids), QZSS, NavIC."""

_TIME_RE = re.compile(r"(\d\d)(\d\d)(\d\d)(?:\.(\d{1,6}))?")
_DATE_RE = re.compile(r"(\d\d)(\d\d)(\d\d)")
_COORD_RE = re.compile(r"(\d+)(\d\d(?:\.\d*)?)")
_HEADER_RE = re.compile(r"\$([A-Z]{2})([A-Z]{3})(?=[,*]|$)")
_CHECKSUM_RE = re.compile(r"[0-9A-Fa-f]{2}")
# A decimal number as NMEA 0183 writes one: no exponent, no "inf" or "nan", no "1_000".
_NUMBER_RE = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)", re.ASCII)
_MAX_INTEGER_DIGITS = 9
"""An integer field (satellites, IDs, counts) never needs more; longer ones are malformed
(and Python refuses to convert one of more than 4300 digits)."""


def checksum(body: str) -> int:
    """The NMEA checksum (XOR of the characters between ``$`` and ``*``)."""
    value = 0
    for char in body.encode("ascii"):
        value ^= char
    return value


def split_sentence(line: bytes, *, allow_missing_checksum: bool) -> tuple[str, str, list[str]]:
    """Check one sentence's framing and checksum; return ``(talker, type, fields)``.

    ``fields`` are the comma-separated fields after the address, stripped of blanks. Raises
    ``NmeaError`` with reason ``not_ascii``, ``malformed``, ``no_checksum`` or ``checksum``.
    """
    try:
        text = line.rstrip(b"\r\n").decode("ascii")
    except UnicodeDecodeError as err:
        raise NmeaError("not ASCII", reason="not_ascii") from err
    if not text.startswith("$") or not text.isprintable():
        raise NmeaError("not an NMEA sentence", reason="malformed")
    body, star, given = text[1:].partition("*")
    if not star:
        if not allow_missing_checksum:
            raise NmeaError("no checksum", reason="no_checksum")
    elif _CHECKSUM_RE.fullmatch(given) is None:
        raise NmeaError(f"checksum field {given!r}", reason="malformed")
    elif int(given, 16) != checksum(body):
        raise NmeaError(f"checksum {given} != {checksum(body):02X}", reason="checksum")
    header = _HEADER_RE.match(f"${body}")
    if header is None and body[:1] == "P" and body.partition(",")[0].isalnum():
        raise NmeaError(f"proprietary {body.partition(',')[0]}", reason="unsupported")
    if header is None:
        raise NmeaError("no talker and sentence type", reason="malformed")
    fields = [field.strip() for field in body.split(",")[1:]]
    return header.group(1), header.group(2), fields


def field(fields: list[str], index: int) -> str:
    """The field at ``index``; empty when the sentence is too short for it."""
    return fields[index] if index < len(fields) else ""


def time_of_day(text: str) -> time:
    """``hhmmss[.s...]`` as a time; an empty field is ``no_time``, a bad one ``malformed``."""
    if not text:
        raise NmeaError("no UTC time", reason="no_time")
    match = _TIME_RE.fullmatch(text)
    if match is None:
        raise NmeaError(f"time {text!r}", reason="malformed")
    hour, minute, second = int(match[1]), int(match[2]), int(match[3])
    micro = int((match[4] or "0").ljust(6, "0"))
    try:
        # A leap second (:60) is not representable and is rejected like other bad times.
        return time(hour, minute, second, micro)
    except ValueError as err:
        raise NmeaError(f"time {text!r}", reason="malformed") from err


def ddmmyy(text: str) -> date | None:
    """RMC's ``ddmmyy`` date; None when empty."""
    if not text:
        return None
    match = _DATE_RE.fullmatch(text)
    if match is None:
        raise NmeaError(f"date {text!r}", reason="malformed")
    yy = int(match[3])
    # Two-digit years: GNSS NMEA data cannot predate 1980 (the GPS epoch).
    return calendar_date(1900 + yy if yy >= 80 else 2000 + yy, int(match[2]), int(match[1]))


def calendar_date(year: int, month: int, day: int) -> date:
    """A valid date, else ``NmeaError`` (``malformed``)."""
    try:
        return date(year, month, day)
    except ValueError as err:
        raise NmeaError(f"date {year}-{month}-{day}", reason="malformed") from err


def coordinate(text: str, hemisphere: str, allowed: str, limit: float) -> float | None:
    """``(d)ddmm.mmmm`` plus hemisphere as signed degrees; None when both are empty."""
    if not text and not hemisphere:
        return None
    match = _COORD_RE.fullmatch(text)
    if match is None or hemisphere == "" or hemisphere not in allowed or len(match[1]) > 3:
        raise NmeaError(f"coordinate {text!r} {hemisphere!r}", reason="malformed")
    minutes = float(match[2])
    degrees = int(match[1]) + minutes / 60.0
    if minutes >= 60.0 or degrees > limit:
        raise NmeaError(f"coordinate {text!r} out of range", reason="malformed")
    return -degrees if hemisphere == allowed[1] else degrees


def number(text: str, *, low: float = -math.inf, high: float = math.inf) -> float | None:
    """A finite decimal number within ``[low, high]``; None when empty.

    Only plain decimals are numbers: ``inf``, ``nan`` and ``1e9`` are ``malformed``, and so
    is one too large for a float (400 digits) or outside the bounds. ``-0`` is 0.
    """
    if not text:
        return None
    if _NUMBER_RE.fullmatch(text) is None:
        raise NmeaError(f"number {text!r}", reason="malformed")
    value = float(text) + 0.0  # + 0.0 turns -0.0 into 0.0
    if not (math.isfinite(value) and low <= value <= high):
        raise NmeaError(f"number {text!r} not in [{low}, {high}]", reason="malformed")
    return value


def integer(text: str, *, high: int = 10**_MAX_INTEGER_DIGITS - 1) -> int | None:
    """A non-negative decimal integer up to ``high``; None when empty."""
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_INTEGER_DIGITS:
        raise NmeaError(f"integer {text!r}", reason="malformed")
    value = int(text)
    if value > high:
        raise NmeaError(f"integer {text!r} above {high}", reason="malformed")
    return value


def angle(text: str) -> float | None:
    """A direction in degrees, 0 to 360 inclusive; None when empty."""
    return number(text, low=0.0, high=360.0)


def non_negative(text: str, high: float = math.inf) -> float | None:
    """A length, dilution or speed that cannot be negative (up to ``high``); None when empty."""
    return number(text, low=0.0, high=high)


MAX_ALTITUDE_M = 1_000_000.0
MIN_ALTITUDE_M = -12_000.0
"""Heights a receiver can report: from below the deepest ocean trench to low Earth orbit."""
MAX_GEOID_SEPARATION_M = 200.0
"""The geoid stays within about 110 m of the WGS-84 ellipsoid."""
MAX_SPEED_KNOTS = 100_000.0
"""About 51 km/s: beyond anything a receiver moves at (low Earth orbit is 15,000 knots)."""
MAX_DOP = 1000.0
"""Dilutions of precision: receivers print 99.9 or 99.99 for "none"; more is nonsense."""
MAX_DIFFERENTIAL_AGE_S = 1_000_000.0
"""Age of differential corrections (GNS): receivers drop corrections after minutes; 11 days
is nonsense."""
MAX_ERROR_M = 1e7
"""An error estimate (GST, GBS) larger than the Earth's radius means nothing."""


def altitude(text: str) -> float | None:
    """A height in metres between ``MIN_ALTITUDE_M`` and ``MAX_ALTITUDE_M``; None when empty."""
    return number(text, low=MIN_ALTITUDE_M, high=MAX_ALTITUDE_M)


def speed_knots(text: str) -> float | None:
    """A speed in knots, 0 to ``MAX_SPEED_KNOTS``; None when empty."""
    return non_negative(text, MAX_SPEED_KNOTS)


def dop(text: str) -> float | None:
    """A dilution of precision, 0 to ``MAX_DOP``; None when empty."""
    return non_negative(text, MAX_DOP)


def error_m(text: str) -> float | None:
    """A 1-sigma error estimate in metres, 0 to ``MAX_ERROR_M``; None when empty."""
    return non_negative(text, MAX_ERROR_M)
