"""Object placement: a radar's objects, in its frame, on the map from its surveyed pose."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from edge.geo import GeoPoint
from edge.roadside.object_fusion import ARS408_EXISTENCE, SensorPose, to_object_list
from protocols.radar import RadarObject, RadarObjectList
from protocols.schema.v1 import roadgate_pb2 as pb

RADAR = GeoPoint(34.2235, 108.8905, 410.0)


def one(obj: RadarObject, heading_deg: float = 0.0, cycle: int = 1) -> pb.ObjectList:
    pose = SensorPose("radar-north", RADAR, math.radians(heading_deg))
    return to_object_list(RadarObjectList(0, cycle, 1.0, (obj,)), pose)


def where(placed: pb.PerceivedObject) -> tuple[float, float]:
    """The placed object's east and north offsets from the radar, in metres."""
    position = placed.position
    point = GeoPoint(position.latitude_deg, position.longitude_deg, position.altitude_m)
    return RADAR.east_north_of(point)


@pytest.mark.parametrize(
    ("heading_deg", "forward_m", "left_m", "east_north"),
    [
        (0.0, 50.0, 0.0, (0.0, 50.0)),  # facing north: ahead is north
        (90.0, 50.0, 0.0, (50.0, 0.0)),  # facing east: ahead is east
        (0.0, 0.0, 10.0, (-10.0, 0.0)),  # facing north: left is west
        (180.0, 20.0, 5.0, (5.0, -20.0)),  # facing south: ahead is south, left is east
    ],
)
def test_an_object_is_placed_ahead_and_to_the_left_of_the_radar(
    heading_deg: float, forward_m: float, left_m: float, east_north: tuple[float, float]
) -> None:
    (placed,) = one(RadarObject(3, forward_m, left_m, 0.0, 0.0, 1, 5.0), heading_deg).objects
    east, north = where(placed)
    assert east == pytest.approx(east_north[0], abs=1e-3)
    assert north == pytest.approx(east_north[1], abs=1e-3)
    assert (placed.x_m, placed.y_m) == (forward_m, left_m)  # the sensor frame is kept too


def test_velocity_becomes_speed_and_course_on_the_map() -> None:
    # Facing east, an object coming towards the radar at 10 m/s drives west.
    (placed,) = one(RadarObject(1, 40.0, 0.0, -10.0, 0.0, 1, 5.0), heading_deg=90.0).objects
    assert placed.speed_mps == pytest.approx(10.0)
    assert placed.heading_rad == pytest.approx(math.radians(270.0))
    assert (placed.vx_mps, placed.vy_mps) == (-10.0, 0.0)


def test_the_list_carries_the_radars_surveyed_pose_and_a_32_bit_cycle_counter() -> None:
    out = one(RadarObject(1, 1.0, 0.0, 0.0, 0.0, 1, 5.0), heading_deg=45.0, cycle=2**32 + 5)
    assert out.sensor_id == "radar-north"
    assert out.cycle_counter == 5
    assert out.sensor_heading_rad == pytest.approx(math.radians(45.0))
    position = out.sensor_position
    assert (position.latitude_deg, position.longitude_deg, position.altitude_m) == (
        RADAR.latitude_deg,
        RADAR.longitude_deg,
        RADAR.altitude_m,
    )
    assert position.fix_quality == pb.FIX_QUALITY_RTK_FIXED


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (1, pb.OBJECT_CLASS_CAR),
        (3, pb.OBJECT_CLASS_PEDESTRIAN),
        (5, pb.OBJECT_CLASS_BICYCLE),
        (7, pb.OBJECT_CLASS_UNKNOWN),  # reserved
        (None, pb.OBJECT_CLASS_UNKNOWN),  # a radar that does not classify
    ],
)
def test_ars408_classes_map_to_object_classes(
    code: int | None, expected: pb.ObjectClass.ValueType
) -> None:
    (placed,) = one(RadarObject(1, 1.0, 0.0, 0.0, 0.0, 1, 5.0, obj_class=code)).objects
    assert placed.object_class == expected


def test_existence_size_and_rcs_are_carried_and_missing_ones_are_zero() -> None:
    full = RadarObject(1, 1.0, 0.0, 0.0, 0.0, 1, -3.5, 1, 4.6, 1.8, 5)
    (placed,) = one(full).objects
    assert placed.existence_probability == ARS408_EXISTENCE[5] == 0.99
    assert (placed.length_m, placed.width_m) == pytest.approx((4.6, 1.8))
    assert placed.rcs_dbsm == -3.5
    bare = RadarObject(2, 1.0, 0.0, 0.0, 0.0, 1, None, prob_of_exist_code=0)
    (placed,) = one(bare).objects
    assert (placed.existence_probability, placed.length_m, placed.width_m) == (0.0, 0.0, 0.0)
    assert placed.rcs_dbsm == 0.0


metres = st.floats(-250.0, 250.0)


@given(forward=metres, left=metres, heading_deg=st.floats(0.0, 360.0))
def test_placement_keeps_the_distance_from_the_radar_whatever_its_heading(
    forward: float, left: float, heading_deg: float
) -> None:
    (placed,) = one(RadarObject(1, forward, left, 0.0, 0.0, 1, 0.0), heading_deg).objects
    east, north = where(placed)
    assert math.hypot(east, north) == pytest.approx(math.hypot(forward, left), abs=1e-3)


@given(vx=st.floats(-70.0, 70.0), vy=st.floats(-70.0, 70.0), heading_deg=st.floats(0.0, 360.0))
@example(vx=1.0, vy=3.6443003985451035e-176, heading_deg=0.0)  # a course that rounded to tau
def test_speed_on_the_map_is_the_relative_speed_whatever_the_heading(
    vx: float, vy: float, heading_deg: float
) -> None:
    (placed,) = one(RadarObject(1, 10.0, 0.0, vx, vy, 1, 0.0), heading_deg).objects
    assert placed.speed_mps == pytest.approx(math.hypot(vx, vy), abs=1e-9)
    assert 0.0 <= placed.heading_rad < math.tau
