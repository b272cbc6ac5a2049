"""Validation of one received message: size, topic, Envelope, value ranges, capture time.

Out-of-range values (a non-finite float, a latitude past 90 degrees, a negative speed, ...) are
rejected with reason ``out_of_range`` and dead-lettered: a consumer of the store may then trust
every stored value to be finite and physically possible. The ranges follow the units written in
``protocols/schema/v1/roadgate.proto`` and are generous (``_RANGES`` says why each bound).

A capture time far from the bridge's own clock (a board without NTP that booted in 1970, a GNSS
glitch dating a fix in 2100, an unset 0) does not reject a message: its data are still good, and
rejecting would lose everything a device with a bad clock sends. It is stored with its
``clock_suspect`` flag set (and counted), and never orders anything: device status follows the
order of a device's messages (boot, sequence), not their timestamps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from protocols.envelope import check_topic, decode
from protocols.errors import ProtocolError
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import Topic

MAX_SQL_INTEGER = 2**63 - 1
"""Sequence numbers are uint64 on the wire but SQL integers are signed 64-bit."""


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid message: its parsed topic, its Envelope and the bytes it came in.

    ``clock_suspect`` is True when its capture time lay outside the :class:`CaptureWindow`
    around the bridge's clock when it was received (False when no window was checked).
    """

    topic: Topic
    envelope: pb.Envelope
    payload: bytes
    clock_suspect: bool = False


@dataclass(frozen=True, slots=True)
class Rejected:
    """An invalid message.

    ``reason`` is machine-readable (a counter label and the dead-letter reason): ``oversized``,
    ``bad_topic``, ``malformed``, ``unknown_schema_version``, ``no_body``, ``no_device_id``,
    ``no_boot_id``, ``device_mismatch``, ``stream_mismatch`` or ``out_of_range`` (a sequence
    past what SQL stores, a value out of its physical range, or a recording chunk that cannot
    be part of its capture). ``detail`` is for humans and
    names the field and its value.
    """

    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class CaptureWindow:
    """How far a capture time may lie behind or ahead of the bridge's clock, in seconds.

    The default age (7 days) covers a device's outbox (24 h by default) replayed after an outage
    plus a bridge that was down over a long weekend while the broker queued for it; ahead (5 min)
    covers an undisciplined clock's drift. Raises ``ValueError`` for a negative or NaN bound.
    """

    max_age_s: float = 7 * 24 * 3600.0
    max_ahead_s: float = 300.0

    def __post_init__(self) -> None:
        for name in ("max_age_s", "max_ahead_s"):
            value = getattr(self, name)
            if not value >= 0:  # also rejects NaN
                raise ValueError(f"capture window {name} {value} is not valid: use >= 0")

    def contains(self, capture_time_ns: int, now_ns: int) -> bool:
        """Whether ``capture_time_ns`` lies within the window around ``now_ns``."""
        # Integer nanoseconds: no float rounding near the int64 extremes a device may send.
        earliest = now_ns - _seconds_to_ns(self.max_age_s)
        latest = now_ns + _seconds_to_ns(self.max_ahead_s)
        return earliest <= capture_time_ns <= latest


def _seconds_to_ns(seconds: float) -> int:
    # Past 2**64 ns (584 years) a window spans every int64 time anyway: cap before multiplying,
    # so that a huge or infinite bound cannot overflow.
    return int(min(seconds, 1e12) * 1e9)


def validate(
    topic: str,
    payload: bytes,
    max_payload_bytes: int,
    *,
    received_time_ns: int | None = None,
    window: CaptureWindow | None = None,
) -> Accepted | Rejected:
    """Check one message received on ``topic``.

    Takes the topic string, the raw payload and the size limit; with ``received_time_ns`` and
    ``window`` also flags (``Accepted.clock_suspect``) a capture time outside the window.
    Returns ``Accepted`` or ``Rejected``. Never raises on any topic or payload.
    """
    # Size first, so that an oversized payload costs no parsing.
    if len(payload) > max_payload_bytes:
        return Rejected("oversized", f"{len(payload)} bytes > limit of {max_payload_bytes}")
    try:
        parsed = Topic.parse(topic)
        envelope = decode(payload)
        check_topic(envelope, parsed)
    except ProtocolError as err:
        return Rejected(err.reason, str(err))
    if envelope.sequence > MAX_SQL_INTEGER:
        # A store could not hold it (SQLite and PostgreSQL integers are signed 64-bit), and no
        # device counts this high: it is corrupt or hostile.
        return Rejected("out_of_range", f"sequence {envelope.sequence} > {MAX_SQL_INTEGER}")
    problem = out_of_range(envelope)
    if problem is None and not 0.0 <= envelope.clock_max_error_s <= 1e10:
        problem = f"clock_max_error_s {envelope.clock_max_error_s!r} is outside [0, 1e+10]"
    if problem is not None:
        return Rejected("out_of_range", problem)
    suspect = (
        received_time_ns is not None
        and window is not None
        and not window.contains(envelope.capture_time_ns, received_time_ns)
    )
    return Accepted(parsed, envelope, bytes(payload), clock_suspect=suspect)


