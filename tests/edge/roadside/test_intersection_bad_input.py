"""Whatever the radars send, the intersection tracker never raises and never publishes a
non-finite value; what it could not use is counted."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.geodesy import LocalFrame
from edge.roadside.intersection_tracker import IntersectionTracker, RadarScan
from edge.roadside.track_list import fused_object_list
from edge.tracking.builders import gnn_tracker
from edge.tracking.motion_models import ConstantVelocity
from tests.edge.roadside.radar_truth import Targets, site

WEST = site("west", -40.0, 0.0, 90.0)
EAST = site("east", 40.0, 0.0, 270.0)
FRAME = LocalFrame.at(34.2235, 108.8905, 410.0)

values = st.floats(allow_nan=True, allow_infinity=True, width=64) | st.floats(-200.0, 200.0)
times = st.floats(allow_nan=True, allow_infinity=True) | st.floats(-5.0, 30.0)


@st.composite
def scans(draw: st.DrawFn) -> RadarScan:
    n = draw(st.integers(0, 12))

    def column() -> np.ndarray:
        return np.array(draw(st.lists(values, min_size=n, max_size=n)), dtype=np.float64)

    classes = np.array(draw(st.lists(st.integers(-5, 20), min_size=n, max_size=n)), np.int64)
    return RadarScan(
        draw(st.sampled_from(("west", "east", "north"))),
        draw(times),
        column(),
        column(),
        column(),
        column(),
        classes,
        column(),
        column(),
    )


def assert_publishable(it: IntersectionTracker, scan: RadarScan) -> None:
    fused = it.step(scan)
    if fused is None:
        return
    assert np.isfinite(fused.states).all()
    assert np.isfinite(fused.covariances).all()
    objects = fused_object_list(
        fused, FRAME, intersection_id=1, sensor_ids=it.sensor_ids, cycle_counter=1
    )
    for obj in objects.objects:
        numbers = (obj.x_m, obj.y_m, obj.vx_mps, obj.vy_mps, obj.speed_mps, obj.heading_rad)
        more = (obj.position.latitude_deg, obj.position.horizontal_accuracy_m, obj.age_s)
        assert all(math.isfinite(v) for v in numbers + more), obj


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(scans(), min_size=1, max_size=8))
def test_arbitrary_lists_never_break_the_tracker(lists: list[RadarScan]) -> None:
    it = IntersectionTracker((WEST, EAST), gnn_tracker(ConstantVelocity()))
    # Real objects first, so that there are tracks for the bad lists to disturb.
    rng = np.random.default_rng(0)
    car = Targets(start=np.array([[-10.0, 10.0]]), velocity=np.array([[5.0, 0.0]]))
    for k in range(8):
        assert_publishable(it, car.scan(WEST, k * 0.07, rng))
    for scan in lists:
        assert_publishable(it, scan)


def test_a_ten_thousand_object_list_is_cut_and_counted() -> None:
    it = IntersectionTracker((WEST, EAST), gnn_tracker(ConstantVelocity()))
    n = 10_000
    rng = np.random.default_rng(1)
    x, y = rng.uniform(5, 60, n), rng.uniform(-20, 20, n)
    zeros = np.zeros(n)
    scan = RadarScan("west", 1.0, x, y, zeros, zeros, np.ones(n, np.int64), zeros, zeros)
    assert it.step(scan) is not None
    assert it.rejected["too_many_detections"] == n - 1024


def test_a_radar_silent_for_seconds_leaves_no_stale_track() -> None:
    it = IntersectionTracker((WEST, EAST), gnn_tracker(ConstantVelocity()))
    rng = np.random.default_rng(4)
    car = Targets(start=np.array([[-10.0, 10.0]]), velocity=np.array([[5.0, 0.0]]))
    for k in range(20):
        fused = it.step(car.scan(WEST, k * 0.07, rng))
    assert fused is not None
    assert len(fused) == 1
    empty = np.empty(0)
    silence = RadarScan("west", 20.0, empty, empty, empty, empty, empty.astype(np.int64),
                        empty, empty)  # fmt: skip
    after = it.step(silence)
    assert after is not None
    assert len(after) == 0 or bool(after.coasting.all())
    for k in range(6):
        last = it.step(
            RadarScan(
                "west",
                20.1 + k * 0.07,
                empty,
                empty,
                empty,
                empty,
                empty.astype(np.int64),
                empty,
                empty,
            )
        )
    assert last is not None
    assert len(last) == 0
