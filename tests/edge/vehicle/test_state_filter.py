"""The vehicle motion filter (and its model) on hand-made inputs: timing (late, too old, gaps,
clock steps), outliers, frame moves, and bad input of every kind (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.vehicle.motion_model import (
    MAX_OUTLIERS_IN_ROW,
    PSI,
    B,
    E,
    FilterSettings,
    K,
    Measurement,
    N,
    V,
)
from edge.vehicle.state_filter import MAX_SIGMA, MIN_SIGMA, VehicleMotionFilter

T0 = 1_800_000_000.0


def wheel(t: float, v: float) -> Measurement:
    return Measurement("wheel_speed", t, (v,), (0.03,))


def yaw(t: float, w: float) -> Measurement:
    return Measurement("yaw_rate", t, (w,), (0.005,))


def fix(t: float, east: float, north: float, sigma: float = 0.5) -> Measurement:
    return Measurement("gnss_position", t, (east, north), (sigma, sigma))


def course(t: float, rad: float) -> Measurement:
    return Measurement("gnss_course", t, (rad,), (0.02,))


def driving_north(seconds: float, speed: float = 10.0) -> list[Measurement]:
    """50 Hz odometry and 5 Hz fixes of a car going north at ``speed`` from (0, 0)."""
    out: list[Measurement] = []
    for i in range(round(seconds * 50)):
        t = T0 + i / 50
        out += [wheel(t, speed), yaw(t, 0.0)]
        if i % 10 == 0:
            out += [fix(t, 0.0, speed * i / 50), course(t, 0.0)]
    return out


def filtered(measurements: list[Measurement]) -> VehicleMotionFilter:
    f = VehicleMotionFilter()
    for m in measurements:
        f.add(m)
    return f


def test_a_car_driving_north_is_where_it_should_be() -> None:
    f = filtered(driving_north(10.0))
    state = f.state
    assert state is not None
    assert state.position_known
    assert state.heading_known
    assert state.speed_known
    assert state.mean[N] == pytest.approx(10.0 * 9.98, abs=0.3)
    assert state.mean[E] == pytest.approx(0.0, abs=0.3)
    assert state.mean[V] == pytest.approx(10.0, abs=0.05)
    assert 0 < state.horizontal_sigma_m < 0.5
    assert f.rejects == {}


def test_late_measurements_give_the_same_state_as_in_order() -> None:
    ordered = driving_north(3.0)
    shuffled = list(ordered)
    rng = np.random.default_rng(1)
    for i in range(4, len(shuffled) - 20, 7):  # displace some up to 20 places (0.1 s)
        j = i + int(rng.integers(1, 20))
        shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
    a, b = filtered(ordered), filtered(shuffled)
    assert a.state is not None
    assert b.state is not None
    assert b.counters["late"] > 0
    assert b.rejects == {}
    # Equal up to the order of updates sharing a timestamp (rounding only).
    np.testing.assert_allclose(b.state.mean, a.state.mean, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(b.state.covariance, a.state.covariance, rtol=1e-6, atol=1e-10)


def test_a_measurement_older_than_the_history_is_counted_and_dropped() -> None:
    f = filtered(driving_north(5.0))
    before = f.state
    f.add(fix(T0 + 1.0, 50.0, 50.0))  # 4 s late: the history keeps 2 s
    assert f.rejects == {"too_old.gnss_position": 1}
    assert f.state is before


def test_a_huge_gap_restarts_the_motion_but_keeps_the_calibration() -> None:
    f = filtered(driving_north(20.0))
    assert f.state is not None
    scale, bias = f.state.mean[K], f.state.mean[B]
    f.add(wheel(T0 + 3600.0, 0.0))  # an hour later: parked meanwhile, who knows where
    state = f.state
    assert state is not None
    assert f.rejects["restart.gap"] == 1
    assert not state.position_known
    assert not state.heading_known
    assert (state.mean[K], state.mean[B]) == (scale, bias)
    assert state.time_s == T0 + 3600.0


def test_a_clock_stepping_back_restarts_instead_of_dropping_everything() -> None:
    f = filtered(driving_north(2.0))
    f.add(wheel(T0 - 600.0, 10.0))
    assert f.rejects["restart.backwards"] == 1
    assert f.state is not None
    assert f.state.time_s == T0 - 600.0
    f.add(wheel(T0 - 599.98, 10.0))  # and goes on from there
    assert f.state.time_s == T0 - 599.98


def test_a_position_jump_is_an_outlier_until_it_persists() -> None:
    f = filtered(driving_north(5.0))
    assert f.state is not None
    t = f.state.time_s
    for k in range(MAX_OUTLIERS_IN_ROW):
        f.add(fix(t + 0.2 * (k + 1), 300.0, 300.0))
        assert f.state is not None
        assert f.state.mean[E] < 5.0
    assert f.rejects["outlier.gnss_position"] == MAX_OUTLIERS_IN_ROW
    f.add(fix(t + 0.2 * (MAX_OUTLIERS_IN_ROW + 1), 300.0, 300.0))
    assert f.counters["reacquired"] == 1
    assert f.state is not None
    assert f.state.mean[E] == 300.0


def test_moving_the_frame_moves_every_kept_state_and_fix() -> None:
    a = filtered(driving_north(3.0))
    b = filtered(driving_north(3.0))
    shift = math.radians(0.05)
    b.transform(shift, 0.0, 20.0)
    assert a.state is not None
    assert b.state is not None
    c, s = math.cos(shift), math.sin(shift)
    e, n = a.state.mean[E], a.state.mean[N] - 20.0
    assert b.state.mean[E] == pytest.approx(c * e + s * n)
    assert b.state.mean[N] == pytest.approx(-s * e + c * n)
    assert b.state.mean[PSI] == pytest.approx(a.state.mean[PSI] + shift)
    b.add(fix(T0 + 2.5, 0.0 + 20.0 * s, 25.0 - 20.0 * c * 0 - 20.0))  # a late fix re-filters
    assert b.counters["late"] == 1


def test_unknown_heading_makes_the_position_uncertain_by_the_reach() -> None:
    """A fix, then 2 s of 10 m/s odometry without any course: the car may be anywhere within
    20 m, and the covariance says so."""
    f = VehicleMotionFilter()
    f.add(fix(T0, 0.0, 0.0, sigma=1.0))
    for i in range(1, 101):
        f.add(wheel(T0 + i / 50, 10.0))
    state = f.state
    assert state is not None
    assert not state.heading_known
    assert state.horizontal_sigma_m >= 20.0


def test_settings_must_be_finite_and_positive() -> None:
    with pytest.raises(ValueError, match="finite and positive"):
        FilterSettings(history_s=math.nan)
    with pytest.raises(ValueError, match="finite and positive"):
        FilterSettings(accel_jerk_psd=-1.0)


KINDS = ["wheel_speed", "yaw_rate", "accel", "gnss_speed", "gnss_course", "gnss_position"]
ANY_FLOAT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-100.0, 100.0),
    st.sampled_from([0.0, -0.0, 1e-300, 1e300]),
)


@st.composite
def measurements(draw: st.DrawFn) -> Measurement:
    kind = draw(st.sampled_from(KINDS))
    width = 2 if kind == "gnss_position" else 1
    t = draw(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.floats(T0 - 30.0, T0 + 30.0),
            st.floats(T0, T0 + 3.0),
        )
    )
    value = tuple(draw(ANY_FLOAT) for _ in range(width))
    sigma = tuple(draw(st.one_of(ANY_FLOAT, st.floats(0.001, 10.0))) for _ in range(width))
    return Measurement(kind, t, value, sigma)


@given(st.lists(measurements(), max_size=60))
@settings(max_examples=200, deadline=None)
def test_no_input_crashes_the_filter_or_makes_it_non_finite(batch: list[Measurement]) -> None:
    f = VehicleMotionFilter()
    for m in [*driving_north(0.5), *batch]:
        f.add(m)
    state = f.state
    assert state is not None
    assert np.all(np.isfinite(state.mean))
    assert np.all(np.isfinite(state.covariance))
    assert np.all(np.diag(state.covariance) >= 0)
    assert math.isfinite(state.horizontal_sigma_m)
    predicted = f.predicted(state.time_s + 1.0)
    assert predicted is not None
    assert np.all(np.isfinite(predicted.covariance))
    bad = sum(
        not (math.isfinite(m.time_s) and all(map(math.isfinite, (*m.value, *m.sigma))))
        or not all(MIN_SIGMA <= s <= MAX_SIGMA for s in m.sigma)
        for m in batch
    )
    reasons = ("bad_time", "non_finite", "bad_sigma")
    counted = sum(v for k, v in f.rejects.items() if k.startswith(reasons))
    assert counted == bad
