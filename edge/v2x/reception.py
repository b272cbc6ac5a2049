"""Robust reception: what the radio hears is untrusted input. ``ReceptionFilter`` passes on only
the believable messages and counts every other one by reason, so that one bad frame never
becomes a false warning.

It takes messages as ``V2xRadio``'s ``on_heard`` gives them (kind, decoded fields, receive time)
and hands the believable ones, unchanged, to the ``downstream`` callable of its constructor.

BSM: missing or mistyped fields, non-finite or impossible values, stale or future-dated
``secMark`` (relative to the receive time, across the minute's rollover), the same frame heard
again, a frame older than the sender's last, and a position or speed its sender could not have
reached from its last believable BSM are dropped. When a sender's BSMs keep disagreeing with its
last believable one but agree with each other (a real GNSS jump, or a first BSM that was the
bad one), the filter follows them after ``reanchor_after`` of them.
SPAT: stale, future-dated and duplicates by ``moy`` and ``timeStamp`` when it carries both.
RSM: the same by its newest participant's ``secMark``. MAP and RSI carry at most a minute of
the year, a creation or version stamp rather than a freshness one: they pass.

What it cannot stop: a sender that forges a whole consistent stream under another's id; that
takes the signatures of the 1609.2 security header.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from edge.geodesy import GeodesyError, geodetic_to_ecef
from edge.roadside.cooperative_reports import MINUTE_MS, bsm_capture_time
from protocols.schema.v1 import roadgate_pb2 as pb

Downstream = Callable[[str, Mapping[str, Any], float], None]

MINUTES_PER_LEAP_YEAR = 527_040  # MinuteOfTheYear's 527040 means invalid
RECENT_KEYS_PER_SENDER = 32  # 3 s of BSMs at 10 Hz: more than any dedupe window needs
SAME_INSTANT_S = 0.0005
MAX_UNIX_S = 1e11  # year ~5100: beyond it a receive time is corrupt


@dataclass(frozen=True, slots=True)
class ReceptionSettings:
    """What the filter believes (defaults and their source).

    ``max_age_s``: 1.0, ten periods of T/CSAE 53's 10 Hz BSM; older is no longer "now".
    ``max_future_s``: 0.2, two periods: clocks of GNSS-timed senders agree to milliseconds,
    so a time further ahead is a wrong clock or a forgery.
    ``max_speed_mps``: 70 (252 km/h), above any road vehicle on a public road.
    ``max_accel_mps2``: 12, above tyre grip (~1 g) in any direction: bounds how far a vehicle
    can stray from where its last speed and heading would take it, and how fast its speed
    can change.
    ``max_jump_m``: 5, what two GNSS fixes of one receiver may disagree by on top of that
    (multipath in a street canyon); more than a lane, so a frame cannot move a car to the
    next lane but one.
    ``speed_slack_mps``: 2, speed measurement noise added to the speed-change bound.
    ``dedupe_window_s``: 2.0, how long a frame's (msgCnt, secMark) is remembered as heard.
    ``reanchor_after``: 3, consecutive mutually consistent BSMs that replace a sender's last
    believable position they all disagree with.
    ``max_senders``: 2048, senders remembered; the least recently heard is forgotten first.
    """

    max_age_s: float = 1.0
    max_future_s: float = 0.2
    max_speed_mps: float = 70.0
    max_accel_mps2: float = 12.0
    max_jump_m: float = 5.0
    speed_slack_mps: float = 2.0
    dedupe_window_s: float = 2.0
    reanchor_after: int = 3
    max_senders: int = 2048

    def __post_init__(self) -> None:
        for name in (
            "max_age_s",
            "max_future_s",
            "max_speed_mps",
            "max_accel_mps2",
            "max_jump_m",
            "speed_slack_mps",
            "dedupe_window_s",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and not negative, not {value}")
        if self.reanchor_after < 1 or self.max_senders < 1:
            raise ValueError("reanchor_after and max_senders must be at least 1")


@dataclass(frozen=True, slots=True)
class _Fix:
    """A BSM's kinematics: capture time (Unix s), ECEF position (m) or None, speed (m/s) or
    None, heading (rad clockwise from north), and whether it drives backwards."""

    time_s: float
    ecef: tuple[float, float, float] | None
    latitude_deg: float
    longitude_deg: float
    speed_mps: float | None
    heading_rad: float
    reversing: bool


@dataclass(slots=True)
class _Sender:
    """What is remembered of one sender: recently heard keys (key, receive time), its last
    believable fix, and the run of fixes that disagree with it but agree with each other."""

    recent: deque[tuple[tuple[Any, ...], float]] = field(
        default_factory=lambda: deque(maxlen=RECENT_KEYS_PER_SENDER)
    )
    last_time_s: float = -math.inf
    anchor: _Fix | None = None
    candidate: _Fix | None = None
    candidate_run: int = 0


class _RejectedError(Exception):
    """A message refused, with its counter reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ReceptionFilter:
    """An ``on_heard`` callable that passes believable messages to ``downstream``.

    Counters (``counters``): ``passed`` and ``rejects.<reason>``, reasons ``malformed``
    (missing, mistyped or non-finite fields, or a bad receive time), ``no_time`` (secMark
    unavailable or a leap second), ``out_of_range`` (impossible values: latitude, longitude,
    heading, speed over ``max_speed_mps``), ``stale``, ``future``, ``duplicate``,
    ``out_of_order`` (older than the sender's last), ``position_jump``, ``speed_jump``.
    Never raises on any input (``downstream`` may).
    """

    def __init__(self, downstream: Downstream, settings: ReceptionSettings | None = None) -> None:
        self._downstream = downstream
        self._settings = settings or ReceptionSettings()
        self._senders: OrderedDict[tuple[Any, ...], _Sender] = OrderedDict()
        self._counts: Counter[str] = Counter({"passed": 0})

    @property
    def settings(self) -> ReceptionSettings:
        return self._settings

    @property
    def counters(self) -> Mapping[str, int]:
        return dict(self._counts)

    @property
    def sender_count(self) -> int:
        """Senders remembered (at most ``settings.max_senders``)."""
        return len(self._senders)

    def __call__(self, kind: str, fields: Mapping[str, Any], received_s: float) -> None:
        """Check one message heard at ``received_s`` (Unix s); pass it on or count why not."""
        if self.accept(kind, fields, received_s):
            self._downstream(kind, fields, received_s)

    def accept(self, kind: str, fields: Mapping[str, Any], received_s: float) -> bool:
        """Whether the message is believable (counted either way); remembers it if so."""
        try:
            if not isinstance(fields, Mapping) or not _finite(received_s):
                raise _RejectedError("malformed")
            received = float(received_s)
            if not 0 <= received <= MAX_UNIX_S:
                raise _RejectedError("malformed")
            if kind == "bsm":
                self._check_bsm(fields, received)
            elif kind == "spat":
                sender_key: tuple[Any, ...] = ("spat", _spat_sender(fields))
                self._check_stamped(sender_key, _spat_stamp(fields, received), received)
            elif kind == "rsm":
                sender_key = ("rsm", _rsm_sender(fields))
                self._check_stamped(sender_key, _rsm_stamp(fields, received), received)
        except _RejectedError as reject:
            self._counts[f"rejects.{reject.reason}"] += 1
            return False
        except (KeyError, TypeError, ValueError, OverflowError, AttributeError, IndexError):
            self._counts["rejects.malformed"] += 1
            return False
        self._counts["passed"] += 1
        return True

    def _check_bsm(self, fields: Mapping[str, Any], received_s: float) -> None:
        station_id, msg_cnt, sec_mark = (
            _integer(fields["station_id"]),
            _integer(fields["msg_cnt"]),
            _integer(fields["sec_mark_ms"]),
        )
        if not (0 <= station_id < 1 << 64 and 0 <= msg_cnt < 128):
            raise _RejectedError("out_of_range")
        if not 0 <= sec_mark < MINUTE_MS:
            raise _RejectedError("no_time")
        fix = self._fix(fields, bsm_capture_time(sec_mark, received_s))
        self._check_fresh(fix.time_s, received_s)
        key = ("bsm", station_id)
        sender = self._sender(key)
        self._check_new(sender, (msg_cnt, sec_mark), fix.time_s, received_s)
        self._check_motion(sender, fix)
        self._remember(sender, (msg_cnt, sec_mark), fix.time_s, received_s)

    def _fix(self, fields: Mapping[str, Any], time_s: float) -> _Fix:
        latitude, longitude = (
            _optional_float(fields["latitude_deg"]),
            _optional_float(fields["longitude_deg"]),
        )
        altitude = _optional_float(fields.get("altitude_m")) or 0.0
        speed = _optional_float(fields["speed_mps"])
        heading = _optional_float(fields["heading_rad"])
        if heading is None:
            raise _RejectedError("malformed")
        if not 0.0 <= heading <= math.tau:
            raise _RejectedError("out_of_range")
        if speed is not None and not 0.0 <= speed <= self._settings.max_speed_mps:
            raise _RejectedError("out_of_range")
        # No position, or (0, 0), what an encoder without a fix sends: nothing to move.
        ecef = None
        if latitude is not None and longitude is not None and (latitude, longitude) != (0, 0):
            if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
                raise _RejectedError("out_of_range")
            if not -1000.0 <= altitude <= 10_000.0:
                raise _RejectedError("out_of_range")
            try:
                x, y, z = geodetic_to_ecef(latitude, longitude, altitude)
            except GeodesyError as err:
                raise _RejectedError("out_of_range") from err
            ecef = (float(x), float(y), float(z))
        return _Fix(
            time_s,
            ecef,
            latitude or 0.0,
            longitude or 0.0,
            speed,
            heading,
            fields.get("gear") == pb.GEAR_REVERSE,
        )

    def _check_stamped(
        self,
        sender_key: tuple[Any, ...],
        stamp: tuple[tuple[Any, ...], float] | None,
        received_s: float,
    ) -> None:
        """Freshness and duplicates of a message with a (key, capture time) stamp, if any."""
        if stamp is None:
            return
        key, time_s = stamp
        self._check_fresh(time_s, received_s)
        sender = self._sender(sender_key)
        self._check_new(sender, key, time_s, received_s)
        self._remember(sender, key, time_s, received_s)

    def _check_fresh(self, time_s: float, received_s: float) -> None:
        age = received_s - time_s
        if age > self._settings.max_age_s:
            raise _RejectedError("stale")
        if age < -self._settings.max_future_s:
            raise _RejectedError("future")

    def _check_new(
        self, sender: _Sender, key: tuple[Any, ...], time_s: float, received_s: float
    ) -> None:
        window = self._settings.dedupe_window_s
        if any(k == key and received_s - heard <= window for k, heard in sender.recent):
            raise _RejectedError("duplicate")
        # Within half a millisecond (the stamps' resolution; capture times are reconstructed
        # in floats from different receive times): the same instant.
        if time_s < sender.last_time_s - SAME_INSTANT_S:
            raise _RejectedError("out_of_order")
        if time_s <= sender.last_time_s + SAME_INSTANT_S:
            raise _RejectedError("duplicate")  # another frame claiming the same instant

    def _check_motion(self, sender: _Sender, fix: _Fix) -> None:
        """Refuse a fix its sender could not have reached from its last believable one, unless
        it continues a run of such fixes long enough to be believed instead."""
        if fix.ecef is None:
            return
        reason = self._implausible(sender.anchor, fix)
        if reason is None:
            sender.anchor, sender.candidate, sender.candidate_run = fix, None, 0
            return
        if sender.candidate is not None and self._implausible(sender.candidate, fix) is None:
            sender.candidate_run += 1
        else:
            sender.candidate_run = 1
        sender.candidate = fix
        if sender.candidate_run >= self._settings.reanchor_after:
            sender.anchor, sender.candidate, sender.candidate_run = fix, None, 0
            return
        raise _RejectedError(reason)

    def _implausible(self, last: _Fix | None, fix: _Fix) -> str | None:
        """Why ``fix`` cannot follow ``last`` physically (None: it can)."""
        if last is None or last.ecef is None or fix.ecef is None:
            return None
        s = self._settings
        dt = fix.time_s - last.time_s
        distance = math.dist(last.ecef, fix.ecef)
        if distance > s.max_speed_mps * dt + s.max_jump_m:
            return "position_jump"
        if last.speed_mps is None or fix.speed_mps is None:
            return None
        if abs(fix.speed_mps - last.speed_mps) > s.max_accel_mps2 * dt + s.speed_slack_mps:
            return "speed_jump"
        # Where the last speed and heading lead, give or take what grip allows.
        direction = -1.0 if last.reversing else 1.0
        travel = direction * last.speed_mps * dt
        east, north = _east_north(last, last.ecef, fix.ecef)
        miss = math.hypot(
            east - travel * math.sin(last.heading_rad), north - travel * math.cos(last.heading_rad)
        )
        if miss > 0.5 * s.max_accel_mps2 * dt * dt + s.max_jump_m:
            return "position_jump"
        return None

    def _sender(self, key: tuple[Any, ...]) -> _Sender:
        sender = self._senders.get(key)
        if sender is None:
            sender = _Sender()
            self._senders[key] = sender
            while len(self._senders) > self._settings.max_senders:
                self._senders.popitem(last=False)
        else:
            self._senders.move_to_end(key)
        return sender

    @staticmethod
    def _remember(sender: _Sender, key: tuple[Any, ...], time_s: float, received_s: float) -> None:
        sender.recent.append((key, received_s))
        sender.last_time_s = time_s


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: object) -> int:
    """An integer field; ``malformed`` for anything else (a bool included)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise _RejectedError("malformed")
    return value


def _optional_float(value: object) -> float | None:
    """A number field that may be unavailable (None); ``malformed`` if not finite."""
    if value is None:
        return None
    if not _finite(value):
        raise _RejectedError("malformed")
    return float(value)  # type: ignore[arg-type]


def _east_north(
    origin: _Fix, origin_ecef: tuple[float, float, float], ecef: tuple[float, float, float]
) -> tuple[float, float]:
    """``ecef`` east and north of ``origin_ecef`` (m), in the local frame at ``origin``."""
    dx, dy, dz = (b - a for a, b in zip(origin_ecef, ecef, strict=True))
    lat, lon = math.radians(origin.latitude_deg), math.radians(origin.longitude_deg)
    east = -math.sin(lon) * dx + math.cos(lon) * dy
    north = -math.sin(lat) * (math.cos(lon) * dx + math.sin(lon) * dy) + math.cos(lat) * dz
    return east, north


def _minute_of_year_time(moy: int, received_s: float) -> float:
    """The Unix time of the start of minute ``moy`` of the year nearest ``received_s`` (a
    message stamped in late December may be heard in January)."""
    year = datetime.fromtimestamp(received_s, UTC).year
    starts = (datetime(y, 1, 1, tzinfo=UTC).timestamp() + moy * 60.0 for y in (year - 1, year))
    return min(starts, key=lambda start: abs(start - received_s))


def _spat_sender(fields: Mapping[str, Any]) -> tuple[tuple[int | None, int], ...]:
    """A SPAT's sender: its intersections (region, id)."""
    items = fields["intersections"]
    if not isinstance(items, list | tuple):
        raise _RejectedError("malformed")
    return tuple(
        (
            None if item.get("region") is None else _integer(item["region"]),
            _integer(item["intersection_id"]),
        )
        for item in items
    )


