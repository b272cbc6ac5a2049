"""Merge the GGA and RMC sentences of one receiver epoch into one ``GnssFix``."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

from protocols.errors import NmeaError
from protocols.nmea.fix import AltitudeReference, GnssFix
from protocols.nmea.sentences import GgaSentence, RmcSentence, parse_sentence

_HALF_DAY = timedelta(hours=12)


class NmeaFixAssembler:
    """Feed sentences one by one; get a fix per epoch.

    An epoch is a UTC time of day. Its fix is returned as soon as both its GGA and RMC
    arrived, or, for a receiver sending only one of them, when a sentence of a later epoch
    arrives (``flush()`` returns the last one). Sentences we do not use are counted in
    ``rejects`` by reason (``not_ascii``, ``malformed``, ``no_checksum``, ``checksum``,
    ``unsupported``, ``no_time``, ``duplicate``); ``feed`` never raises on bad bytes.
    """

    def __init__(self, *, allow_missing_checksum: bool = False) -> None:
        self.allow_missing_checksum = allow_missing_checksum
        self.rejects: Counter[str] = Counter()
        self._gga: GgaSentence | None = None
        self._rmc: RmcSentence | None = None
        self._last_date: date | None = None
        self._last_date_time: time | None = None

    def feed(self, line: bytes) -> GnssFix | None:
        """Take one sentence (bytes, CR/LF optional); return a completed fix or None."""
        try:
            sentence = parse_sentence(line, allow_missing_checksum=self.allow_missing_checksum)
        except NmeaError as err:
            self.rejects[err.reason] += 1
            return None
        pending = self._gga or self._rmc
        done = None
        if pending is not None and pending.time_of_day != sentence.time_of_day:
            done = self.flush()
        if isinstance(sentence, GgaSentence):
            if self._gga is not None:
                self.rejects["duplicate"] += 1
                return done
            self._gga = sentence
        else:
            if self._rmc is not None:
                self.rejects["duplicate"] += 1
                return done
            self._rmc = sentence
            if sentence.date is not None:
                self._last_date, self._last_date_time = sentence.date, sentence.time_of_day
        if self._gga is not None and self._rmc is not None:
            return self.flush()
        return done

    def flush(self) -> GnssFix | None:
        """Return the pending epoch's fix (if any) even though it is incomplete."""
        gga, rmc = self._gga, self._rmc
        self._gga = self._rmc = None
        first = gga or rmc
        if first is None:
            return None
        altitude, reference = None, None
        if gga is not None and gga.altitude_msl_m is not None:
            if gga.geoid_separation_m is not None:
                altitude = gga.altitude_msl_m + gga.geoid_separation_m
                reference = AltitudeReference.ELLIPSOID
            else:
                altitude, reference = gga.altitude_msl_m, AltitudeReference.MSL
        return GnssFix(
            time=self._utc(first.time_of_day, rmc.date if rmc is not None else None),
            latitude_deg=first.latitude_deg,
            longitude_deg=first.longitude_deg,
            altitude_m=altitude,
            altitude_reference=reference,
            speed_mps=rmc.speed_mps if rmc is not None else None,
            course_deg=rmc.course_deg if rmc is not None else None,
            # GGA's quality code is finer than RMC's status and mode.
            quality=gga.quality if gga is not None else first.quality,
            satellites=gga.satellites if gga is not None else None,
            hdop=gga.hdop if gga is not None else None,
            talker=first.talker,
        )

    def _utc(self, tod: time, day: date | None) -> datetime | None:
        if day is None:
            if self._last_date is None or self._last_date_time is None:
                return None
            day = self._last_date
            # A GGA-only epoch just after midnight still carries the last RMC's (old) date.
            if _seconds(tod) < _seconds(self._last_date_time) - _HALF_DAY.total_seconds():
                day += timedelta(days=1)
        return datetime.combine(day, tod, tzinfo=UTC)


def _seconds(tod: time) -> float:
    return tod.hour * 3600 + tod.minute * 60 + tod.second + tod.microsecond / 1e6
