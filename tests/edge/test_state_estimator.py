"""The vehicle state from real Toyota frames, decoded by the vector decoder, mapped by config."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from edge.vehicle.state_estimator import VehicleStateEstimator
from firmware_py.config.loader import EXAMPLES_DIR, load_box_config
from firmware_py.simulation.vehicle_can import VehicleCanSimulator
from firmware_py.simulation.world import ActorState, intersection_actors
from hal.can.frames import make_batch
from protocols.dbc import VectorDecoder, load_dbc
from protocols.nmea import NmeaFixAssembler, format_gga, format_rmc
from protocols.schema.v1 import roadgate_pb2 as pb


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


def test_position_is_dead_reckoned_between_fixes(
    setup: tuple[VehicleStateEstimator, VehicleCanSimulator, VectorDecoder],
) -> None:
    estimator, sim, decoder = setup
    frames = sim.frames(ActorState(0, 0, 10.0, 0.0, 0.0, 0.0, False, "off", False), slow=True)
    estimator.update_can(decoder.decode_batch(make_batch([(1.0, i, d) for i, d in frames])))
    fixes = NmeaFixAssembler()
    utc = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    fix = None
    for line in (
        format_gga(utc, 34.2, 108.9, altitude_msl_m=400.0, hdop=0.8),
        format_rmc(utc, 34.2, 108.9, speed_mps=10.0, course_deg=0.0),
    ):
        fix = fixes.feed(line) or fix
    assert fix is not None
    estimator.update_gnss(fix, receive_time=100.0)
    at_fix = estimator.state(now=100.0)
    later = estimator.state(now=100.5)
    assert at_fix.position.latitude_deg == pytest.approx(34.2)
    assert at_fix.position.fix_quality == pb.FIX_QUALITY_GNSS
    moved_north_m = (later.position.latitude_deg - 34.2) * math.pi / 180 * 6_378_137.0
    assert moved_north_m == pytest.approx(5.0, rel=1e-3)  # 10 m/s for 0.5 s, heading north
    assert later.position.longitude_deg == pytest.approx(108.9)
    stale = estimator.state(now=110.0)
    assert stale.position.fix_quality == pb.FIX_QUALITY_DEAD_RECKONING