# (field, low, high), inclusive; every float field of every uplink body (roadgate.proto v1).
# NaN and infinities are out of every range.
_TAU = 2 * math.pi
_POSITION = (
    ("latitude_deg", -90.0, 90.0),
    ("longitude_deg", -180.0, 180.0),
    # Height above the ellipsoid: the lowest land is about -500 m (Dead Sea plus the geoid),
    # the highest roads about 5,600 m.
    ("altitude_m", -1_000.0, 10_000.0),
    ("horizontal_accuracy_m", 0.0, 100_000.0),  # 0 = unknown; dead reckoning may drift far
)
# Headings: [0, 2pi) by the schema, but producers use (-pi, pi] too (atan2).
_HEADING = (-_TAU, _TAU)
_SPEED = (0.0, 150.0)  # over ground: 540 km/h is far above any road user
_RANGES: dict[str, tuple[tuple[str, float, float], ...]] = {
    "vehicle_state": (
        ("speed_mps", *_SPEED),
        ("heading_rad", *_HEADING),
        ("yaw_rate_rad_s", -10.0, 10.0),  # cars stay under 2 rad/s; IMUs saturate near 5
        ("longitudinal_accel_mps2", -160.0, 160.0),  # +-16 g, the widest usual IMU range
        ("lateral_accel_mps2", -160.0, 160.0),
        ("steering_wheel_angle_rad", -8 * math.pi, 8 * math.pi),  # +-4 turns (trucks: ~2.5)
        ("brake_pressure_pa", 0.0, 50e6),  # hydraulic brakes peak near 20 MPa
        ("length_m", 0.0, 100.0),  # road trains are about 53 m
        ("width_m", 0.0, 20.0),
        ("speed_accuracy_mps", 0.0, 1_000.0),  # 0 = unknown; generous for a coasting filter
        ("heading_accuracy_rad", 0.0, _TAU),
    ),
    "object_list": (("sensor_heading_rad", *_HEADING),),
    "event": (
        ("radius_m", 0.0, 100_000.0),
        ("time_to_collision_s", 0.0, 3_600.0),  # 0 when not applicable
        ("distance_m", 0.0, 100_000.0),  # 0 when not applicable
        ("advised_speed_mps", 0.0, 100.0),  # GLOSA; 0 when none
    ),
    "health": (
        ("uptime_s", 0.0, 1e10),  # ~300 years
        ("cpu_load", 0.0, 1_000.0),  # load average per core; a stuck box may exceed 1 by far
        ("temperature_c", -100.0, 200.0),  # 0 = unknown
        # Box clock minus GNSS time: a box whose clock never got set reports -1.7e9 s (1970).
        ("gnss_clock_offset_s", -1e10, 1e10),
    ),
}
_OBJECT = (
    ("x_m", -5_000.0, 5_000.0),  # radars and lidars see a few hundred metres
    ("y_m", -5_000.0, 5_000.0),
    ("vx_mps", -300.0, 300.0),  # relative to the sensor: two road users closing at 150 m/s
    ("vy_mps", -300.0, 300.0),
    ("speed_mps", *_SPEED),
    ("heading_rad", *_HEADING),
    ("length_m", 0.0, 100.0),
    ("width_m", 0.0, 100.0),
    ("existence_probability", 0.0, 1.0),
    ("rcs_dbsm", -100.0, 100.0),  # ARS408 reports -64 to +63.5 dBm^2
    ("speed_accuracy_mps", 0.0, 1_000.0),  # 0 = unknown
    ("heading_accuracy_rad", 0.0, _TAU),
    ("age_s", 0.0, 1e9),  # a parked car may be tracked for weeks
)
# East-north covariances of a fused object: variances non-negative, and a correlation within
# [-1, 1] is left to consumers (a 2x2 check would need both variances at once).
_COVARIANCE = (
    ("east_east", 0.0, 1e10),
    ("east_north", -1e10, 1e10),
    ("north_north", 0.0, 1e10),
)
# An intersection description (IntersectionGeometry): metres east/north of its reference.
_OFFSET = (-20_000.0, 20_000.0)  # the box reads points within 10 km
_POINT = (("east_m", *_OFFSET), ("north_m", *_OFFSET))
_APPROACH = (("speed_limit_mps", *_SPEED),)  # 0 = none
_LANE = (("width_m", 0.0, 1_000.0), ("speed_limit_mps", *_SPEED))
_SIGN = (("east_m", *_OFFSET), ("north_m", *_OFFSET), ("speed_limit_mps", *_SPEED))
_PHASE = (
    # Seconds from capture time: TSCBM counts tenths up to 6,553.5 s; a phase already overdue
    # by the capture latency may be slightly negative.
    ("min_end_s", -60.0, 7_200.0),
    ("max_end_s", -60.0, 7_200.0),
    ("likely_end_s", -60.0, 7_200.0),
)


