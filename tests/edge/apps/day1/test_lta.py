"""LTA scenarios at the example crossroads (firmware_py/examples/intersection-101.toml,
right-hand traffic, 3.5 m lanes): the ego waits at the stop line of the south approach's
left-turn lane (31, x = 1.75, stop line y = -12) while a car comes south on the north
approach's straight lane (12, x = -5.25) at 50 km/h. Warns when the oncoming car will arrive
within the time the turn needs; silent without a left turn, for a far car, a car on our side
going our way, an oncoming left-turner, a stale sender and one frame."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings

from edge.apps.day1.ego import Ego
from edge.apps.day1.lta import Lta, LtaSettings
from edge.apps.day1.picture import Picture
from firmware_py.simulation.v2x_scenes import Mover, V2xScene, run_scene
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x.bsm_extensions import BsmExtensions
from protocols.v2x.intersection_file import read_intersection_file
from tests.edge.apps.day1.test_icw import check_findings, crowds

EXAMPLE = Path(__file__).parents[4] / "firmware_py" / "examples" / "intersection-101.toml"
MAP = read_intersection_file(EXAMPLE).map
SPEED = 13.9  # 50 km/h
STOP_LINE = -12.0
WAITING = Mover(1.75, STOP_LINE - 2.3, 0.0, 0.0, turn_signal=pb.TURN_SIGNAL_LEFT)
ONCOMING = Mover(-5.25, 130.0, 180.0, SPEED, station_id=21)


def _arrival(t_s: float, north_m: float = 130.0) -> float:
    """Seconds until the oncoming car (at ``north_m`` at 0 s) is level with our stop line."""
    return (north_m - SPEED * t_s - STOP_LINE) / SPEED


def test_oncoming_car_within_the_turn_gap_warns_in_time() -> None:
    run = run_scene(V2xScene(ego=WAITING, remotes=[ONCOMING], intersection=MAP), [Lta()], 7.0)
    first = run.first("LTA")
    assert first is not None
    # Warned once the car is inside the 5.5 s gap, within a cycle and a BSM of it.
    assert 5.2 <= _arrival(first) <= 5.5
    assert run.count("LTA") == 1
    (_, event) = run.started[0]
    assert event.type == pb.EVENT_TYPE_LEFT_TURN_ASSIST
    assert event.remote_id == f"{21:016x}"
    assert event.severity == pb.SEVERITY_WARNING


def test_left_only_lane_warns_without_a_signal_and_turns_critical() -> None:
    ego = replace(WAITING, turn_signal=pb.TURN_SIGNAL_OFF)
    run = run_scene(V2xScene(ego=ego, remotes=[ONCOMING], intersection=MAP), [Lta()], 8.0)
    assert run.first("LTA") is not None
    (active,) = run.engine.active
    assert active.severity == pb.SEVERITY_CRITICAL  # arriving in under 3 s by now


def test_off_the_map_a_slow_left_signal_is_a_turn() -> None:
    ego = Mover(1.75, -14.3, 0.0, 4.0, turn_signal=pb.TURN_SIGNAL_LEFT)
    oncoming = Mover(-1.75, 60.0, 180.0, SPEED, station_id=22)
    run = run_scene(V2xScene(ego=ego, remotes=[oncoming]), [Lta()], 3.0)
    assert run.first("LTA") is not None


def test_no_left_turn_stays_silent() -> None:
    straight_lane = Mover(5.25, STOP_LINE - 2.3, 0.0, 0.0)  # lane 32, no signal
    run = run_scene(V2xScene(ego=straight_lane, remotes=[ONCOMING], intersection=MAP), [Lta()], 7.0)
    assert run.first("LTA") is None
    # Off the map, a left signal at 72 km/h is an overtake (DNPW's case), not a turn.
    overtaking = Mover(1.75, -200.0, 0.0, 20.0, turn_signal=pb.TURN_SIGNAL_LEFT)
    run = run_scene(V2xScene(ego=overtaking, remotes=[ONCOMING]), [Lta()], 3.0)
    assert run.first("LTA") is None


def test_far_oncoming_same_way_and_oncoming_left_turner_stay_silent() -> None:
    far = Mover(-5.25, 400.0, 180.0, SPEED, station_id=23)  # 30 s away
    ahead_same_way = Mover(5.25, 0.0, 0.0, SPEED, station_id=24)
    left_turner = Mover(
        -1.75,
        60.0,
        180.0,
        8.0,
        station_id=25,
        extensions=BsmExtensions(turn_signal=pb.TURN_SIGNAL_LEFT),  # its BSM says so
    )
    scene = V2xScene(ego=WAITING, remotes=[far, ahead_same_way, left_turner], intersection=MAP)
    run = run_scene(scene, [Lta()], 6.0)
    assert run.first("LTA") is None


def test_stale_sender_and_one_frame_stay_silent() -> None:
    stale = replace(ONCOMING, heard_until_s=3.0)  # gone before it is within the gap
    flash = replace(ONCOMING, station_id=26, heard_from_s=5.0, heard_until_s=5.0)
    run = run_scene(V2xScene(ego=WAITING, remotes=[stale, flash], intersection=MAP), [Lta()], 7.0)
    assert run.first("LTA") is None


def test_settings_are_honoured() -> None:
    scene = V2xScene(ego=WAITING, remotes=[ONCOMING], intersection=MAP)
    run = run_scene(scene, [Lta(LtaSettings(turn_time_s=3.5))], 8.0)
    first = run.first("LTA")
    assert first is not None
    assert 3.2 <= _arrival(first) <= 3.5


@settings(max_examples=150, deadline=None)
@given(crowds())
def test_any_crowd_is_judged_without_raising(crowd: tuple[Ego, Picture]) -> None:
    ego, picture = crowd
    check_findings(Lta().evaluate(ego, picture), "LTA", picture)
