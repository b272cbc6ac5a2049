"""The vehicle state from real Toyota frames, decoded by the vector decoder, mapped by the box's
VSS mapping; and each state field from its VSS leaf."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.errors import EdgeError
from edge.vehicle.state_estimator import VehicleDimensions, VehicleStateEstimator
from firmware_py.config.loader import EXAMPLES_DIR, load_box_config
from firmware_py.simulation.vehicle_can import VehicleCanSimulator
from firmware_py.simulation.world import ActorState, intersection_actors
from hal.can.frames import make_batch
from protocols.dbc import VectorDecoder, load_dbc
from protocols.nmea import NmeaFixAssembler, format_gga, format_rmc
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.vss import SignalMapping, VssMapping


@pytest.fixture(scope="module")
def setup() -> tuple[VehicleStateEstimator, VehicleCanSimulator, VectorDecoder]:
    config = load_box_config(EXAMPLES_DIR / "vehicle-toyota.toml")
    assert config.vehicle is not None
    db = load_dbc(config.can[0].dbc).database
    sim = VehicleCanSimulator(
        intersection_actors()["veh-001"], db, interface="virtual", channel="unused"
    )
    estimator = VehicleStateEstimator(config.vehicle.signals, config.vehicle.dimensions)
    return estimator, sim, VectorDecoder(db)


def braking(speed: float) -> ActorState:
    return ActorState(0, 0, speed, 0.0, 0.1, -6.0, True, "left", False)


def test_can_signals_arrive_in_si_units(
    setup: tuple[VehicleStateEstimator, VehicleCanSimulator, VectorDecoder],
) -> None:
    estimator, sim, decoder = setup
    frames = sim.frames(braking(12.5), slow=True)
    estimator.update_can(decoder.decode_batch(make_batch([(1.0, i, d) for i, d in frames])))
    state = estimator.state(now=1.0)
    assert state.speed_mps == pytest.approx(12.5, abs=0.01 / 3.6)  # 0.01 km/h resolution
    assert state.longitudinal_accel_mps2 == pytest.approx(-6.0, abs=0.036)
    assert state.yaw_rate_rad_s == pytest.approx(0.1, abs=math.radians(0.244))
    assert state.brake_applied
    assert state.turn_signal == pb.TURN_SIGNAL_LEFT
    assert state.gear == pb.GEAR_DRIVE
    assert state.length_m == 4.6


def test_position_is_dead_reckoned_after_a_fix_with_growing_accuracy(
    setup: tuple[VehicleStateEstimator, VehicleCanSimulator, VectorDecoder],
) -> None:
    _, sim, decoder = setup
    config = load_box_config(EXAMPLES_DIR / "vehicle-toyota.toml")
    assert config.vehicle is not None
    estimator = VehicleStateEstimator(config.vehicle.signals, config.vehicle.dimensions)
    frames = sim.frames(ActorState(0, 0, 10.0, 0.0, 0.0, 0.0, False, "off", False), slow=True)

    def can_at(t: float) -> None:
        estimator.update_can(decoder.decode_batch(make_batch([(t, i, d) for i, d in frames])))

    can_at(100.0)
    fixes = NmeaFixAssembler()
    utc = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    fix = None
    for line in (
        format_gga(utc, 34.2, 108.9, altitude_msl_m=400.0, hdop=0.8),
        format_rmc(utc, 34.2, 108.9, speed_mps=10.0, course_deg=0.0),
    ):
        fix = fixes.feed(line) or fix
    assert fix is not None
    # The epoch (2026) is far from this test's clock (t = 100 s): the fix is placed at its
    # receipt, and that is counted.
    estimator.update_gnss(fix, receive_time=100.0)
    assert estimator.counters["gnss_time.implausible"] == 1
    at_fix = estimator.state(now=100.0)
    assert estimator.capture_time_s == 100.0
    assert at_fix.position.latitude_deg == pytest.approx(34.2)
    assert at_fix.position.fix_quality == pb.FIX_QUALITY_GNSS
    assert at_fix.position.horizontal_accuracy_m == pytest.approx(0.8 * 2.5)  # HDOP x UERE
    for k in range(1, 6):
        can_at(100.0 + k / 10)
    later = estimator.state(now=123.0)  # published as of its newest input, not extrapolated
    assert estimator.capture_time_s == pytest.approx(100.5)
    moved_north_m = (later.position.latitude_deg - 34.2) * math.pi / 180 * 6_378_137.0
    assert moved_north_m == pytest.approx(5.0, abs=0.1)  # 10 m/s for 0.5 s, heading north
    assert later.position.longitude_deg == pytest.approx(108.9)
    assert later.position.horizontal_accuracy_m > at_fix.position.horizontal_accuracy_m
    assert later.speed_accuracy_mps > 0
    assert later.heading_accuracy_rad > 0
    for k in range(6, 40):
        can_at(100.0 + k / 10)
    stale = estimator.state(now=104.0)
    assert stale.position.fix_quality == pb.FIX_QUALITY_DEAD_RECKONING
    assert stale.position.horizontal_accuracy_m > later.position.horizontal_accuracy_m


@given(
    speed=st.floats(0, 70),
    yaw=st.floats(-1.5, 1.5),
    accel=st.floats(-9, 9),
    brake=st.booleans(),
    turn=st.sampled_from(["left", "right", "off"]),
    hazard=st.booleans(),
)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_mapping_gives_what_the_hand_typed_scales_gave(
    setup: tuple[VehicleStateEstimator, VehicleCanSimulator, VectorDecoder],
    speed: float,
    yaw: float,
    accel: float,
    brake: bool,
    turn: str,
    hazard: bool,
) -> None:
    """Bit for bit: the example configs had ``scale = 0.2777777777777778`` (km/h) and
    ``0.017453292519943295`` (deg/s, deg), and enum tables for blinkers and gear."""
    _, sim, decoder = setup
    config = load_box_config(EXAMPLES_DIR / "vehicle-toyota.toml")
    assert config.vehicle is not None
    estimator = VehicleStateEstimator(config.vehicle.signals, config.vehicle.dimensions)
    frames = sim.frames(ActorState(0, 0, speed, 0.0, yaw, accel, brake, turn, hazard), slow=True)
    decoded = decoder.decode_batch(make_batch([(1.0, i, d) for i, d in frames]))
    estimator.update_can(decoded)
    state = estimator.state(now=1.0)

    def raw(message: str, signal: str) -> float:
        return float(decoded[message].signals[signal][-1])

    # Speed and yaw rate are published filtered (scale and bias estimated): the mapping's
    # values are the signals the filter was given.
    signals = estimator.signals
    assert signals["speed_mps"] == raw("SPEED", "SPEED") * 0.2777777777777778
    assert signals["yaw_rate_rad_s"] == raw("KINEMATICS", "YAW_RATE") * 0.017453292519943295
    assert state.longitudinal_accel_mps2 == raw("KINEMATICS", "ACCEL_X")
    assert state.lateral_accel_mps2 == raw("KINEMATICS", "ACCEL_Y")
    steer = raw("STEER_ANGLE_SENSOR", "STEER_ANGLE") * 0.017453292519943295
    assert state.steering_wheel_angle_rad == steer
    assert state.brake_applied == brake
    blinkers = {1: pb.TURN_SIGNAL_LEFT, 2: pb.TURN_SIGNAL_RIGHT, 3: pb.TURN_SIGNAL_OFF}
    code = int(raw("BLINKERS_STATE", "TURN_SIGNALS"))
    assert state.turn_signal == (pb.TURN_SIGNAL_HAZARD if hazard else blinkers[code])
    assert state.gear == pb.GEAR_DRIVE
    assert state.brake_pressure_pa == 0.0  # not in the Toyota mapping


# --- the state's fields from VSS leaves, on synthetic columns ------------------------------


@dataclasses.dataclass
class Columns:
    timestamp: Any
    signals: Mapping[str, Any]


def one_row(**signals: float) -> dict[str, Columns]:
    """One message ``M`` holding ``signals``, one row each."""
    return {"M": Columns(np.array([1.0]), {k: np.array([v]) for k, v in signals.items()})}


LEFT = "Vehicle.Body.Lights.DirectionIndicator.Left.IsSignaling"
RIGHT = "Vehicle.Body.Lights.DirectionIndicator.Right.IsSignaling"
GEAR = "Vehicle.Powertrain.Transmission.SelectedGear"


def mapped(*signals: SignalMapping) -> VehicleStateEstimator:
    return VehicleStateEstimator(VssMapping(Path("test"), signals), VehicleDimensions())


def test_blinkers_from_two_leaves_and_a_code_the_mapping_does_not_name() -> None:
    estimator = mapped(
        SignalMapping(LEFT, "M", "T", values={1: 1.0, 2: 0.0, 3: 0.0, 4: 1.0}, boolean=True),
        SignalMapping(RIGHT, "M", "T", values={1: 0.0, 2: 1.0, 3: 0.0, 4: 1.0}, boolean=True),
    )
    assert estimator.state(1.0).turn_signal == pb.TURN_SIGNAL_UNSPECIFIED  # nothing heard
    for code, want in [
        (1, pb.TURN_SIGNAL_LEFT),
        (0, pb.TURN_SIGNAL_LEFT),  # unnamed: the last state stays, nothing counted
        (2, pb.TURN_SIGNAL_RIGHT),
        (3, pb.TURN_SIGNAL_OFF),
        (4, pb.TURN_SIGNAL_HAZARD),  # both: the hazard lights
    ]:
        estimator.update_can(one_row(T=code))
        assert estimator.state(1.0).turn_signal == want, code
    assert estimator.rejects == {}


def test_one_blinker_leaf_alone_and_the_hazard_switch() -> None:
    estimator = mapped(
        SignalMapping(LEFT, "M", "L", boolean=True),
        SignalMapping("Vehicle.Body.Lights.Hazard.IsSignaling", "M", "H", boolean=True),
    )
    estimator.update_can(one_row(L=0, H=0))
    assert estimator.state(1.0).turn_signal == pb.TURN_SIGNAL_OFF
    estimator.update_can(one_row(L=1, H=0))
    assert estimator.state(1.0).turn_signal == pb.TURN_SIGNAL_LEFT
    estimator.update_can(one_row(L=1, H=1))
    assert estimator.state(1.0).turn_signal == pb.TURN_SIGNAL_HAZARD


@pytest.mark.parametrize(
    ("vss", "gear"),
    [
        (126, pb.GEAR_PARK),
        (127, pb.GEAR_DRIVE),
        (3, pb.GEAR_DRIVE),  # a forward gear
        (0, pb.GEAR_NEUTRAL),
        (-1, pb.GEAR_REVERSE),
        (-2, pb.GEAR_REVERSE),
    ],
)
def test_vss_gears_become_the_state_s(vss: int, gear: pb.Gear.ValueType) -> None:
    estimator = mapped(SignalMapping(GEAR, "M", "G"))
    assert estimator.state(1.0).gear == pb.GEAR_UNSPECIFIED
    estimator.update_can(one_row(G=vss))
    assert estimator.state(1.0).gear == gear


def test_leaf_units_convert_to_the_state_s_and_other_leaves_are_not_read() -> None:
    estimator = mapped(
        SignalMapping("Vehicle.Chassis.Brake.FluidPressure", "M", "P", unit="kPa"),
        SignalMapping("Vehicle.Chassis.SteeringWheel.Angle", "M", "A", unit="degrees"),
        SignalMapping("Vehicle.Chassis.Axle.Row1.Wheel.Left.Speed", "W", "FL", unit="km/h"),
    )
    estimator.update_can(one_row(P=80.5, A=-90.0))
    state = estimator.state(1.0)
    assert state.brake_pressure_pa == pytest.approx(80_500.0)
    assert state.steering_wheel_angle_rad == pytest.approx(-math.pi / 2)
    estimator.update_can({"W": Columns(np.array([2.0]), {"FL": np.array([50.0])})})
    assert estimator.last_can_time == 1.0  # W is no message of the state's


@pytest.mark.parametrize(
    ("unit", "message"),
    [
        (None, r"Vehicle\.Speed: mapped without a unit, the state needs m/s"),
        ("kPa", r"Vehicle\.Speed: cannot convert 'kPa' \(pressure\) to 'm/s'"),
    ],
)
def test_a_leaf_unit_the_state_cannot_use_is_an_edge_error(unit: str | None, message: str) -> None:
    with pytest.raises(EdgeError, match=message):
        mapped(SignalMapping("Vehicle.Speed", "M", "S", unit=unit))
