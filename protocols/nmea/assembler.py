"""Merge the sentences of one receiver epoch into one ``GnssFix``.

A receiver sends a burst of sentences per epoch (its *cycle*). GGA, GNS, RMC, GLL, GST, GBS and ZDA
carry the epoch's UTC time of day; VTG, GSA, GSV, HDT and THS do not and belong to the epoch
being assembled when they arrive. A sentence with a new time of day ends the previous epoch.
Waiting for it would delay every fix by one cycle, so, like gpsd, the assembler learns which
sentence ends the cycle (the last one before the time changed, counted by its position among
same-named sentences, e.g. the 4th ``GNGSA``) and returns the fix as soon as that sentence
arrives. Before it has learnt that, a stream of nothing but GGA and RMC (a simulator, a
basic receiver) has its epoch returned as soon as it has both. Any other epoch (one of GNS
alone, say) is returned when the next epoch's time arrives, or by ``flush()``.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import fields
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar

from protocols.errors import NmeaError
from protocols.nmea.fix import (
    AltitudeReference,
    ErrorEstimate,
    FaultDetection,
    FixMode,
    FixQuality,
    GnssFix,
)
from protocols.nmea.sentences import (
    GbsSentence,
    GgaSentence,
    GllSentence,
    GnsSentence,
    GsaSentence,
    GstSentence,
    GsvSentence,
    HeadingSentence,
    RmcSentence,
    Sentence,
    VtgSentence,
    ZdaSentence,
    parse_sentence,
)

_T = TypeVar("_T")
_Part = TypeVar("_Part", ErrorEstimate, FaultDetection)
_HALF_DAY_S = timedelta(hours=12).total_seconds()
# An epoch never holds more sentences than this (a receiver that sends no timed sentence
# at all would otherwise grow one without end); gpsd's longest cycles hold about 60.
_MAX_SENTENCES = 256
_CONSTELLATIONS = {
    "GP": "gps",
    "GL": "glonass",
    "GA": "galileo",
    "GB": "beidou",
    "BD": "beidou",
    "GQ": "qzss",
    "GI": "navic",
    "GN": "gnss",
}

_Singleton = (
    GgaSentence
    | GnsSentence
    | RmcSentence
    | GllSentence
    | VtgSentence
    | GstSentence
    | GbsSentence
    | ZdaSentence
    | HeadingSentence
)


class _Epoch:
    """The sentences collected for one epoch so far."""

    def __init__(self) -> None:
        self.time: time | None = None
        self.singletons: dict[str, _Singleton] = {}
        self.gsas: list[GsaSentence] = []
        self.gsvs: list[GsvSentence] = []
        self.count = 0
        self.first_talker = ""

    def add(self, sentence: Sentence) -> bool:
        """Keep the sentence; False (and not kept) if the epoch already has one like it."""
        if isinstance(sentence, GsaSentence):
            self.gsas.append(sentence)
        elif isinstance(sentence, GsvSentence):
            self.gsvs.append(sentence)
        else:
            kind = _kind(sentence)
            if kind in self.singletons:
                return False
            self.singletons[kind] = sentence
        if self.time is None:
            self.time = sentence.time_of_day
        if not self.count:
            self.first_talker = sentence.talker
        self.count += 1
        return True

    def get(self, kind: str, cls: type[_T]) -> _T | None:
        value = self.singletons.get(kind)
        return value if isinstance(value, cls) else None


class NmeaFixAssembler:
    """Feed sentences one by one; get a fix per epoch (see the module docstring).

    ``flush()`` returns the epoch still being assembled. Sentences we do not use are counted
    in ``rejects`` by reason (``not_ascii``, ``malformed``, ``no_checksum``, ``checksum``,
    ``unsupported``, ``no_time``, ``duplicate`` for a second GGA, GNS, RMC, GLL, VTG, GST,
    GBS, ZDA, HDT or THS in one epoch, ``late`` for a timed sentence of an epoch already returned);
    the others in ``accepted`` by sentence type. ``feed`` never raises on bad bytes.
    """

    def __init__(self, *, allow_missing_checksum: bool = False) -> None:
        self.allow_missing_checksum = allow_missing_checksum
        self.rejects: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()
        self._epoch: _Epoch | None = None
        self._cycle_time: time | None = None  # time of day of the latest timed sentence
        self._cycle_keys: Counter[str] = Counter()
        self._last_key: tuple[str, int] | None = None
        self._ender: tuple[str, int] | None = None
        self._ender_fired = False
        self._only_gga_rmc = True  # so far; such a stream's epoch is complete with both
        self._returned_time: time | None = None
        self._last_date: date | None = None
        self._last_date_time: time | None = None

    def feed(self, line: bytes) -> GnssFix | None:
        """Take one sentence (bytes, CR/LF optional); return a completed fix or None."""
        try:
            sentence = parse_sentence(line, allow_missing_checksum=self.allow_missing_checksum)
        except NmeaError as err:
            self.rejects[err.reason] += 1
            return None
        tod = sentence.time_of_day
        done = None
        if tod is not None and tod != self._cycle_time:
            if self._cycle_time is not None and not self._ender_fired:
                self._ender = self._last_key  # the cycle ended with that sentence
            self._cycle_time, self._ender_fired = tod, False
            self._cycle_keys.clear()
            if self._epoch is not None and self._epoch.time is not None:
                done = self.flush()
        key = _cycle_key(sentence)
        self._cycle_keys[key] += 1
        self._last_key = (key, self._cycle_keys[key])
        epoch = self._epoch
        if tod is not None and tod == self._returned_time and (epoch is None or epoch.time is None):
            self.rejects["late"] += 1
            return done
        if epoch is None:
            epoch = self._epoch = _Epoch()
        kind = _kind(sentence)
        if epoch.add(sentence):
            self.accepted[kind] += 1
            self._only_gga_rmc = self._only_gga_rmc and kind in ("GGA", "RMC")
        else:
            self.rejects["duplicate"] += 1
        if done is None and epoch.time is not None:
            if self._ender is not None:
                if self._last_key == self._ender:
                    self._ender_fired = True
                    return self.flush()
            elif self._only_gga_rmc and {"GGA", "RMC"} <= epoch.singletons.keys():
                return self.flush()
        if epoch.count >= _MAX_SENTENCES:
            return done or self.flush()
        return done

    def flush(self) -> GnssFix | None:
        """Return the pending epoch's fix (if any) even though it may be incomplete."""
        epoch, self._epoch = self._epoch, None
        if epoch is None:
            return None
        self._returned_time = epoch.time
        gga = epoch.get("GGA", GgaSentence)
        gns = epoch.get("GNS", GnsSentence)
        rmc = epoch.get("RMC", RmcSentence)
        gll = epoch.get("GLL", GllSentence)
        vtg = epoch.get("VTG", VtgSentence)
        gst = epoch.get("GST", GstSentence)
        gbs = epoch.get("GBS", GbsSentence)
        zda = epoch.get("ZDA", ZdaSentence)
        headings = [epoch.get(kind, HeadingSentence) for kind in ("HDT", "THS")]
        # GGA and GNS carry the whole fix (GNS is GGA with a mode per constellation).
        fixer = gga or gns
        position = fixer or rmc or gll
        altitude, reference = None, None
        if fixer is not None and fixer.altitude_msl_m is not None:
            if fixer.geoid_separation_m is not None:
                altitude = fixer.altitude_msl_m + fixer.geoid_separation_m
                reference = AltitudeReference.ELLIPSOID
            else:
                altitude, reference = fixer.altitude_msl_m, AltitudeReference.MSL
        # GGA's quality code is finer than the mode letters of GNS and RMC, and those finer
        # than GLL's and VTG's.
        if position is not None:
            quality = position.quality
        else:
            quality = vtg.quality if vtg is not None and vtg.quality else FixQuality.NONE
        lat = position.latitude_deg if position is not None else None
        lon = position.longitude_deg if position is not None else None
        day = (zda.date if zda is not None else None) or (rmc.date if rmc is not None else None)
        return GnssFix(
            time=self._utc(epoch.time, day),
            latitude_deg=lat,
            longitude_deg=lon,
            altitude_m=altitude,
            altitude_reference=reference,
            speed_mps=_first(rmc.speed_mps if rmc else None, vtg.speed_mps if vtg else None),
            course_deg=_first(rmc.course_deg if rmc else None, vtg.course_deg if vtg else None),
            quality=quality,
            satellites=fixer.satellites if fixer is not None else None,
            hdop=_first(fixer.hdop if fixer else None, *(gsa.hdop for gsa in epoch.gsas)),
            talker=position.talker if position is not None else epoch.first_talker,
            mode=_mode(epoch.gsas, fixer, lat, lon, quality),
            pdop=_first(*(gsa.pdop for gsa in epoch.gsas)),
            vdop=_first(*(gsa.vdop for gsa in epoch.gsas)),
            satellites_used=_used(epoch.gsas),
            satellites_in_view=_in_view(epoch.gsvs),
            eph_m=_horizontal(gst),
            epv_m=gst.altitude_m if gst is not None else None,
            errors=_fix_part(ErrorEstimate, gst),
            heading_deg=_first(*(h.heading_deg for h in headings if h is not None)),
            fault_detection=_fix_part(FaultDetection, gbs),
            sentences=epoch.count,
        )

    def _utc(self, tod: time | None, day: date | None) -> datetime | None:
        if tod is None:
            return None
        if day is None:
            if self._last_date is None or self._last_date_time is None:
                return None
            day = self._last_date
            # An epoch without a date just after midnight still has the last (old) date.
            if _seconds(tod) < _seconds(self._last_date_time) - _HALF_DAY_S:
                day += timedelta(days=1)
        else:
            self._last_date, self._last_date_time = day, tod
        return datetime.combine(day, tod, tzinfo=UTC)