def _spat_stamp(
    fields: Mapping[str, Any], received_s: float
) -> tuple[tuple[Any, ...], float] | None:
    """A SPAT's dedupe key and capture time; None when it carries no ``timeStamp``."""
    msg_cnt = _integer(fields["msg_cnt"])
    moy, stamp = fields.get("moy"), fields.get("timestamp_ms")
    if stamp is None:
        return None
    stamp = _integer(stamp)
    if not 0 <= stamp < MINUTE_MS:
        raise _RejectedError("no_time")
    if moy is None or _integer(moy) == MINUTES_PER_LEAP_YEAR:
        return (msg_cnt, None, stamp), bsm_capture_time(stamp, received_s)
    if not 0 <= moy < MINUTES_PER_LEAP_YEAR:
        raise _RejectedError("out_of_range")
    return (msg_cnt, moy, stamp), _minute_of_year_time(moy, received_s) + stamp / 1000.0


def _rsm_sender(fields: Mapping[str, Any]) -> bytes:
    """An RSM's sender: its RSU id."""
    rsu_id = fields["id"]
    if not isinstance(rsu_id, bytes) or len(rsu_id) != 8:
        raise _RejectedError("malformed")
    return rsu_id


def _rsm_stamp(
    fields: Mapping[str, Any], received_s: float
) -> tuple[tuple[Any, ...], float] | None:
    """An RSM's dedupe key and capture time: its newest participant's ``secMark``; None when no
    participant has one available."""
    msg_cnt = _integer(fields["msgCnt"])
    participants = fields["participants"]
    if not isinstance(participants, list | tuple):
        raise _RejectedError("malformed")
    marks = tuple(_integer(p["secMark"]) for p in participants)
    times = [bsm_capture_time(m, received_s) for m in marks if 0 <= m < MINUTE_MS]
    if not times:
        return None
    return (msg_cnt, marks), max(times)
