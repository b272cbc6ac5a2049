"""Parse one NMEA 0183 GNSS sentence into a typed record.

Decoded: GGA, GNS, RMC, GLL, VTG, GSA, GSV, GST, GBS, ZDA, HDT and THS from every GNSS talker
(``GNSS_TALKERS``). Every failure is an ``NmeaError`` with a countable ``reason``.

Why our own parser and not pynmea2: of pynmea2 we only ever used ``parse(check=False)`` as a
comma splitter with a field-name table. Every conversion and check that decides whether a
sentence is usable (checksum, talker, time, date, coordinate and number ranges) had to be
ours anyway, because pynmea2's accessors are permissive or raise several untyped errors.
Its table also has gaps for the sentences we need: no THS at all, GSV names only four
satellites and no NMEA 4.10 signal ID, GSA has no NMEA 4.11 system ID (which is what tells
a ``GNGSA`` apart per constellation); and ``parse`` still raises on a wrong checksum with
``check=False``. The field layouts below are short and fixed by the standard, and the
split costs about 0.5 µs a sentence where ``pynmea2.parse`` costs about 7 µs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, time

from protocols.errors import NmeaError
from protocols.nmea.fields import (
    GNSS_TALKERS,
    KMH_MPS,
    KNOT_MPS,
    MAX_DIFFERENTIAL_AGE_S,
    MAX_ERROR_M,
    MAX_GEOID_SEPARATION_M,
    MAX_SPEED_KNOTS,
    altitude,
    angle,
    calendar_date,
    checksum,
    coordinate,
    ddmmyy,
    dop,
    error_m,
    field,
    integer,
    non_negative,
    number,
    speed_knots,
    split_sentence,
    time_of_day,
)
from protocols.nmea.fix import FixMode, FixQuality

__all__ = [
    "GNSS_TALKERS",
    "KNOT_MPS",
    "GbsSentence",
    "GgaSentence",
    "GllSentence",
    "GnsSentence",
    "GsaSentence",
    "GstSentence",
    "GsvSentence",
    "HeadingSentence",
    "RmcSentence",
    "Sentence",
    "VtgSentence",
    "ZdaSentence",
    "checksum",
    "parse_sentence",
]

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
# The FAA mode indicator of RMC, VTG, GLL and GNS (NMEA 2.3+).
_FAA_MODE = {
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
# How good each FAA mode is, to pick the best of GNS's per-constellation mode letters.
_QUALITY_RANK = (
    FixQuality.NONE,
    FixQuality.DEAD_RECKONING,
    FixQuality.GNSS,
    FixQuality.DGNSS,
    FixQuality.RTK_FLOAT,
    FixQuality.RTK_FIXED,
)
_GNS_MODES_RE = re.compile(r"[ADPRFENMS]{0,8}")
"""GNS mode letters: one per constellation (GPS, GLONASS, Galileo, BeiDou, QZSS, NavIC in
NMEA 4.11; receivers send 1 to 6, a margin is left for more)."""
_NAVIGATIONAL_STATUS = frozenset("SCUV")
_MAX_STATION_ID = 1023
"""Differential reference station IDs are 0000 to 1023."""
_THS_MODES = frozenset("AEMSV")
_MAX_SATELLITES = 999
"""Satellites used or in view: NMEA prints two digits, a few multi-GNSS receivers three."""


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
class GnsSentence:
    """A GNS sentence (NMEA 4.x): GGA's fix with a mode letter per constellation.

    ``modes`` holds the FAA mode letters in the standard's order (GPS, GLONASS, Galileo,
    BeiDou, QZSS, NavIC), e.g. ``"AAN"``; ``quality`` is the best of them (a BeiDou-only fix
    is ``"NNNA"``, a fix; gpsd reads only the first letter and calls it none), and NONE when
    ``navigational_status`` (NMEA 4.10: S safe, C caution, U unsafe, V not valid) is U or V,
    as gpsd ignores those.
    """

    talker: str
    time_of_day: time
    latitude_deg: float | None
    longitude_deg: float | None
    modes: str
    quality: FixQuality
    satellites: int | None
    hdop: float | None
    altitude_msl_m: float | None
    geoid_separation_m: float | None
    differential_age_s: float | None
    station_id: int | None
    navigational_status: str | None


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


@dataclass(frozen=True)
class GllSentence:
    """A GLL sentence: position, time and status (the fallback when GGA and RMC are lost)."""

    talker: str
    time_of_day: time
    quality: FixQuality
    latitude_deg: float | None
    longitude_deg: float | None


@dataclass(frozen=True)
class VtgSentence:
    """A VTG sentence: course over ground (deg true) and speed (m/s); no time of its own."""

    talker: str
    course_deg: float | None
    speed_mps: float | None
    quality: FixQuality | None  # None for NMEA < 2.3 (no mode indicator)
    time_of_day: None = None


@dataclass(frozen=True)
class GsaSentence:
    """A GSA sentence: fix mode, the satellites used and the dilutions of precision."""

    talker: str
    mode: FixMode | None
    satellites_used: tuple[int, ...]
    pdop: float | None
    hdop: float | None
    vdop: float | None
    system_id: int | None  # NMEA 4.11: 1 GPS, 2 GLONASS, 3 Galileo, 4 BeiDou, 5 QZSS, 6 NavIC
    time_of_day: None = None


@dataclass(frozen=True)
class GsvSentence:
    """One GSV sentence of a group: satellites in view (count and the IDs in this part)."""

    talker: str
    message_count: int
    message_number: int
    in_view: int | None
    satellite_ids: tuple[int, ...]
    signal_id: str | None  # NMEA 4.10: which signal of the constellation this group is about
    time_of_day: None = None


@dataclass(frozen=True)
class GstSentence:
    """A GST sentence: pseudorange error statistics (1 sigma, metres)."""

    talker: str
    time_of_day: time
    rms_m: float | None
    major_m: float | None
    minor_m: float | None
    orientation_deg: float | None
    latitude_m: float | None
    longitude_m: float | None
    altitude_m: float | None


@dataclass(frozen=True)
class GbsSentence:
    """A GBS sentence: RAIM fault detection (expected errors, most likely failed satellite)."""

    talker: str
    time_of_day: time
    latitude_error_m: float | None
    longitude_error_m: float | None
    altitude_error_m: float | None
    failed_satellite: int | None
    missed_detection_probability: float | None
    bias_m: float | None
    bias_sigma_m: float | None


@dataclass(frozen=True)
class ZdaSentence:
    """A ZDA sentence: UTC time and full date (the local zone fields are ignored)."""

    talker: str
    time_of_day: time
    date: date | None


@dataclass(frozen=True)
class HeadingSentence:
    """An HDT or THS sentence: true heading in degrees (None when empty or invalid)."""

    talker: str
    kind: str  # "HDT" or "THS"
    heading_deg: float | None
    time_of_day: None = None


Sentence = (
    GgaSentence
    | GnsSentence
    | RmcSentence
    | GllSentence
    | VtgSentence
    | GsaSentence
    | GsvSentence
    | GstSentence
    | GbsSentence
    | ZdaSentence
    | HeadingSentence
)


def parse_sentence(line: bytes, *, allow_missing_checksum: bool = False) -> Sentence:
    """Parse one sentence (trailing CR/LF tolerated) into its record.

    Raises ``NmeaError`` whose ``reason`` is ``not_ascii``, ``malformed``, ``no_checksum``,
    ``checksum``, ``unsupported`` (another sentence type or talker) or ``no_time``.
    """
    talker, kind, fields = split_sentence(line, allow_missing_checksum=allow_missing_checksum)
    parser = _PARSERS.get(kind)
    if talker not in GNSS_TALKERS or parser is None:
        raise NmeaError(f"{talker}{kind} is not decoded", reason="unsupported")
    return parser(talker, fields)


def _gga(talker: str, f: list[str]) -> GgaSentence:
    tod = time_of_day(field(f, 0))
    quality_text = field(f, 5)
    quality = _GGA_QUALITY.get(integer(quality_text) or 0) if quality_text else FixQuality.NONE
    if quality is None:
        raise NmeaError(f"GGA quality {quality_text!r}", reason="malformed")
    return GgaSentence(
        talker=talker,
        time_of_day=tod,
        latitude_deg=coordinate(field(f, 1), field(f, 2), "NS", 90.0),
        longitude_deg=coordinate(field(f, 3), field(f, 4), "EW", 180.0),
        quality=quality,
        satellites=integer(field(f, 6), high=_MAX_SATELLITES),
        hdop=dop(field(f, 7)),
        altitude_msl_m=altitude(field(f, 8)),
        geoid_separation_m=number(
            field(f, 10), low=-MAX_GEOID_SEPARATION_M, high=MAX_GEOID_SEPARATION_M
        ),
    )


def _gns(talker: str, f: list[str]) -> GnsSentence:
    tod = time_of_day(field(f, 0))
    modes, status = field(f, 5), field(f, 12)
    if _GNS_MODES_RE.fullmatch(modes) is None:
        raise NmeaError(f"GNS mode {modes!r}", reason="malformed")
    if status and status not in _NAVIGATIONAL_STATUS:
        raise NmeaError(f"GNS navigational status {status!r}", reason="malformed")
    qualities = [_FAA_MODE[mode] for mode in modes]
    quality = max(qualities, key=_QUALITY_RANK.index, default=FixQuality.NONE)
    return GnsSentence(
        talker=talker,
        time_of_day=tod,
        latitude_deg=coordinate(field(f, 1), field(f, 2), "NS", 90.0),
        longitude_deg=coordinate(field(f, 3), field(f, 4), "EW", 180.0),
        modes=modes,
        quality=FixQuality.NONE if status in ("U", "V") else quality,
        satellites=integer(field(f, 6), high=_MAX_SATELLITES),
        hdop=dop(field(f, 7)),
        altitude_msl_m=altitude(field(f, 8)),
        geoid_separation_m=number(
            field(f, 9), low=-MAX_GEOID_SEPARATION_M, high=MAX_GEOID_SEPARATION_M
        ),
        differential_age_s=non_negative(field(f, 10), MAX_DIFFERENTIAL_AGE_S),
        station_id=integer(field(f, 11), high=_MAX_STATION_ID),
        navigational_status=status or None,
    )


def _rmc(talker: str, f: list[str]) -> RmcSentence:
    tod = time_of_day(field(f, 0))
    status = field(f, 1)
    if status not in ("A", "V"):
        raise NmeaError(f"RMC status {status!r}", reason="malformed")
    mode = field(f, 11)[:1]
    quality = FixQuality.NONE if status == "V" else _FAA_MODE.get(mode, FixQuality.GNSS)
    knots = speed_knots(field(f, 6))
    return RmcSentence(
        talker=talker,
        time_of_day=tod,
        date=ddmmyy(field(f, 8)),
        quality=quality,
        latitude_deg=coordinate(field(f, 2), field(f, 3), "NS", 90.0),
        longitude_deg=coordinate(field(f, 4), field(f, 5), "EW", 180.0),
        speed_mps=None if knots is None else knots * KNOT_MPS,
        course_deg=angle(field(f, 7)),
    )


def _gll(talker: str, f: list[str]) -> GllSentence:
    tod = time_of_day(field(f, 4))
    status, mode = field(f, 5), field(f, 6)[:1]
    if status not in ("A", "V") or (mode and mode not in _FAA_MODE):
        raise NmeaError(f"GLL status {status!r} mode {mode!r}", reason="malformed")
    return GllSentence(
        talker=talker,
        time_of_day=tod,
        quality=FixQuality.NONE if status == "V" else _FAA_MODE.get(mode, FixQuality.GNSS),
        latitude_deg=coordinate(field(f, 0), field(f, 1), "NS", 90.0),
        longitude_deg=coordinate(field(f, 2), field(f, 3), "EW", 180.0),
    )


def _vtg(talker: str, f: list[str]) -> VtgSentence:
    if field(f, 1) in ("T", ""):
        # NMEA 2.x+: course,T,magnetic,M,knots,N,km/h,K[,mode]
        course, knots, kmh, mode = field(f, 0), field(f, 4), field(f, 6), field(f, 8)
    else:
        # NMEA 1.x has no unit letters: course,magnetic,knots,km/h
        course, knots, kmh, mode = field(f, 0), field(f, 2), field(f, 3), ""
    in_knots = speed_knots(knots)
    in_kmh = non_negative(kmh, MAX_SPEED_KNOTS * KNOT_MPS / KMH_MPS)
    if in_knots is not None:
        speed: float | None = in_knots * KNOT_MPS
    else:
        speed = None if in_kmh is None else in_kmh * KMH_MPS
    if mode and mode[:1] not in _FAA_MODE:
        raise NmeaError(f"VTG mode {mode!r}", reason="malformed")
    return VtgSentence(
        talker=talker,
        course_deg=angle(course),
        speed_mps=speed,
        quality=_FAA_MODE[mode[:1]] if mode else None,
    )


def _gsa(talker: str, f: list[str]) -> GsaSentence:
    if field(f, 0) not in ("A", "M", ""):
        raise NmeaError(f"GSA selection {field(f, 0)!r}", reason="malformed")
    mode_code = integer(field(f, 1))
    if mode_code is not None and mode_code not in (1, 2, 3):
        raise NmeaError(f"GSA mode {mode_code}", reason="malformed")
    used = tuple(sat for text in f[2:14] if (sat := integer(text)) is not None)
    return GsaSentence(
        talker=talker,
        mode=None if mode_code is None else FixMode(mode_code),
        satellites_used=used,
        pdop=dop(field(f, 14)),
        hdop=dop(field(f, 15)),
        vdop=dop(field(f, 16)),
        system_id=_system_id(field(f, 17)),
    )


def _system_id(text: str) -> int | None:
    # NMEA 4.11 adds one hex digit; SiRF TriG puts a fourth DOP there, which we ignore.
    return int(text, 16) if len(text) == 1 and text in "123456789ABCDEF" else None


def _gsv(talker: str, f: list[str]) -> GsvSentence:
    count, position = integer(field(f, 0)), integer(field(f, 1))
    if count is None or position is None or not 1 <= position <= count:
        raise NmeaError(f"GSV message {position} of {count}", reason="malformed")
    blocks = f[3:]
    # Four fields per satellite; one more at the end is the NMEA 4.10 signal ID.
    signal = blocks.pop() if len(blocks) % 4 == 1 else None
    if len(blocks) % 4 != 0:
        raise NmeaError(f"GSV with {len(f)} fields", reason="malformed")
    ids = []
    for i in range(0, len(blocks), 4):
        sat = integer(blocks[i])
        integer(blocks[i + 1].removeprefix("-"))  # elevation, -90..90 in some receivers
        integer(blocks[i + 2])  # azimuth
        integer(blocks[i + 3])  # SNR
        if sat is not None:
            ids.append(sat)
    return GsvSentence(
        talker=talker,
        message_count=count,
        message_number=position,
        in_view=integer(field(f, 2), high=_MAX_SATELLITES),
        satellite_ids=tuple(ids),
        signal_id=signal or None,
    )


def _gst(talker: str, f: list[str]) -> GstSentence:
    return GstSentence(
        talker=talker,
        time_of_day=time_of_day(field(f, 0)),
        rms_m=error_m(field(f, 1)),
        major_m=error_m(field(f, 2)),
        minor_m=error_m(field(f, 3)),
        orientation_deg=number(field(f, 4), low=-360.0, high=360.0),
        latitude_m=error_m(field(f, 5)),
        longitude_m=error_m(field(f, 6)),
        altitude_m=error_m(field(f, 7)),
    )


def _gbs(talker: str, f: list[str]) -> GbsSentence:
    return GbsSentence(
        talker=talker,
        time_of_day=time_of_day(field(f, 0)),
        # Signed: u-blox's own documented example has negative expected errors.
        latitude_error_m=number(field(f, 1), low=-MAX_ERROR_M, high=MAX_ERROR_M),
        longitude_error_m=number(field(f, 2), low=-MAX_ERROR_M, high=MAX_ERROR_M),
        altitude_error_m=number(field(f, 3), low=-MAX_ERROR_M, high=MAX_ERROR_M),
        failed_satellite=integer(field(f, 4)),
        missed_detection_probability=number(field(f, 5), low=0.0, high=1.0),
        bias_m=number(field(f, 6), low=-MAX_ERROR_M, high=MAX_ERROR_M),
        bias_sigma_m=error_m(field(f, 7)),
    )


def _zda(talker: str, f: list[str]) -> ZdaSentence:
    tod = time_of_day(field(f, 0))
    day, month, year = integer(field(f, 1)), integer(field(f, 2)), integer(field(f, 3))
    if day is None or month is None or year is None:
        if (day, month, year) != (None, None, None):
            raise NmeaError("ZDA with a partial date", reason="malformed")
        return ZdaSentence(talker=talker, time_of_day=tod, date=None)
    if len(field(f, 3)) != 4:
        raise NmeaError(f"ZDA year {field(f, 3)!r}", reason="malformed")
    return ZdaSentence(talker=talker, time_of_day=tod, date=calendar_date(year, month, day))


def _heading(talker: str, kind: str, f: list[str]) -> HeadingSentence:
    heading = angle(field(f, 0))
    flag = field(f, 1)
    if kind == "HDT":
        if flag not in ("T", ""):
            raise NmeaError(f"HDT reference {flag!r}", reason="malformed")
    elif flag not in _THS_MODES:
        raise NmeaError(f"THS mode {flag!r}", reason="malformed")
    elif flag == "V":
        heading = None  # the receiver says the heading is not valid
    return HeadingSentence(talker=talker, kind=kind, heading_deg=heading)


def _hdt(talker: str, f: list[str]) -> HeadingSentence:
    return _heading(talker, "HDT", f)


def _ths(talker: str, f: list[str]) -> HeadingSentence:
    return _heading(talker, "THS", f)


_PARSERS: dict[str, Callable[[str, list[str]], Sentence]] = {
    "GGA": _gga,
    "GNS": _gns,
    "RMC": _rmc,
    "GLL": _gll,
    "VTG": _vtg,
    "GSA": _gsa,
    "GSV": _gsv,
    "GST": _gst,
    "GBS": _gbs,
    "ZDA": _zda,
    "HDT": _hdt,
    "THS": _ths,
}
