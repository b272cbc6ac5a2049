"""AVW scenarios: warns in time about a car standing on the open road, and about hazard
lights and a disabled flag at any speed; silent for a queue at a stop line, an ego itself in
slow traffic, a slow but moving car, the other direction, two lanes over, a stale sender and
a single frame."""

from __future__ import annotations

import math
from pathlib import Path

from edge.apps.day1.avw import Avw, AvwSettings
from firmware_py.simulation.v2x_scenes import Mover, V2xScene, run_scene
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x.bsm_extensions import BsmExtensions
from protocols.v2x.intersection_file import read_intersection_file

EGO = Mover(east_m=0.0, north_m=-150.0, heading_deg=0.0, speed_mps=20.0)
EXAMPLE = Path(__file__).parents[4] / "firmware_py" / "examples" / "intersection-101.toml"


def _reach_time(north: float, gap_m: float, speed: float = 20.0) -> float:
    """When the ego (from -150 m) is ``gap_m`` behind a car standing at ``north``."""
    return (north + 150.0 - 4.6 - gap_m) / speed


def _standing(
    east: float,
    north: float,
    station: int,
    heard_from_s: float = 0.0,
    heard_until_s: float = math.inf,
) -> Mover:
    return Mover(
        east_m=east,
        north_m=north,
        heading_deg=0.0,
        speed_mps=0.0,
        station_id=station,
        heard_from_s=heard_from_s,
        heard_until_s=heard_until_s,
    )


def test_car_standing_on_open_road_warns_eight_seconds_ahead() -> None:
    run = run_scene(V2xScene(ego=EGO, remotes=[_standing(0.0, 100.0, 7)]), [Avw()], duration_s=7.0)
    first = run.first("AVW")
    # 8 s of driving at 20 m/s is 160 m: not before 165 m, not after 155 m.
    assert first is not None
    assert _reach_time(100.0, 165.0) <= first <= _reach_time(100.0, 155.0)
    assert run.count("AVW") == 1
    (_, event) = run.started[0]
    assert event.type == pb.EVENT_TYPE_ABNORMAL_VEHICLE
    assert event.severity == pb.SEVERITY_WARNING
    assert event.remote_id == f"{7:016x}"


def test_hazard_lights_and_disabled_flag_warn_at_any_speed() -> None:
    hazard = Mover(
        east_m=3.5,
        north_m=-100.0,
        heading_deg=0.0,
        speed_mps=15.0,
        station_id=7,
        extensions=BsmExtensions(turn_signal=pb.TURN_SIGNAL_HAZARD),
    )
    disabled = Mover(
        east_m=0.0,
        north_m=-80.0,
        heading_deg=0.0,
        speed_mps=12.0,
        station_id=8,
        extensions=BsmExtensions(events=frozenset({"disabled_vehicle"})),
    )
    run = run_scene(V2xScene(ego=EGO, remotes=[hazard, disabled]), [Avw()], duration_s=2.0)
    assert {e.remote_id for _, e in run.started} == {f"{7:016x}", f"{8:016x}"}
    assert all(t <= 0.2 for t, _ in run.started)  # the second BSM of each
    severities = {e.remote_id: e.severity for _, e in run.started}
    assert severities[f"{8:016x}"] == pb.SEVERITY_CRITICAL  # in lane, 65 m: 3.3 s
    assert severities[f"{7:016x}"] == pb.SEVERITY_WARNING  # next lane


def test_queue_at_a_stop_line_is_not_abnormal() -> None:
    # South approach, straight lane 32 (x = 5.25), stop line at y = -12.
    intersection = read_intersection_file(EXAMPLE).map
    ego = Mover(east_m=5.25, north_m=-250.0, heading_deg=0.0, speed_mps=20.0)
    head = _standing(5.25, -15.0, 7)
    second = _standing(5.25, -23.0, 8)
    scene = V2xScene(ego=ego, remotes=[head, second], intersection=intersection)
    run = run_scene(scene, [Avw()], duration_s=8.0)
    assert run.first("AVW") is None
    # Without the MAP the same head, standing on an open road, is abnormal.
    bare = run_scene(V2xScene(ego=ego, remotes=[head, second]), [Avw()], duration_s=8.0)
    assert [e.remote_id for _, e in bare.started] == [f"{7:016x}"]


def test_slow_ego_slow_car_other_direction_and_far_lanes_stay_silent() -> None:
    slow_ego = Mover(east_m=0.0, north_m=-150.0, heading_deg=0.0, speed_mps=6.0)
    run = run_scene(V2xScene(ego=slow_ego, remotes=[_standing(0.0, -100.0, 1)]), [Avw()], 4.0)
    assert run.first("AVW") is None
    moving = Mover(east_m=0.0, north_m=-100.0, heading_deg=0.0, speed_mps=10.0, station_id=2)
    oncoming = Mover(east_m=-3.5, north_m=-60.0, heading_deg=180.0, speed_mps=0.0, station_id=3)
    two_over = _standing(7.0, -60.0, 4)
    behind = _standing(0.0, -200.0, 5)
    scene = V2xScene(ego=EGO, remotes=[moving, oncoming, two_over, behind])
    assert run_scene(scene, [Avw()], duration_s=4.0).first("AVW") is None


def test_stale_and_single_frame_senders_are_not_warned_about() -> None:
    stale = _standing(0.0, 100.0, 7, heard_until_s=1.0)  # 225 m off when it goes
    single = _standing(0.0, -60.0, 8, heard_from_s=1.0, heard_until_s=1.0)
    run = run_scene(V2xScene(ego=EGO, remotes=[stale, single]), [Avw()], duration_s=6.0)
    assert run.first("AVW") is None


def test_settings_are_honoured() -> None:
    scene = V2xScene(ego=EGO, remotes=[_standing(0.0, 100.0, 7)])
    run = run_scene(scene, [Avw(AvwSettings(warn_time_s=4.0))], duration_s=10.0)
    first = run.first("AVW")
    assert first is not None
    assert first >= _reach_time(100.0, 85.0)
    crawl = V2xScene(
        ego=EGO,
        remotes=[Mover(east_m=0.0, north_m=-60.0, heading_deg=0.0, speed_mps=4.0, station_id=7)],
    )
    assert run_scene(crawl, [Avw()], duration_s=2.0).first("AVW") is None
    assert run_scene(crawl, [Avw(AvwSettings(crawl_speed_mps=5.0))], 2.0).first("AVW") is not None


def test_standing_at_the_end_of_an_egress_lane_is_abnormal() -> None:
    # Beyond the junction on lane 16 (x = 5.25, y = 12 to 132): its end is no stop line.
    intersection = read_intersection_file(EXAMPLE).map
    ego = Mover(east_m=5.25, north_m=-60.0, heading_deg=0.0, speed_mps=20.0)
    scene = V2xScene(ego=ego, remotes=[_standing(5.25, 125.0, 7)], intersection=intersection)
    run = run_scene(scene, [Avw()], duration_s=3.0)
    assert [e.remote_id for _, e in run.started] == [f"{7:016x}"]
