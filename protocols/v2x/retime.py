"""Moving the absolute times of a T/CSAE 53-2017 ``MessageFrame`` by a shift, as if it had been
sent that much later: what ``roadgate replay`` does to what the radio heard, so that a replayed
box's reception filter sees fresh messages (as ``retime_nmea`` does for GNSS times).

The absolute times of the 2017 modules (``asn/``), per message; everything else is relative
(``TimeCountingDown``, a path history's ``timeOffset``) or not a time, and stays as it is:

* BSM: ``secMark`` (ms in the minute: moved modulo the minute, the message has no minute);
  ``safetyExt.pathHistory.initialPosition.utcTime`` (``DDateTime``).
* MAP: ``timeStamp`` (a minute of the year).
* RSM: each participant's ``secMark``.
* SPAT: ``moy`` with ``timeStamp`` (ms, carried into the minute and the year), of the message
  and of each intersection; each phase state's ``utcTiming`` ``TimeMark`` fields (tenths of a
  second in the hour: moved modulo the hour).
* RSI: ``moy``; ``timeDetails.startTime`` and ``endTime`` of each event and sign.

A minute of the year sent without milliseconds is moved by the shift rounded to whole minutes
(the most likely minute a sender would have stamped). "Unavailable" and leap-second values
(``DSecond`` 60000 and up, ``MinuteOfTheYear`` 527040, ``TimeMark`` 36000 and up) stay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from protocols.errors import V2xDecodeError
from protocols.v2x.csae53 import FRAME, decode_frame, encode_frame, specification

MINUTE_MS = 60_000
HOUR_TENTHS = 36_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
MOY_INVALID = 527_040
TIME_MARK_UNIT_MS = 100
_TIMING_MARKS = (
    "startUTCTime",
    "minEndUTCTime",
    "maxEndUTCTime",
    "likelyEndUTCTime",
    "nextStartUTCTime",
    "nextEndUTCTime",
)


def retime_v2x(datagram: bytes, shift_s: float, heard_s: float) -> bytes:
    """``datagram`` (one UPER ``MessageFrame``) with every absolute time it carries moved
    ``shift_s`` later (see the module doc), re-encoded; ``heard_s`` (Unix s, when it was
    heard) says which year its minutes of the year count from.

    Raises ``V2xDecodeError`` when ``datagram`` is not a 2017 ``MessageFrame`` that
    re-encodes to exactly its bytes (another edition's additions would be lost): the caller
    decides what to do with it as it is.
    """
    choice, value = decode_frame(datagram)
    if bytes(specification().encode(FRAME, (choice, value))) != bytes(datagram):
        raise V2xDecodeError(
            f"{choice} does not re-encode to its bytes (extension additions of a later "
            "edition?): cannot be retimed",
            path=FRAME,
            detail="inexact",
        )
    shift = _Shift(round(shift_s * 1000), heard_s)
    _MOVERS[choice](value, shift)
    return encode_frame((choice, value))


class _Shift:
    """A shift in whole milliseconds, and the year minutes of the year count from."""

    def __init__(self, ms: int, heard_s: float) -> None:
        self.ms = ms
        self.heard_s = heard_s

    def in_minute(self, ms: int) -> int:
        """A ``DSecond`` without its minute: moved modulo the minute."""
        return ms if ms >= MINUTE_MS else (ms + self.ms) % MINUTE_MS

    def time_mark(self, tenths: int) -> int:
        """A ``TimeMark``: tenths of a second in the hour, moved modulo the hour (rounded)."""
        if tenths >= HOUR_TENTHS:
            return tenths
        moved = (tenths * TIME_MARK_UNIT_MS + self.ms + TIME_MARK_UNIT_MS // 2) // TIME_MARK_UNIT_MS
        return moved % HOUR_TENTHS

    def minute_of_year(self, moy: int, ms: int | None = None) -> tuple[int, int | None]:
        """A ``MinuteOfTheYear`` and the ``DSecond`` sent with it (None: none, or
        unavailable): both moved, the milliseconds carried into the minute and the year; a
        minute alone moved by the shift rounded to whole minutes."""
        exact = ms is not None and ms < MINUTE_MS
        start = self._year_start(moy)
        if start is None:
            return moy, None if ms is None else self.in_minute(ms)
        within = ms if exact and ms is not None else MINUTE_MS // 2
        at = start + timedelta(milliseconds=moy * MINUTE_MS + within + self.ms)
        into = at - datetime(at.year, 1, 1, tzinfo=UTC)
        total_ms = into // timedelta(milliseconds=1)
        moved_moy, moved_ms = divmod(total_ms, MINUTE_MS)
        if exact:
            return moved_moy, moved_ms
        return moved_moy, ms  # an unavailable or leap-second DSecond stays

    def _year_start(self, moy: int) -> datetime | None:
        """The start of the year (nearest ``heard_s``) that has minute ``moy``; None for
        the invalid minute."""
        if not 0 <= moy < MOY_INVALID:
            return None
        heard = datetime.fromtimestamp(self.heard_s, UTC)
        candidates = [
            datetime(year, 1, 1, tzinfo=UTC)
            for year in (heard.year - 1, heard.year, heard.year + 1)
            if moy < _minutes_in(year)
        ]
        return min(candidates, key=lambda s: abs(s + timedelta(minutes=moy) - heard), default=None)

    def date_time(self, value: dict[str, Any]) -> None:
        """A ``DDateTime`` (any of its fields optional, in the zone of its ``offset``): a full
        date and time moved as one; a time of day (``second``, with ``minute`` and ``hour``
        when sent) moved modulo the largest unit sent; anything else left."""
        second = value.get("second")
        if second is None or second >= MINUTE_MS:
            return
        if all(value.get(k) is not None for k in ("year", "month", "day", "hour", "minute")):
            try:
                at = datetime(
                    value["year"], value["month"], value["day"], value["hour"], value["minute"]
                ) + timedelta(milliseconds=second + self.ms)
            except (ValueError, OverflowError):
                return  # not a real date (day 0, hour 24...): leave it
            if at.year > 4095:
                return
            value.update(
                year=at.year,
                month=at.month,
                day=at.day,
                hour=at.hour,
                minute=at.minute,
                second=at.second * 1000 + at.microsecond // 1000,
            )
            return
        total, period = second, MINUTE_MS
        minute, hour = value.get("minute"), value.get("hour")
        if minute is not None and minute < 60:
            total, period = total + minute * MINUTE_MS, HOUR_MS
            if hour is not None and hour < 24:
                total, period = total + hour * HOUR_MS, DAY_MS
        moved = (total + self.ms) % period
        value["second"] = moved % MINUTE_MS
        if period > MINUTE_MS:
            value["minute"] = moved // MINUTE_MS % 60
        if period > HOUR_MS:
            value["hour"] = moved // HOUR_MS


def _minutes_in(year: int) -> int:
    return (datetime(year + 1, 1, 1) - datetime(year, 1, 1)).days * 1440


def _each(items: Iterable[Any] | None) -> Iterable[dict[str, Any]]:
    return items or ()


def _bsm(value: dict[str, Any], shift: _Shift) -> None:
    value["secMark"] = shift.in_minute(value["secMark"])
    initial = value.get("safetyExt", {}).get("pathHistory", {}).get("initialPosition", {})
    if "utcTime" in initial:
        shift.date_time(initial["utcTime"])


def _map(value: dict[str, Any], shift: _Shift) -> None:
    if "timeStamp" in value:
        value["timeStamp"] = shift.minute_of_year(value["timeStamp"])[0]


def _rsm(value: dict[str, Any], shift: _Shift) -> None:
    for participant in _each(value.get("participants")):
        participant["secMark"] = shift.in_minute(participant["secMark"])


def _stamped(value: dict[str, Any], shift: _Shift) -> None:
    """``moy`` and ``timeStamp`` of a SPAT or one of its intersections, as one time."""
    moy, ms = value.get("moy"), value.get("timeStamp")
    if moy is None:
        if ms is not None:
            value["timeStamp"] = shift.in_minute(ms)
        return
    value["moy"], moved_ms = shift.minute_of_year(moy, ms)
    if ms is not None:
        value["timeStamp"] = moved_ms


def _spat(value: dict[str, Any], shift: _Shift) -> None:
    _stamped(value, shift)
    for intersection in _each(value.get("intersections")):
        _stamped(intersection, shift)
        for phase in _each(intersection.get("phases")):
            for state in _each(phase.get("phaseStates")):
                timing = state.get("timing")
                if timing is None or timing[0] != "utcTiming":
                    continue  # counting down: times from now, relative
                marks = timing[1]
                for key in _TIMING_MARKS:
                    if key in marks:
                        marks[key] = shift.time_mark(marks[key])


def _rsi(value: dict[str, Any], shift: _Shift) -> None:
    if "moy" in value:
        value["moy"] = shift.minute_of_year(value["moy"])[0]
    for item in (*_each(value.get("rtes")), *_each(value.get("rtss"))):
        details = item.get("timeDetails", {})
        for key in ("startTime", "endTime"):
            if key in details:
                details[key] = shift.minute_of_year(details[key])[0]


_MOVERS: dict[str, Callable[[dict[str, Any], _Shift], None]] = {
    "bsmFrame": _bsm,
    "mapFrame": _map,
    "rsmFrame": _rsm,
    "spatFrame": _spat,
    "rsiFrame": _rsi,
}
