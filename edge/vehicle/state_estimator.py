"""The vehicle state: CAN signals and GNSS fixes fused by an extended Kalman filter.

Wheel speed, yaw rate and longitudinal acceleration from CAN (each row at its kernel timestamp)
and GNSS position, speed and course (at the fix's UTC epoch) go into
``edge.vehicle.state_filter``, in a local east-north-up frame that follows the car
(``edge.vehicle.moving_frame``). The published state is the filter's at the time its newest
input was sensed (``capture_time_s``), with 1-sigma accuracies: the position's is the major
axis of its covariance, and grows honestly while the car dead-reckons through a GNSS outage
(``FIX_QUALITY_DEAD_RECKONING`` once no fix was applied for ``FIX_FRESH_S``). Noise of a fix:
``edge.vehicle.gnss_noise``.

The CAN signals come through the box's VSS mapping (``protocols.vss``): ``STATE_FIELDS`` says
which VSS leaf feeds which state field, and the unit the field is in; values convert from the
DBC's unit to the leaf's (the mapping) and from the leaf's to the field's (here), both by
``protocols.vss.units``. Fields the filter does not estimate (accelerations, steering, brake,
lights, gear) are published as last received.

Only finite values are taken: a NaN or infinite signal value (an IEEE float signal's bits, a
multiplexed signal absent from a frame, a conversion that overflows or has a NaN scale) or
GNSS field is dropped and counted in ``rejects``; the field keeps its last good value.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from edge.errors import EdgeError
from edge.geodesy import GeodesyError, LocalFrame
from edge.vehicle.gnss_noise import fix_quality, gnss_noise
from edge.vehicle.motion_model import PSI, E, FilterSettings, FilterState, Measurement, N, V, W
from edge.vehicle.moving_frame import MovingFrame
from edge.vehicle.state_filter import VehicleMotionFilter
from protocols.nmea.fix import FixQuality
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.vss import SignalMapping, VssMapping, conversion_factor


@dataclass(frozen=True)
class StateField:
    """One field the estimator keeps: its name (in ``rejects``), the VSS leaf feeding it and
    the unit the state carries it in (None: unitless, as the leaf)."""

    name: str
    path: str
    unit: str | None = None


STATE_FIELDS = (
    StateField("speed_mps", "Vehicle.Speed", "m/s"),
    StateField("yaw_rate_rad_s", "Vehicle.AngularVelocity.Yaw", "rad/s"),
    StateField("longitudinal_accel_mps2", "Vehicle.Acceleration.Longitudinal", "m/s^2"),
    StateField("lateral_accel_mps2", "Vehicle.Acceleration.Lateral", "m/s^2"),
    StateField("steering_wheel_angle_rad", "Vehicle.Chassis.SteeringWheel.Angle", "rad"),
    StateField("brake_pressure_pa", "Vehicle.Chassis.Brake.FluidPressure", "Pa"),
    StateField("brake_applied", "Vehicle.Chassis.Brake.IsPedalPressed"),
    StateField("hazard_lights", "Vehicle.Body.Lights.Hazard.IsSignaling"),
    StateField("turn_signal_left", "Vehicle.Body.Lights.DirectionIndicator.Left.IsSignaling"),
    StateField("turn_signal_right", "Vehicle.Body.Lights.DirectionIndicator.Right.IsSignaling"),
    StateField("gear", "Vehicle.Powertrain.Transmission.SelectedGear"),
)
"""What the vehicle state reads from CAN; a mapping's other leaves are not read."""
STATE_PATHS = frozenset(f.path for f in STATE_FIELDS)
_VSS_PARK = 126  # VSS SelectedGear: 0 neutral, 1, 2... or 127 forward, -1, -2... reverse

FIX_QUALITY: Mapping[FixQuality, pb.FixQuality.ValueType] = {
    FixQuality.NONE: pb.FIX_QUALITY_NONE,
    FixQuality.GNSS: pb.FIX_QUALITY_GNSS,
    FixQuality.DGNSS: pb.FIX_QUALITY_DGNSS,
    FixQuality.RTK_FLOAT: pb.FIX_QUALITY_RTK_FLOAT,
    FixQuality.RTK_FIXED: pb.FIX_QUALITY_RTK_FIXED,
    FixQuality.DEAD_RECKONING: pb.FIX_QUALITY_DEAD_RECKONING,
}
FIX_FRESH_S = 1.5  # a position without an applied fix for this long is dead-reckoned
MAX_GNSS_LATENCY_S = 1.0  # an epoch time further than this from its receipt is not trusted
MAX_PUBLISHED_ACCURACY_M = 100_000.0  # beyond this a position is not worth publishing
_MOTION_KINDS = {
    "speed_mps": "wheel_speed",
    "yaw_rate_rad_s": "yaw_rate",
    "longitudinal_accel_mps2": "accel",
}


