"""What a vehicle says about itself, in the intersection's frame: a ``CooperativeReport`` from a
vehicle gateway's ``state`` message or from a BSM heard by the radio, with honest covariances.

The conversions never raise on bad values: they return None and, given a ``Counter``, count the
reason. A value the sender marks unknown either refuses the report (no position, no speed, no
time) or takes a conservative default (``ReportDefaults``: accuracies a sender did not state).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.geodesy import GeodesyError, LocalFrame
from edge.tracking.track_set import FloatArray
from protocols.schema.v1 import roadgate_pb2 as pb

MINUTE_MS = 60_000
BSM_PREFIX = "bsm:"
# Physical bounds: past them a value is corrupt, and squaring it could overflow.
MAX_SPEED_MPS = 150.0
MAX_POSITION_STD_M = 10_000.0
MAX_SPEED_STD_MPS = 100.0
MAX_HEADING_STD_RAD = 2.0 * math.pi
MAX_CLOCK_ERROR_S = 60.0
MAX_SIZE_M = 100.0


@dataclass(frozen=True)
class CooperativeReport:
    """One vehicle's own estimate at ``time_s`` (capture time, Unix s): metres east/north of the
    intersection's reference point, m/s, their 1-sigma covariances (position and velocity taken
    as uncorrelated), and its size (0 = unknown)."""

    vehicle_id: str
    time_s: float
    position: FloatArray
    velocity: FloatArray
    position_covariance: FloatArray
    velocity_covariance: FloatArray
    length_m: float
    width_m: float


@dataclass(frozen=True, slots=True)
class ReportDefaults:
    """1-sigma accuracies taken when a sender does not state them; generous on purpose (a fix
    without a stated accuracy may well be a poor one). ``bsm_position_std_m``: a BSM's position
    without ``position_accuracy_m`` (the T/CSAE 53 decoder does not return posConfidence yet).
    """

    speed_std_mps: float = 1.0
    heading_std_rad: float = math.radians(10.0)
    bsm_position_std_m: float = 5.0

    def __post_init__(self) -> None:
        for name in ("speed_std_mps", "heading_std_rad", "bsm_position_std_m"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and positive, not {value}")


DEFAULTS = ReportDefaults()


def polar_velocity(
    speed_mps: float, heading_rad: float, speed_std_mps: float, heading_std_rad: float
) -> tuple[FloatArray, FloatArray]:
    """Return the east/north velocity (2,) of a speed and a heading (clockwise from north) and
    its covariance (2, 2).

    Across the track: s^2 sigma_h^2 (the Jacobian), but never less than the speed's variance,
    since at low speed the heading (a course over ground) is as uncertain as the velocity
    itself. Along it: the speed's variance plus 3 (s sigma_h^2)^2 for the arc's shortening
    s (1 - cos e): the errors of a speed and a heading lie on a banana, not an ellipse, and
    this much more along the track makes the ellipse hold the banana's tips (simulated: a 95 %
    ellipse holds at least 95 % of true velocities for heading errors from 0.02 to 3 rad).
    """
    along = np.array([math.sin(heading_rad), math.cos(heading_rad)])
    across = np.array([along[1], -along[0]])
    speed_var = speed_std_mps**2
    along_var = speed_var + 3.0 * (speed_mps * heading_std_rad**2) ** 2
    across_var = max((speed_mps * heading_std_rad) ** 2, speed_var)
    covariance = along_var * np.outer(along, along) + across_var * np.outer(across, across)
    return speed_mps * along, covariance


def report_from_state(
    device_id: str,
    capture_time_s: float,
    state: pb.VehicleState,
    frame: LocalFrame,
    *,
    clock_error_s: float = 0.0,
    defaults: ReportDefaults = DEFAULTS,
    rejects: Counter[str] | None = None,
) -> CooperativeReport | None:
    """The report of a vehicle gateway's ``state`` captured at ``capture_time_s``; None (the
    reason counted in ``rejects``) for no fix, an unknown horizontal accuracy (0), or a value
    out of range. Unknown speed or heading accuracies (0) take ``defaults``.

    ``clock_error_s`` (the Envelope's ``clock_max_error_s``): a time error moves the vehicle by
    its velocity, so the position covariance grows by clock_error^2 (v v^T + P_v).
    """
    position = state.position
    accuracy = position.horizontal_accuracy_m
    values = (
        capture_time_s,
        position.latitude_deg,
        position.longitude_deg,
        position.altitude_m,
        accuracy,
        state.speed_mps,
        state.heading_rad,
        state.speed_accuracy_mps,
        state.heading_accuracy_rad,
        state.length_m,
        state.width_m,
        clock_error_s,
    )
    if not all(math.isfinite(v) for v in values):
        return _refuse(rejects, "non_finite")
    if position.fix_quality == pb.FIX_QUALITY_NONE or (
        position.latitude_deg == 0.0 and position.longitude_deg == 0.0
    ):
        return _refuse(rejects, "no_position")
    if accuracy == 0.0:
        return _refuse(rejects, "no_position_accuracy")
    speed_std = state.speed_accuracy_mps or defaults.speed_std_mps
    heading_std = state.heading_accuracy_rad or defaults.heading_std_rad
    size = (state.length_m, state.width_m)
    if not _in_range(state.speed_mps, (accuracy, speed_std, heading_std), size, clock_error_s):
        return _refuse(rejects, "out_of_range")
    return _report(
        device_id,
        capture_time_s,
        (position.latitude_deg, position.longitude_deg, position.altitude_m),
        accuracy,
        polar_velocity(state.speed_mps, state.heading_rad, speed_std, heading_std),
        size,
        frame,
        clock_error_s,
        rejects,
    )


def bsm_vehicle_id(station_id: int) -> str:
    """The vehicle id of a BSM's temporary id: ``bsm:`` and at least 8 hex digits."""
    return f"{BSM_PREFIX}{station_id:08x}"


def bsm_capture_time(sec_mark_ms: int, received_s: float) -> float:
    """The Unix time of a BSM's ``secMark`` (milliseconds into the UTC minute) heard at
    ``received_s``: the instant with that millisecond nearest the receive time (within 30 s
    either way, so a sender whose clock runs a little ahead is not put a minute back)."""
    received_ms = received_s * 1000.0
    behind = (received_ms - sec_mark_ms) % MINUTE_MS
    if behind > MINUTE_MS / 2:
        behind -= MINUTE_MS
    return (received_ms - behind) / 1000.0


def report_from_bsm(
    fields: Mapping[str, Any],
    received_s: float,
    frame: LocalFrame,
    *,
    defaults: ReportDefaults = DEFAULTS,
    rejects: Counter[str] | None = None,
) -> CooperativeReport | None:
    """The report of a decoded T/CSAE 53 BSM (``protocols.v2x.decode_message_frame``'s fields,
    SI units) heard at ``received_s``; None (the reason counted in ``rejects``) when its
    position, speed or time (``secMark`` 60000 and over: leap second or unavailable) is
    unavailable (or 0, 0), or a field is missing, mistyped or out of range.

    Accuracies: ``position_accuracy_m``, ``speed_accuracy_mps`` and ``heading_accuracy_rad``
    (1-sigma) when the fields carry them, else ``defaults``. Vehicle id: ``bsm_vehicle_id``.
    """
    try:
        station_id = int(fields["station_id"])
        sec_mark = int(fields["sec_mark_ms"])
        latitude, longitude = fields["latitude_deg"], fields["longitude_deg"]
        altitude = fields.get("altitude_m")
        speed, heading = fields["speed_mps"], float(fields["heading_rad"])
        size = (float(fields.get("length_m") or 0.0), float(fields.get("width_m") or 0.0))
        position_std = float(fields.get("position_accuracy_m") or defaults.bsm_position_std_m)
        speed_std = float(fields.get("speed_accuracy_mps") or defaults.speed_std_mps)
        heading_std = float(fields.get("heading_accuracy_rad") or defaults.heading_std_rad)
        # (0, 0): what an encoder without a fix sends (ours does), as in report_from_state.
        if latitude is None or longitude is None or latitude == longitude == 0:
            return _refuse(rejects, "no_position")
        if speed is None:
            return _refuse(rejects, "no_speed")
        geodetic = (float(latitude), float(longitude), float(altitude or frame.altitude_m))
        speed = float(speed)
    except (KeyError, TypeError, ValueError, OverflowError, AttributeError):
        return _refuse(rejects, "malformed")
    numbers = (received_s, *geodetic, speed, heading, *size, position_std, speed_std, heading_std)
    if not all(math.isfinite(v) for v in numbers):
        return _refuse(rejects, "non_finite")
    if not 0 <= sec_mark < MINUTE_MS:
        return _refuse(rejects, "no_time")
    if not (
        0 <= station_id < 1 << 64
        and _in_range(speed, (position_std, speed_std, heading_std), size, 0.0)
    ):
        return _refuse(rejects, "out_of_range")
    return _report(
        bsm_vehicle_id(station_id),
        bsm_capture_time(sec_mark, received_s),
        geodetic,
        position_std,
        polar_velocity(speed, heading, speed_std, heading_std),
        size,
        frame,
        0.0,
        rejects,
    )


def _in_range(
    speed_mps: float,
    stds: tuple[float, float, float],
    size: tuple[float, float],
    clock_error_s: float,
) -> bool:
    """Whether a speed, its (position, speed, heading) 1-sigmas, a size and a clock error are
    physically possible (all finite already)."""
    position_std, speed_std, heading_std = stds
    return (
        abs(speed_mps) <= MAX_SPEED_MPS
        and 0.0 <= position_std <= MAX_POSITION_STD_M
        and 0.0 <= speed_std <= MAX_SPEED_STD_MPS
        and 0.0 <= heading_std <= MAX_HEADING_STD_RAD
        and 0.0 <= clock_error_s <= MAX_CLOCK_ERROR_S
        and all(0.0 <= v <= MAX_SIZE_M for v in size)
    )


def _report(
    vehicle_id: str,
    time_s: float,
    geodetic: tuple[float, float, float],
    position_std_m: float,
    velocity: tuple[FloatArray, FloatArray],
    size: tuple[float, float],
    frame: LocalFrame,
    clock_error_s: float,
    rejects: Counter[str] | None,
) -> CooperativeReport | None:
    latitude, longitude, altitude = geodetic
    # An unknown altitude (0) is taken as the intersection's: the horizontal error is
    # micrometres per metre of height within a few hundred metres of the origin.
    try:
        enu = frame.geodetic_to_enu(latitude, longitude, altitude or frame.altitude_m)
    except GeodesyError:
        return _refuse(rejects, "out_of_range")
    v, v_cov = velocity
    p_cov = position_std_m**2 * np.eye(2) + clock_error_s**2 * (np.outer(v, v) + v_cov)
    return CooperativeReport(
        vehicle_id=vehicle_id,
        time_s=time_s,
        position=np.array([float(enu.east_m), float(enu.north_m)]),
        velocity=v,
        position_covariance=p_cov,
        velocity_covariance=v_cov,
        length_m=size[0],
        width_m=size[1],
    )


def _refuse(rejects: Counter[str] | None, reason: str) -> CooperativeReport | None:
    """Count ``reason``; the refusal (None) to return."""
    if rejects is not None:
        rejects[reason] += 1
    return None
