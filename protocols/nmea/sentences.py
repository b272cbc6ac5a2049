"""Parse one NMEA 0183 GGA or RMC sentence (bytes, no CR/LF) into a typed record.

pynmea2 splits the sentence into named fields; the checks and conversions here decide what
is usable, so every failure is an ``NmeaError`` with a countable ``reason``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time

import pynmea2

from protocols.errors import NmeaError
from protocols.nmea.fix import FixQuality

KNOT_MPS = 1852.0 / 3600.0

GNSS_TALKERS = frozenset({"GP", "GN", "GL", "GA", "GB", "BD", "GQ", "GI"})
"""GPS, multi-GNSS, GLONASS, Galileo, BeiDou (two ids), QZSS, NavIC."""

# GGA qualities beyond the six kinds: 3 = PPS (a plain GNSS fix), 7 = manual input and
# 8 = simulator (not a measurement), 9 = SBAS in some NMEA 4.x receivers (differential).
_GGA_QUALITY = {
    0: FixQuality.NONE,
    1: FixQuality.GNSS,
    2: FixQuality.DGNSS,
    3: FixQuality.GNSS,
    4: FixQuality.RTK_FIXED,
    5: FixQuality.RTK_FLOAT,
    6: FixQuality.DEAD_RECKONING,
    7: FixQuality.NONE,
    8: FixQuality.NONE,
    9: FixQuality.DGNSS,
}
# The RMC/GNS mode indicator (NMEA 2.3+).
_RMC_MODE = {
    "A": FixQuality.GNSS,
    "D": FixQuality.DGNSS,
    "P": FixQuality.GNSS,
    "R": FixQuality.RTK_FIXED,
    "F": FixQuality.RTK_FLOAT,
    "E": FixQuality.DEAD_RECKONING,
    "N": FixQuality.NONE,
    "M": FixQuality.NONE,
    "S": FixQuality.NONE,
}
_TIME_RE = re.compile(r"(\d\d)(\d\d)(\d\d)(?:\.(\d{1,6}))?")
_DATE_RE = re.compile(r"(\d\d)(\d\d)(\d\d)")
_COORD_RE = re.compile(r"(\d+)(\d\d(?:\.\d*)?)")
_HEADER_RE = re.compile(r"([A-Z]{2})([A-Z]{3})")


@dataclass(frozen=True)
class GgaSentence:
    """A GGA sentence: position, quality, altitude (metres above MSL), geoid separation."""

    talker: str
    time_of_day: time
    latitude_deg: float | None
    longitude_deg: float | None
    quality: FixQuality
    satellites: int | None
    hdop: float | None
    altitude_msl_m: float | None
    geoid_separation_m: float | None


@dataclass(frozen=True)
class RmcSentence:
    """An RMC sentence: position, speed (m/s), course (deg true), date, status."""

    talker: str
    time_of_day: time
    date: date | None
    quality: FixQuality
    latitude_deg: float | None
    longitude_deg: float | None
    speed_mps: float | None
    course_deg: float | None


def checksum(body: str) -> int:
    """The NMEA checksum (XOR of the characters between ``$`` and ``*``)."""
    value = 0
    for char in body.encode("ascii"):
        value ^= char
    return value


def parse_sentence(
    line: bytes, *, allow_missing_checksum: bool = False
) -> GgaSentence | RmcSentence:
    """Parse one sentence (trailing CR/LF tolerated).

    Returns a ``GgaSentence`` or ``RmcSentence``. Raises ``NmeaError`` whose ``reason`` is
    ``not_ascii``, ``malformed``, ``no_checksum``, ``checksum``, ``unsupported`` or
    ``no_time``.
    """
    text = _checked_text(line, allow_missing_checksum)
    header = _HEADER_RE.match(text, 1)
    if header is None or (len(text) > 6 and text[6] not in ",*"):
        raise NmeaError("no talker and sentence type", reason="malformed")
    talker, kind = header.group(1), header.group(2)
    if talker not in GNSS_TALKERS or kind not in ("GGA", "RMC"):
        raise NmeaError(f"{talker}{kind} is not decoded", reason="unsupported")
    try:
        # Checksum already verified above, and pynmea2 would reject a missing one we allow.
        msg = pynmea2.parse(text, check=False)
    except (pynmea2.ParseError, ValueError) as err:
        raise NmeaError(f"pynmea2: {err}", reason="malformed") from err
    fields = _Fields(msg)
    tod = _time(fields.get("timestamp"))
    lat = _coordinate(fields.get("lat"), fields.get("lat_dir"), "NS", 90.0)
    lon = _coordinate(fields.get("lon"), fields.get("lon_dir"), "EW", 180.0)
    if kind == "GGA":
        quality_text = fields.get("gps_qual")
        quality = _GGA_QUALITY.get(_int(quality_text) or 0) if quality_text else FixQuality.NONE
        if quality is None:
            raise NmeaError(f"GGA quality {quality_text!r}", reason="malformed")
        return GgaSentence(
            talker=talker,
            time_of_day=tod,
            latitude_deg=lat,
            longitude_deg=lon,
            quality=quality,
            satellites=_int(fields.get("num_sats")),
            hdop=_float(fields.get("horizontal_dil")),
            altitude_msl_m=_float(fields.get("altitude")),
            geoid_separation_m=_float(fields.get("geo_sep")),
        )
    status = fields.get("status")
    if status not in ("A", "V"):
        raise NmeaError(f"RMC status {status!r}", reason="malformed")
    mode = fields.get("mode_indicator")[:1]
    quality = FixQuality.NONE if status == "V" else _RMC_MODE.get(mode, FixQuality.GNSS)
    speed_knots = _float(fields.get("spd_over_grnd"))
    return RmcSentence(
        talker=talker,
        time_of_day=tod,
        date=_date(fields.get("datestamp")),
        quality=quality,
        latitude_deg=lat,
        longitude_deg=lon,
        speed_mps=None if speed_knots is None else speed_knots * KNOT_MPS,
        course_deg=_float(fields.get("true_course")),
    )


class _Fields:
    """Raw field text by pynmea2 name; a field the sentence is too short for is empty."""

    def __init__(self, msg: pynmea2.NMEASentence) -> None:
        self._data: list[str] = list(msg.data)
        self._index: dict[str, int] = dict(msg.name_to_idx)

    def get(self, name: str) -> str:
        i = self._index[name]
        return self._data[i].strip() if i < len(self._data) else ""


def _checked_text(line: bytes, allow_missing_checksum: bool) -> str:
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
        return text
    if not re.fullmatch(r"[0-9A-Fa-f]{2}", given):
        raise NmeaError(f"checksum field {given!r}", reason="malformed")
    if int(given, 16) != checksum(body):
        raise NmeaError(f"checksum {given} != {checksum(body):02X}", reason="checksum")
    return text


def _time(text: str) -> time:
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


def _date(text: str) -> date | None:
    if not text:
        return None
    match = _DATE_RE.fullmatch(text)
    if match is None:
        raise NmeaError(f"date {text!r}", reason="malformed")
    yy = int(match[3])
    # Two-digit years: GNSS NMEA data cannot predate 1980 (the GPS epoch).
    year = 1900 + yy if yy >= 80 else 2000 + yy
    try:
        return date(year, int(match[2]), int(match[1]))
    except ValueError as err:
        raise NmeaError(f"date {text!r}", reason="malformed") from err


def _coordinate(text: str, hemisphere: str, allowed: str, limit: float) -> float | None:
    if not text and not hemisphere:
        return None
    match = _COORD_RE.fullmatch(text)
    if match is None or hemisphere == "" or hemisphere not in allowed:
        raise NmeaError(f"coordinate {text!r} {hemisphere!r}", reason="malformed")
    minutes = float(match[2])
    degrees = int(match[1]) + minutes / 60.0
    if minutes >= 60.0 or degrees > limit:
        raise NmeaError(f"coordinate {text!r} out of range", reason="malformed")
    return -degrees if hemisphere == allowed[1] else degrees


def _float(text: str) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError as err:
        raise NmeaError(f"number {text!r}", reason="malformed") from err
    if value != value or value in (float("inf"), float("-inf")):
        raise NmeaError(f"number {text!r}", reason="malformed")
    return value


def _int(text: str) -> int | None:
    if not text:
        return None
    if not text.isdigit():
        raise NmeaError(f"integer {text!r}", reason="malformed")
    return int(text)