def _kind(sentence: Sentence) -> str:
    if isinstance(sentence, HeadingSentence):
        return sentence.kind
    return type(sentence).__name__[:3].upper()


def _cycle_key(sentence: Sentence) -> str:
    """A name for the sentence's place in a cycle, e.g. ``GNGSA3`` or ``GPGSV1:2``."""
    key = sentence.talker + _kind(sentence)
    if isinstance(sentence, GsaSentence):
        return f"{key}{sentence.system_id or ''}"
    if isinstance(sentence, GsvSentence):
        # Only the last part of a group is named without its number, so a group that grows
        # or shrinks by a part still ends with the same key.
        last = sentence.message_number == sentence.message_count
        return f"{key}{sentence.signal_id or ''}{'' if last else f':{sentence.message_number}'}"
    return key


def _first(*values: float | None) -> float | None:
    return next((value for value in values if value is not None), None)


def _mode(
    gsas: list[GsaSentence],
    fixer: GgaSentence | GnsSentence | None,
    lat: float | None,
    lon: float | None,
    quality: FixQuality,
) -> FixMode:
    """The receiver's own mode (the best of its GSAs), else gpsd's inference from the fix.

    As gpsd's ``processGGA`` and ``processGNS`` (drivers/driver_nmea0183.c): a position is
    2D, with an altitude 3D, and a GGA with fewer than 3 satellites used is no fix. (gpsd's
    newest code also wants 4 satellites for 3D; the gpsd captures we test against, from
    commit 46977faa, report a 3-satellite GGA with altitude as 3D: mtk-3301.log 08:14:37.)
    An empty satellites field is unknown here, where gpsd reads it as 0.
    """
    modes = [gsa.mode for gsa in gsas if gsa.mode is not None]
    if modes:
        return max(modes)
    if lat is None or lon is None or quality is FixQuality.NONE:
        return FixMode.NO_FIX
    if fixer is None:
        return FixMode.FIX_2D  # RMC or GLL: no altitude
    used = fixer.satellites
    if isinstance(fixer, GgaSentence) and used is not None and used < 3:
        return FixMode.NO_FIX  # a position from under 3 satellites is a placeholder
    if fixer.altitude_msl_m is not None:
        return FixMode.FIX_3D
    return FixMode.FIX_2D