class Decoded(Protocol):
    """What the DBC decoder yields per message: timestamps and per-signal value arrays."""

    @property
    def timestamp(self) -> Any: ...

    @property
    def signals(self) -> Mapping[str, Any]: ...


class Fix(Protocol):
    """The GNSS fix fields this estimator reads (``protocols.nmea.GnssFix`` has them all)."""

    @property
    def time(self) -> datetime | None: ...
    @property
    def latitude_deg(self) -> float | None: ...
    @property
    def longitude_deg(self) -> float | None: ...
    @property
    def altitude_m(self) -> float | None: ...
    @property
    def speed_mps(self) -> float | None: ...
    @property
    def course_deg(self) -> float | None: ...
    @property
    def satellites(self) -> int | None: ...
    @property
    def hdop(self) -> float | None: ...
    @property
    def quality(self) -> Any: ...
    @property
    def eph_m(self) -> float | None: ...
    @property
    def errors(self) -> Any: ...


@dataclass(frozen=True)
class VehicleDimensions:
    length_m: float = 4.6
    width_m: float = 1.8


class VehicleStateEstimator:
    """Fuses the mapped CAN signals and GNSS fixes into the vehicle's state.

    ``mapping`` is the box's VSS mapping; of its leaves, those in ``STATE_FIELDS`` are read.
    ``rejects`` counts what was dropped, by reason: ``non_finite.<field>`` (decoded values of
    a mapped signal that were NaN or infinite), ``bad_scaling.<field>`` (a finite value the
    conversion turned non-finite), ``gnss_non_finite`` (fixes with a non-finite position),
    ``gnss_quality.<quality>`` (a fix without a measured position), ``gnss_bad_time``,
    ``gnss_out_of_range`` and the filter's (``VehicleMotionFilter``: bad times, values and
    sigmas, outliers, too late, restarts). ``counters`` counts what was used with a remark:
    ``late`` (re-filtered), ``gnss_time.missing`` / ``gnss_time.implausible`` (a fix applied
    at its receive time), ``reanchored`` (the frame moved), ``reacquired`` (a fix believed
    after outliers). A DBC value the mapping's ``values`` do not name is ignored: the field
    keeps its value.

    Raises ``EdgeError`` when a mapped leaf's unit does not convert to its field's.
    """

    def __init__(
        self,
        mapping: VssMapping,
        dimensions: VehicleDimensions,
        settings: FilterSettings | None = None,
    ) -> None:
        self._fields: list[tuple[StateField, SignalMapping, float]] = []
        for state_field in STATE_FIELDS:
            signal = mapping.signal(state_field.path)
            if signal is not None:
                self._fields.append((state_field, signal, _scale(state_field, signal)))
        self._dimensions = dimensions
        self._values: dict[str, float] = {}
        self._filter = VehicleMotionFilter(settings or FilterSettings())
        self._own_rejects: Counter[str] = Counter()
        self._own_counters: Counter[str] = Counter()
        self._frame = MovingFrame()
        self._altitude_m = 0.0
        self._fix_quality: pb.FixQuality.ValueType = pb.FIX_QUALITY_NONE
        self._satellites = 0
        self.last_can_time: float | None = None

    @property
    def rejects(self) -> Counter[str]:
        """Inputs not used, by reason (see the class docstring)."""
        return self._own_rejects + self._filter.rejects

    @property
    def counters(self) -> Counter[str]:
        """Inputs used with a remark, by kind (see the class docstring)."""
        return self._own_counters + self._filter.counters

    @property
    def signals(self) -> Mapping[str, float]:
        """The newest finite value of each mapped CAN field, in its ``STATE_FIELDS`` unit."""
        return dict(self._values)

    @property
    def capture_time_s(self) -> float | None:
        """When the newest input of the state was sensed (Unix s); None before any."""
        state = self._filter.state
        return None if state is None else state.time_s

    @property
    def filter_state(self) -> FilterState | None:
        """The motion filter's newest state, in the frame of ``frame``."""
        return self._filter.state

    @property
    def frame(self) -> LocalFrame | None:
        """The local ENU frame the filter works in; None before the first fix."""
        return self._frame.frame

    def update_can(self, decoded: Mapping[str, Decoded]) -> None:
        """Take a decoded batch: the newest finite value of each mapped signal, and every row
        of wheel speed, yaw rate and acceleration into the filter at its timestamp."""
        measurements: list[Measurement] = []
        for state_field, signal, scale in self._fields:
            message = decoded.get(signal.message)
            if message is None or len(message.timestamp) == 0:
                continue
            self.last_can_time = float(message.timestamp[-1])
            row = self._newest_finite(state_field.name, message.signals[signal.signal])
            if row is None:
                continue
            value = signal.value_at(message, row) * scale
            if not math.isfinite(value):
                if signal.values is None:  # else: a code the mapping does not name
                    self._own_rejects[f"bad_scaling.{state_field.name}"] += 1
                continue
            self._values[state_field.name] = value
            kind = _MOTION_KINDS.get(state_field.name)
            if kind is not None:
                measurements.extend(self._motion_rows(kind, signal, scale, message))
        measurements.sort(key=lambda m: m.time_s)
        for measurement in measurements:
            self._filter.add(measurement)

    def _motion_rows(
        self, kind: str, signal: SignalMapping, scale: float, message: Decoded
    ) -> list[Measurement]:
        """Each finite row of a motion signal as a filter measurement."""
        with np.errstate(over="ignore", invalid="ignore"):
            values = signal.convert(message) * scale
        times = np.asarray(message.timestamp, dtype=np.float64)
        settings = self._filter.settings
        sigma = {
            "wheel_speed": settings.wheel_speed_sigma_mps,
            "yaw_rate": settings.yaw_rate_sigma_rad_s,
            "accel": settings.accel_sigma_mps2,
        }[kind]
        if kind == "wheel_speed" and self._reversing():
            values = -np.abs(values)
        good = np.isfinite(values)
        return [
            Measurement(kind, float(t), (float(v),), (sigma,))
            for t, v in zip(times[good], values[good], strict=True)
        ]

    def _newest_finite(self, name: str, column: Any) -> int | None:
        """The row of the last finite value of a decoded column; the others dropped and
        counted."""
        values = np.asarray(column, dtype=np.float64)
        finite = np.isfinite(values)
        if finite.all():  # the usual batch: one vectorised check
            return int(values.shape[0]) - 1
        self._own_rejects[f"non_finite.{name}"] += int(values.shape[0] - np.count_nonzero(finite))
        good = np.flatnonzero(finite)
        return int(good[-1]) if good.shape[0] else None

    def update_gnss(self, fix: Fix, receive_time: float) -> None:
        """Take a GNSS fix received at ``receive_time`` (Unix seconds), applied at its epoch.

        A fix whose position is missing or not finite counts as no fix; its other fields are
        used only when finite.
        """
        lat, lon = fix.latitude_deg, fix.longitude_deg
        if lat is None or lon is None or not (math.isfinite(lat) and math.isfinite(lon)):
            if lat is not None and lon is not None:
                self._own_rejects["gnss_non_finite"] += 1
            return
        quality = fix_quality(fix.quality)
        if quality is None:  # a code we do not know: the plainest fix there is
            quality = FixQuality.GNSS
        errors = fix.errors
        noise = gnss_noise(
            quality,
            _finite(fix.hdop),
            _finite(getattr(errors, "latitude_m", None)),
            _finite(getattr(errors, "longitude_m", None)),
            _finite(fix.eph_m),
        )
        if noise is None:
            self._own_rejects[f"gnss_quality.{quality.name}"] += 1
            return
        time_s = self._epoch_time(fix.time, receive_time)
        if time_s is None:
            return
        altitude = _finite(fix.altitude_m)
        try:
            east, north, move = self._frame.local(lat, lon, altitude or 0.0)
        except GeodesyError:
            self._own_rejects["gnss_out_of_range"] += 1
            return
        if move is not None:
            self._filter.transform(move.heading_shift_rad, move.origin_east_m, move.origin_north_m)
            self._own_counters["reanchored"] += 1
        if altitude is not None:
            self._altitude_m = altitude
        self._fix_quality = FIX_QUALITY[quality]
        self._satellites = fix.satellites or 0
        reverse = self._reversing()
        self._filter.add(
            Measurement(
                "gnss_position", time_s, (east, north), (noise.east_sigma_m, noise.north_sigma_m)
            )
        )
        speed = _finite(fix.speed_mps)
        if speed is not None and speed >= 0:
            signed = -speed if reverse else speed
            self._filter.add(Measurement("gnss_speed", time_s, (signed,), (noise.speed_sigma_mps,)))
        course = _finite(fix.course_deg)
        course_sigma = noise.course_sigma_rad(speed) if speed is not None else None
        if course is not None and course_sigma is not None and not reverse:
            self._filter.add(
                Measurement("gnss_course", time_s, (math.radians(course),), (course_sigma,))
            )

    def _epoch_time(self, utc: datetime | None, receive_time: float) -> float | None:
        """The fix's epoch as Unix time; its receive time when it has none (or one far from
        its receipt: a stale date, or a host clock off GNSS time)."""
        if not math.isfinite(receive_time):
            self._own_rejects["gnss_bad_time"] += 1
            return None
        if utc is None:
            self._own_counters["gnss_time.missing"] += 1
            return receive_time
        epoch = utc.timestamp()
        if abs(epoch - receive_time) > MAX_GNSS_LATENCY_S:
            self._own_counters["gnss_time.implausible"] += 1
            return receive_time
        return epoch

    def _reversing(self) -> bool:
        gear = self._values.get("gear")
        return gear is not None and gear < 0

    def state(self, now: float) -> pb.VehicleState:
        """The vehicle state at ``capture_time_s``, its newest input (not extrapolated to
        ``now``: what is published is what was sensed)."""
        del now  # kept for the role's signature: the state's time is its inputs'
        state = pb.VehicleState(
            longitudinal_accel_mps2=self._values.get("longitudinal_accel_mps2", 0.0),
            lateral_accel_mps2=self._values.get("lateral_accel_mps2", 0.0),
            steering_wheel_angle_rad=self._values.get("steering_wheel_angle_rad", 0.0),
            brake_applied=self._values.get("brake_applied", 0.0) >= 0.5,
            brake_pressure_pa=self._values.get("brake_pressure_pa", 0.0),
            turn_signal=self._turn_signal(),
            gear=self._gear(),
            length_m=self._dimensions.length_m,
            width_m=self._dimensions.width_m,
        )
        motion = self._filter.state
        if motion is None:
            return state
        x = motion.mean
        speed = float(x[V])
        state.yaw_rate_rad_s = float(x[W])
        reversing = self._reversing() and speed < 0
        heading = float(x[PSI]) + (math.pi if reversing else 0.0)  # course over ground
        if motion.speed_known:
            state.speed_mps = abs(speed) if reversing else max(speed, 0.0)
            state.speed_accuracy_mps = motion.sigma(V)
        if motion.heading_known:
            state.heading_rad = heading % math.tau
            state.heading_accuracy_rad = min(motion.sigma(PSI), math.pi)
        position = self._position(motion)
        if position is not None:
            state.position.CopyFrom(position)
        return state

    def _position(self, motion: FilterState) -> pb.Position | None:
        accuracy = motion.horizontal_sigma_m
        where = self._frame.geodetic(float(motion.mean[E]), float(motion.mean[N]))
        if where is None or not motion.position_known or accuracy > MAX_PUBLISHED_ACCURACY_M:
            return None
        lat, lon = where
        last_fix = motion.last_position_fix_s
        fresh = last_fix is not None and motion.time_s - last_fix <= FIX_FRESH_S
        return pb.Position(
            latitude_deg=float(lat),
            longitude_deg=float(lon),
            altitude_m=self._altitude_m,
            horizontal_accuracy_m=accuracy,
            fix_quality=self._fix_quality if fresh else pb.FIX_QUALITY_DEAD_RECKONING,
            satellites=self._satellites,
        )

    def _turn_signal(self) -> pb.TurnSignal.ValueType:
        if self._values.get("hazard_lights", 0.0) >= 0.5:
            return pb.TURN_SIGNAL_HAZARD
        left, right = self._values.get("turn_signal_left"), self._values.get("turn_signal_right")
        if left is None and right is None:
            return pb.TURN_SIGNAL_UNSPECIFIED
        left_on, right_on = (left or 0.0) >= 0.5, (right or 0.0) >= 0.5
        if left_on and right_on:  # both indicators: the hazard lights, on a car without a switch
            return pb.TURN_SIGNAL_HAZARD
        if left_on or right_on:
            return pb.TURN_SIGNAL_LEFT if left_on else pb.TURN_SIGNAL_RIGHT
        return pb.TURN_SIGNAL_OFF

    def _gear(self) -> pb.Gear.ValueType:
        gear = self._values.get("gear")
        if gear is None:
            return pb.GEAR_UNSPECIFIED
        if gear == _VSS_PARK:
            return pb.GEAR_PARK
        if gear == 0:
            return pb.GEAR_NEUTRAL
        return pb.GEAR_REVERSE if gear < 0 else pb.GEAR_DRIVE  # 127: drive; 1, 2...: a gear


def _scale(state_field: StateField, signal: SignalMapping) -> float:
    """The factor from ``signal``'s leaf unit to ``state_field``'s (1: unitless)."""
    if state_field.unit is None:
        return 1.0
    if signal.unit is None:
        raise EdgeError(f"{signal.path}: mapped without a unit, the state needs {state_field.unit}")
    try:
        return conversion_factor(signal.unit, state_field.unit)
    except ValueError as err:
        raise EdgeError(f"{signal.path}: {err}") from err


def _finite(value: float | None) -> float | None:
    """``value`` when it is a finite number, else None."""
    return value if value is not None and math.isfinite(value) else None