def out_of_range(envelope: pb.Envelope) -> str | None:
    """The first value of ``envelope``'s body outside its range, described; None if all fit.

    Checks every float field of the body (positions included, every object and phase of a
    list). Never raises.
    """
    body_name = envelope.WhichOneof("body")
    if body_name is None:
        return None
    body = getattr(envelope, body_name)
    problem = _check(body, _RANGES.get(body_name, ()), body_name)
    if problem is not None:
        return problem
    if body_name == "vehicle_state" and body.HasField("position"):
        return _check(body.position, _POSITION, "vehicle_state.position")
    if body_name == "event" and body.HasField("position"):
        return _check(body.position, _POSITION, "event.position")
    if body_name == "object_list":
        if body.HasField("sensor_position"):
            problem = _check(body.sensor_position, _POSITION, "object_list.sensor_position")
            if problem is not None:
                return problem
        return _check_each(body.objects, "object_list.objects")
    if body_name == "spat":
        for index, phase in enumerate(body.phases):
            problem = _check(phase, _PHASE, f"spat.phases[{index}]")
            if problem is not None:
                return problem
    if body_name == "intersection":
        return _check_intersection(body)
    if body_name == "recording_chunk":
        return _check_chunk(body)
    return None


SHA256_BYTES = 32


def _check_chunk(chunk: pb.RecordingChunk) -> str | None:
    # A chunk that cannot be part of its capture would only make reassembly guess.
    if not chunk.capture_id:
        return "recording_chunk.capture_id is empty"
    if not chunk.index < chunk.count:
        return f"recording_chunk.index {chunk.index} is not below its count {chunk.count}"
    if chunk.offset + len(chunk.data) > chunk.total_bytes:
        return (
            f"recording_chunk.data ends at {chunk.offset + len(chunk.data)}, past total_bytes "
            f"{chunk.total_bytes}"
        )
    if len(chunk.sha256) != SHA256_BYTES:
        return f"recording_chunk.sha256 has {len(chunk.sha256)} bytes, not {SHA256_BYTES}"
    return None


def _check_intersection(body: pb.IntersectionGeometry) -> str | None:
    checks: list[tuple[object, tuple[tuple[str, float, float], ...], str]] = []
    if body.HasField("reference"):
        checks.append((body.reference, _POSITION, "intersection.reference"))
    for a, approach in enumerate(body.approaches):
        where = f"intersection.approaches[{a}]"
        checks.append((approach, _APPROACH, where))
        for n, lane in enumerate(approach.lanes):
            checks.append((lane, _LANE, f"{where}.lanes[{n}]"))
            checks += [
                (point, _POINT, f"{where}.lanes[{n}].points[{p}]")
                for p, point in enumerate(lane.points)
            ]
    for s, sign in enumerate(body.signs):
        checks.append((sign, _SIGN, f"intersection.signs[{s}]"))
        if sign.HasField("position"):
            checks.append((sign.position, _POSITION, f"intersection.signs[{s}].position"))
    for message, ranges, where in checks:
        problem = _check(message, ranges, where)
        if problem is not None:
            return problem
    return None


def _check_each(objects: Iterable[pb.PerceivedObject], where: str) -> str | None:
    for index, obj in enumerate(objects):
        problem = _check(obj, _OBJECT, f"{where}[{index}]")
        if problem is None and obj.HasField("position"):
            problem = _check(obj.position, _POSITION, f"{where}[{index}].position")
        for name in ("position_covariance", "velocity_covariance"):
            if problem is None and obj.HasField(name):
                problem = _check(getattr(obj, name), _COVARIANCE, f"{where}[{index}].{name}")
        if problem is not None:
            return problem
    return None


def _check(message: object, ranges: tuple[tuple[str, float, float], ...], where: str) -> str | None:
    for name, low, high in ranges:
        value = getattr(message, name)
        # Written so that NaN fails: every comparison with NaN is False.
        if not low <= value <= high:
            return f"{where}.{name} {value!r} is outside [{low:g}, {high:g}]"
    return None
