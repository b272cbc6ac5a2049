"""VRUCW scenarios (RSM participants): warns in time of a pedestrian crossing into the ego's
path and a cyclist ahead in its lane; silent for a pedestrian walking along the sidewalk, one
crossing well before or after the ego passes, a car on the same course, and a stale RSM."""

from __future__ import annotations

import math

from edge.apps.day1.vrucw import Vrucw, VrucwSettings
from firmware_py.simulation.v2x_scenes import Mover, V2xScene, run_scene
from protocols.schema.v1 import roadgate_pb2 as pb

SPEED = 50 / 3.6
EGO = Mover(east_m=5.25, north_m=-150.0, heading_deg=0.0, speed_mps=SPEED)
CROSSING_NORTH = -60.0
PASSES_S = (CROSSING_NORTH - EGO.north_m) / SPEED  # when the ego is at the crossing
WALK = 1.4


def walker(
    reaches_path_s: float,
    object_class: pb.ObjectClass.ValueType = pb.OBJECT_CLASS_PEDESTRIAN,
    heard_until_s: float = math.inf,
) -> Mover:
    """Crossing westwards at ``CROSSING_NORTH``, on the ego's path at ``reaches_path_s``."""
    return Mover(
        east_m=EGO.east_m + WALK * reaches_path_s,
        north_m=CROSSING_NORTH,
        heading_deg=270.0,
        speed_mps=WALK,
        length_m=0.5,
        width_m=0.6,
        object_class=object_class,
        heard_until_s=heard_until_s,
    )


def run(*participants: Mover, app: Vrucw | None = None, duration_s: float = 8.0) -> list[float]:
    result = run_scene(
        V2xScene(ego=EGO, participants=participants), [app or Vrucw()], duration_s=duration_s
    )
    return [t for t, e in result.started if e.application == "VRUCW"]


def test_pedestrian_crossing_into_the_path_is_warned_in_time() -> None:
    result = run_scene(V2xScene(ego=EGO, participants=[walker(PASSES_S)]), [Vrucw()], 8.0)
    first = result.first("VRUCW")
    assert first is not None
    # By 2.5 s before (a stop from 50 km/h after a 1.5 s reaction needs 2.9 s), not before 3.2.
    assert PASSES_S - 3.2 <= first <= PASSES_S - 2.5
    assert result.count("VRUCW") == 1
    (_, event) = result.started[0]
    assert event.type == pb.EVENT_TYPE_VRU_COLLISION
    assert event.remote_id.endswith(":1")
    assert 2.5 <= event.time_to_collision_s <= 3.0


def test_cyclist_ahead_in_the_lane_is_warned() -> None:
    cyclist = Mover(
        east_m=5.25,
        north_m=-100.0,
        heading_deg=0.0,
        speed_mps=4.0,
        length_m=1.8,
        width_m=0.6,
        object_class=pb.OBJECT_CLASS_BICYCLE,
    )
    (first,) = run(cyclist, duration_s=6.0)
    # Closing at 9.9 m/s from 50 m: 3 s (30 m) from reaching it at about 2.0 s.
    assert 1.8 <= first <= 2.2


def test_pedestrians_on_the_sidewalk_walking_along_are_not_warned() -> None:
    along = Mover(
        12.5, -60.0, 0.0, WALK, length_m=0.5, width_m=0.6, object_class=pb.OBJECT_CLASS_PEDESTRIAN
    )
    towards = Mover(
        12.5, -40.0, 180.0, WALK, length_m=0.5, width_m=0.6, object_class=pb.OBJECT_CLASS_PEDESTRIAN
    )
    assert run(along, towards) == []


def test_crossing_well_before_or_after_the_ego_is_not_warned() -> None:
    assert run(walker(PASSES_S - 3.0), walker(PASSES_S + 3.0)) == []


def test_a_car_on_the_same_course_is_not_a_vru() -> None:
    car = walker(PASSES_S, pb.OBJECT_CLASS_CAR)
    assert run(car) == []


def test_stale_rsm_is_not_warned_about() -> None:
    # The RSU stops reporting the pedestrian 1 s in, long before the ego gets near.
    assert run(walker(PASSES_S, heard_until_s=1.0)) == []


def test_settings_are_honoured() -> None:
    late = run(walker(PASSES_S), app=Vrucw(VrucwSettings(ttc_s=2.0)))
    assert late
    assert late[0] >= PASSES_S - 2.1
    assert run(walker(PASSES_S + 3.0), app=Vrucw(VrucwSettings(safety_radius_m=5.0)))


def test_bicycles_and_motorcycles_are_vrus() -> None:
    for kind in (pb.OBJECT_CLASS_BICYCLE, pb.OBJECT_CLASS_MOTORCYCLE):
        assert run(walker(PASSES_S, kind)), kind
    assert run(walker(PASSES_S, pb.OBJECT_CLASS_UNKNOWN)) == []
