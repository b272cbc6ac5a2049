"""The estimator's inputs: CAN rows at their timestamps, fixes at their epoch, bad values of
every kind counted and never published; and the gateway stamping a state with its inputs'
time."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.pipelines.vehicle_gateway import VehicleGatewayPipeline, VehicleGatewaySettings
from edge.vehicle.gnss_noise import (
    FLOOR_M,
    MIN_COURSE_SIGMA_RAD,
    MISSING_HDOP,
    UERE_M,
    fix_quality,
    gnss_noise,
)
from edge.vehicle.moving_frame import REANCHOR_M
from edge.vehicle.state_estimator import VehicleDimensions, VehicleStateEstimator
from firmware_py.simulation import drives
from firmware_py.simulation.drives import CanSamples, Leg, simulate
from hal.can.frames import make_batch
from protocols.envelope import non_finite_fields
from protocols.nmea.fix import ErrorEstimate, FixQuality
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.edge.pipeline_stubs import FixedClock, RecordingUplink, StubDecoder, StubFix, StubFixes
from tests.edge.vehicle.drive_harness import MAPPING, decoded, run

T0 = 1_800_000_000.0


def estimator() -> VehicleStateEstimator:
    return VehicleStateEstimator(MAPPING, VehicleDimensions())


def samples(times: list[float], speed: float = 10.0) -> CanSamples:
    n = len(times)
    return CanSamples(np.array(times), np.full(n, speed), np.zeros(n), np.zeros(n))


def at(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def test_every_can_row_is_applied_at_its_timestamp() -> None:
    est = estimator()
    est.update_can(decoded(samples([T0 + i / 50 for i in range(10)])))
    assert est.capture_time_s == pytest.approx(T0 + 0.18)
    assert est.last_can_time == pytest.approx(T0 + 0.18)
    state = est.state(T0 + 5.0)
    assert state.speed_mps == pytest.approx(10.0, abs=0.05)
    assert 0 < state.speed_accuracy_mps < 0.35  # the unknown wheel scale: 3 % of 10 m/s
    assert not state.HasField("position")  # no fix yet


def test_a_fix_is_applied_at_its_epoch_not_its_receipt() -> None:
    est = estimator()
    est.update_can(decoded(samples([T0 + i / 50 for i in range(50)])))
    est.update_gnss(StubFix(time=at(T0 + 0.5), speed_mps=10.0, course_deg=90.0), T0 + 0.62)
    assert est.counters["late"] > 0  # CAN after 0.5 s was re-filtered behind the fix
    assert est.capture_time_s == pytest.approx(T0 + 0.98)
    state = est.state(T0 + 1.0)
    assert state.position.fix_quality == pb.FIX_QUALITY_RTK_FIXED
    assert state.heading_rad == pytest.approx(math.pi / 2, abs=0.03)
    # The fix's place was 0.48 s ago: the car has gone 4.8 m east since.
    frame = est.frame
    assert frame is not None
    east, _, _ = frame.geodetic_to_enu(
        state.position.latitude_deg, state.position.longitude_deg, 400.0
    )
    assert float(east) == pytest.approx(4.8, abs=0.1)


def test_a_fix_without_a_time_or_with_an_implausible_one_uses_its_receipt() -> None:
    est = estimator()
    est.update_gnss(StubFix(), T0)
    est.update_gnss(StubFix(time=at(T0 - 3600.0)), T0 + 0.2)  # a stale date
    assert est.counters["gnss_time.missing"] == 1
    assert est.counters["gnss_time.implausible"] == 1
    assert est.capture_time_s == T0 + 0.2


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"quality": FixQuality.NONE}, "gnss_quality.NONE"),
        ({"quality": FixQuality.DEAD_RECKONING}, "gnss_quality.DEAD_RECKONING"),
        ({"latitude_deg": 91.0}, "gnss_out_of_range"),
    ],
)
def test_fixes_that_are_no_measured_position_are_counted(
    changes: dict[str, Any], reason: str
) -> None:
    est = estimator()
    est.update_gnss(dataclasses.replace(StubFix(time=at(T0)), **changes), T0)
    assert est.rejects == {reason: 1}
    assert not est.state(T0).HasField("position")


def test_gnss_noise_prefers_gst_then_eph_then_hdop_and_is_floored() -> None:
    gst = gnss_noise(FixQuality.DGNSS, 0.8, latitude_sigma_m=0.6, longitude_sigma_m=0.9)
    assert gst is not None
    assert (gst.east_sigma_m, gst.north_sigma_m) == (0.9, 0.6)
    eph = gnss_noise(FixQuality.DGNSS, 0.8, eph_m=1.3)
    assert eph is not None
    assert eph.east_sigma_m == eph.north_sigma_m == 1.3
    hdop = gnss_noise(FixQuality.GNSS, 1.6)
    assert hdop is not None
    assert hdop.east_sigma_m == 1.6 * UERE_M[FixQuality.GNSS]
    missing = gnss_noise(FixQuality.RTK_FLOAT, math.nan)
    assert missing is not None
    assert missing.east_sigma_m == MISSING_HDOP * 0.5
    optimistic = gnss_noise(
        FixQuality.RTK_FIXED, 0.5, latitude_sigma_m=0.001, longitude_sigma_m=0.001
    )
    assert optimistic is not None
    assert optimistic.east_sigma_m == FLOOR_M[FixQuality.RTK_FIXED]
    assert gnss_noise(FixQuality.NONE, 0.8) is None
    assert gnss_noise(FixQuality.DEAD_RECKONING, 0.8) is None
    assert hdop.course_sigma_rad(1.0) is None  # too slow for a course
    assert hdop.course_sigma_rad(40.0) == MIN_COURSE_SIGMA_RAD
    assert fix_quality(4) is FixQuality.RTK_FIXED
    assert fix_quality("x") is None


def test_far_from_the_first_fix_the_frame_moves_along() -> None:
    """200 s at 30 m/s: 6 km east of the first fix, re-anchored once, still accurate."""
    legs = [Leg(200.0)]
    d = simulate("long", legs, speed_mps=30.0, heading_deg=90.0, seed=4)
    estimator_, out = run(d)
    assert estimator_.counters["reanchored"] == 1
    frame = estimator_.frame
    assert frame is not None
    first, _, _ = d.frame.geodetic_to_enu(frame.latitude_deg, frame.longitude_deg, 0.0)
    assert float(first) > REANCHOR_M
    assert out.rmse_m() < 0.35
    assert out.coverage() >= 0.93


_DRIVE = drives.straight(seed=0)
FIRST_SECOND = _DRIVE.can.between(T0, T0 + 1.0)
FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-200.0, 200.0),
    st.sampled_from([0.0, 1e308, -1e308]),
)


@given(
    times=st.lists(
        st.one_of(st.floats(T0 - 100, T0 + 100), st.floats(allow_nan=True, allow_infinity=True)),
        min_size=1,
        max_size=8,
    ),
    data=st.data(),
    fixes=st.lists(
        st.tuples(
            st.one_of(st.none(), FLOATS),
            st.one_of(st.none(), FLOATS),
            FLOATS,
            FLOATS,
            FLOATS,
            st.sampled_from([*FixQuality, 3, None]),
            st.one_of(st.none(), st.floats(T0 - 5, T0 + 5)),
            st.floats(allow_nan=True, allow_infinity=True) | st.floats(T0 - 5, T0 + 5),
        ),
        max_size=4,
    ),
)
@settings(max_examples=150, deadline=None)
def test_no_input_makes_the_published_state_non_finite(
    times: list[float], data: st.DataObject, fixes: list[tuple[Any, ...]]
) -> None:
    est = estimator()
    est.update_can(decoded(FIRST_SECOND))
    n = len(times)
    columns = [np.array(data.draw(st.lists(FLOATS, min_size=n, max_size=n))) for _ in range(3)]
    est.update_can(decoded(CanSamples(np.array(times), *columns)))
    for lat, lon, speed, course, hdop, quality, epoch, received in fixes:
        fix = StubFix(
            latitude_deg=lat,
            longitude_deg=lon,
            speed_mps=speed,
            course_deg=course,
            hdop=hdop,
            quality=quality,
            time=None if epoch is None else at(epoch),
            errors=ErrorEstimate(None, None, None, None, hdop, hdop, None),
        )
        est.update_gnss(fix, received)
    state = est.state(T0)
    assert non_finite_fields(state) == []
    assert state.speed_mps >= 0
    assert 0 <= state.position.horizontal_accuracy_m <= 100_000.0
    capture = est.capture_time_s
    assert capture is None or math.isfinite(capture)


def test_the_gateway_stamps_the_state_with_its_newest_input() -> None:
    clock = FixedClock(now_ns=round((T0 + 0.35) * 1e9))
    uplink = RecordingUplink(pb.DEVICE_ROLE_VEHICLE_GATEWAY)
    decoder = StubDecoder()
    decoder.output = decoded(samples([T0 + i / 50 for i in range(11)]))
    pipeline = VehicleGatewayPipeline(
        can_ports=[],
        decoder=decoder,
        estimator=estimator(),
        gnss=None,
        fixes=StubFixes(),
        uplink=uplink,
        settings=VehicleGatewaySettings(),
        clock=clock,
    )
    pipeline.on_can_batch(drives_batch())
    pipeline.publish_state()
    ((state, capture_ns),) = uplink.submitted
    assert isinstance(state, pb.VehicleState)
    assert capture_ns == round((T0 + 0.2) * 1e9)  # the last frame's time, not the tick's


def drives_batch() -> Any:
    """A frame batch for the pipeline to count; ``StubDecoder`` returns its own output."""
    return make_batch([(T0, 0x100, b"\x00")])