def _used(gsas: list[GsaSentence]) -> tuple[int, ...] | None:
    if not gsas:
        return None
    return tuple(dict.fromkeys(sat for gsa in gsas for sat in gsa.satellites_used))


def _in_view(gsvs: list[GsvSentence]) -> tuple[tuple[str, int], ...] | None:
    if not gsvs:
        return None
    counts: dict[str, int] = {}
    for gsv in gsvs:
        if gsv.in_view is not None:
            name = _CONSTELLATIONS[gsv.talker]
            # NMEA 4.10 sends one group per signal; a constellation's count is the largest.
            counts[name] = max(counts.get(name, 0), gsv.in_view)
    return tuple(sorted(counts.items()))


def _horizontal(gst: GstSentence | None) -> float | None:
    if gst is None or gst.latitude_m is None or gst.longitude_m is None:
        return None
    return math.hypot(gst.latitude_m, gst.longitude_m)


def _fix_part(kind: type[_Part], sentence: GstSentence | GbsSentence | None) -> _Part | None:
    """The fix's ``kind`` (ErrorEstimate, FaultDetection) holding ``sentence``'s values.

    Each field of ``kind`` is the sentence's field of the same name: the fix keeps what the
    receiver sent, without the sentence's talker and time.
    """
    if sentence is None:
        return None
    return kind(**{f.name: getattr(sentence, f.name) for f in fields(kind)})


def _seconds(tod: time) -> float:
    return tod.hour * 3600 + tod.minute * 60 + tod.second + tod.microsecond / 1e6
