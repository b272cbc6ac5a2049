"""The vehicle state: latest CAN signals fused with GNSS, dead-reckoned between fixes.

A first, simple fusion: position and course come from the GNSS fix; between fixes (GNSS gives
1-10 Hz, CAN 50-100 Hz) the position is propagated with the wheel speed along a heading
integrated from the yaw rate, so that a 10 Hz state stream does not jump.

The CAN signals come through the box's VSS mapping (``protocols.vss``): ``STATE_FIELDS`` says
which VSS leaf feeds which state field, and the unit the field is in; values convert from the
DBC's unit to the leaf's (the mapping) and from the leaf's to the field's (here), both by
``protocols.vss.units``.

Only finite values are taken: a NaN or infinite signal value (an IEEE float signal's bits, a
multiplexed signal absent from a frame, a conversion that overflows or has a NaN scale) or
GNSS field is dropped and counted in ``rejects``; the field keeps its last good value.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edge.errors import EdgeError
from edge.geo import GeoPoint
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

FIX_QUALITY: Mapping[str, pb.FixQuality.ValueType] = {
    "NONE": pb.FIX_QUALITY_NONE,
    "GNSS": pb.FIX_QUALITY_GNSS,
    "DGNSS": pb.FIX_QUALITY_DGNSS,
    "RTK_FLOAT": pb.FIX_QUALITY_RTK_FLOAT,
    "RTK_FIXED": pb.FIX_QUALITY_RTK_FIXED,
    "DEAD_RECKONING": pb.FIX_QUALITY_DEAD_RECKONING,
}
MIN_SPEED_FOR_COURSE_MPS = 1.0  # GNSS course over ground is noise below walking pace


class Decoded(Protocol):
    """What the DBC decoder yields per message: timestamps and per-signal value arrays."""

    @property
    def timestamp(self) -> Any: ...

    @property
    def signals(self) -> Mapping[str, Any]: ...


class Fix(Protocol):
    """The GNSS fix fields this estimator reads."""

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


@dataclass(frozen=True)
class VehicleDimensions:
    length_m: float = 4.6
    width_m: float = 1.8


class VehicleStateEstimator:
    """Holds the latest value of every mapped signal and the last GNSS fix.

    ``mapping`` is the box's VSS mapping; of its leaves, those in ``STATE_FIELDS`` are read.
    ``rejects`` counts what was dropped, by reason: ``non_finite.<field>`` (decoded values of
    a mapped signal that were NaN or infinite), ``bad_scaling.<field>`` (a finite value the
    conversion turned non-finite) and ``gnss_non_finite`` (fixes with a non-finite position).
    A DBC value the mapping's ``values`` do not name is ignored: the field keeps its value.

    Raises ``EdgeError`` when a mapped leaf's unit does not convert to its field's.
    """

    def __init__(self, mapping: VssMapping, dimensions: VehicleDimensions) -> None:
        self._fields: list[tuple[StateField, SignalMapping, float]] = []
        for state_field in STATE_FIELDS:
            signal = mapping.signal(state_field.path)
            if signal is not None:
                self._fields.append((state_field, signal, _scale(state_field, signal)))
        self._dimensions = dimensions
        self._values: dict[str, float] = {}
        self._fix_point: GeoPoint | None = None
        self._fix_time: float = 0.0
        self._fix_quality: pb.FixQuality.ValueType = pb.FIX_QUALITY_NONE
        self._fix_accuracy_m = 0.0
        self._satellites = 0
        self._heading_rad = 0.0
        self._heading_time: float | None = None
        self.last_can_time: float | None = None
        self.rejects: Counter[str] = Counter()

    def update_can(self, decoded: Mapping[str, Decoded]) -> None:
        """Take the newest finite value of each mapped signal from one decoded batch."""
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
                    self.rejects[f"bad_scaling.{state_field.name}"] += 1
                continue
            self._values[state_field.name] = value

    def _newest_finite(self, name: str, column: Any) -> int | None:
        """The row of the last finite value of a decoded column; the others dropped and
        counted."""
        values = np.asarray(column, dtype=np.float64)
        finite = np.isfinite(values)
        if finite.all():  # the usual batch: one vectorised check
            return int(values.shape[0]) - 1
        self.rejects[f"non_finite.{name}"] += int(values.shape[0] - np.count_nonzero(finite))
        good = np.flatnonzero(finite)
        return int(good[-1]) if good.shape[0] else None

    def update_gnss(self, fix: Fix, receive_time: float) -> None:
        """Take a GNSS fix received at ``receive_time`` (Unix seconds).

        A fix whose position is missing or not finite counts as no fix; its other fields are
        used only when finite.
        """
        lat, lon = fix.latitude_deg, fix.longitude_deg
        if lat is None or lon is None or not (math.isfinite(lat) and math.isfinite(lon)):
            if lat is not None and lon is not None:
                self.rejects["gnss_non_finite"] += 1
            self._fix_quality = pb.FIX_QUALITY_NONE
            return
        self._fix_point = GeoPoint(lat, lon, _finite(fix.altitude_m) or 0.0)
        self._fix_time = receive_time
        self._fix_quality = FIX_QUALITY.get(getattr(fix.quality, "name", ""), pb.FIX_QUALITY_GNSS)
        # HDOP times a typical 2.5 m user range error: a rough 1-sigma horizontal accuracy.
        self._fix_accuracy_m = (_finite(fix.hdop) or 0.0) * 2.5
        self._satellites = fix.satellites or 0
        fix_speed, course = _finite(fix.speed_mps), _finite(fix.course_deg)
        speed = fix_speed if fix_speed is not None else self._values.get("speed_mps", 0.0)
        if course is not None and speed >= MIN_SPEED_FOR_COURSE_MPS:
            self._heading_rad = math.radians(course) % math.tau
            self._heading_time = receive_time

    def state(self, now: float) -> pb.VehicleState:
        """The vehicle state at ``now`` (Unix seconds), dead-reckoned from the last fix."""
        speed = self._values.get("speed_mps", 0.0)
        yaw_rate = self._values.get("yaw_rate_rad_s", 0.0)
        heading = self._heading_rad
        state = pb.VehicleState(
            speed_mps=speed,
            yaw_rate_rad_s=yaw_rate,
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
        if self._fix_point is not None:
            dt = max(0.0, min(now - self._fix_time, 2.0))  # never extrapolate an old fix far
            # Yaw rate is positive anticlockwise, heading clockwise: they turn opposite ways.
            mid_heading = heading - yaw_rate * dt / 2
            point = self._fix_point.offset(
                speed * dt * math.sin(mid_heading), speed * dt * math.cos(mid_heading)
            )
            heading = (heading - yaw_rate * dt) % math.tau
            state.position.CopyFrom(
                pb.Position(
                    latitude_deg=point.latitude_deg,
                    longitude_deg=point.longitude_deg,
                    altitude_m=point.altitude_m,
                    horizontal_accuracy_m=self._fix_accuracy_m,
                    fix_quality=self._fix_quality if dt < 1.5 else pb.FIX_QUALITY_DEAD_RECKONING,
                    satellites=self._satellites,
                )
            )
        state.heading_rad = heading
        return state

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
