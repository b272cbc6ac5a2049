from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from edge.geo import GeoPoint, east_north_to_sensor, heading_of, sensor_to_east_north

metres = st.floats(-500, 500)
headings = st.floats(0, math.tau)


@given(metres, metres, headings)
def test_sensor_frame_round_trip(x: float, y: float, heading: float) -> None:
    east, north = sensor_to_east_north(x, y, heading)
    back = east_north_to_sensor(east, north, heading)
    assert math.isclose(back[0], x, abs_tol=1e-9)
    assert math.isclose(back[1], y, abs_tol=1e-9)


def test_a_radar_looking_south_sees_forward_as_south_and_left_as_east() -> None:
    east, north = sensor_to_east_north(10.0, 0.0, math.pi)
    assert math.isclose(north, -10.0)
    assert math.isclose(east, 0.0, abs_tol=1e-12)
    east, north = sensor_to_east_north(0.0, 5.0, math.pi)
    assert math.isclose(east, 5.0)
    assert math.isclose(north, 0.0, abs_tol=1e-12)


@given(metres, metres)
def test_offset_and_east_north_of_agree(east: float, north: float) -> None:
    origin = GeoPoint(34.2235, 108.8905, 410.0)
    there = origin.offset(east, north)
    e, n = origin.east_north_of(there)
    assert math.isclose(e, east, abs_tol=1e-6)
    assert math.isclose(n, north, abs_tol=1e-6)


def test_heading_of_points_clockwise_from_north() -> None:
    assert math.isclose(heading_of(0.0, 1.0), 0.0)
    assert math.isclose(heading_of(1.0, 0.0), math.pi / 2)
    assert math.isclose(heading_of(0.0, -1.0), math.pi)
    assert math.isclose(heading_of(-1.0, 0.0), 3 * math.pi / 2)
