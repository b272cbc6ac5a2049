"""DNPW scenarios on a two-lane two-way road (3.5 m lanes, right-hand traffic, centre line at
x = 0): the ego drives north at 72 km/h in its lane (x = 1.75) and signals left to overtake;
oncoming traffic uses x = -1.75. Warns when an oncoming car will meet us within the passing
time; silent without a signal, for a far car, a divided road's far side, traffic going our
way, a slow left signal, a left-turn lane at a MAP intersection, a stale sender and one frame."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings

from edge.apps.day1.dnpw import Dnpw, DnpwSettings
from edge.apps.day1.ego import Ego
from edge.apps.day1.picture import Picture
from firmware_py.simulation.v2x_scenes import Mover, V2xScene, run_scene
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x.intersection_file import read_intersection_file
from tests.edge.apps.day1.test_icw import check_findings, crowds

EXAMPLE = Path(__file__).parents[4] / "firmware_py" / "examples" / "intersection-101.toml"
SPEED = 20.0
EGO = Mover(1.75, 0.0, 0.0, SPEED, turn_signal=pb.TURN_SIGNAL_LEFT)
ONCOMING = Mover(-1.75, 500.0, 180.0, SPEED, station_id=41)
GAP_0 = 500.0 - 4.6  # bumper to bumper at 0 s


def _meet(t_s: float) -> float:
    """Seconds until the ego and the oncoming car meet, at scene time ``t_s``."""
    return (GAP_0 - 2 * SPEED * t_s) / (2 * SPEED)


def test_oncoming_car_within_the_passing_time_warns_in_time() -> None:
    run = run_scene(V2xScene(ego=EGO, remotes=[ONCOMING]), [Dnpw()], 6.0)
    first = run.first("DNPW")
    assert first is not None
    assert 9.7 <= _meet(first) <= 10.0  # as it comes within a pass, within a cycle and BSM
    assert run.count("DNPW") == 1
    (_, event) = run.started[0]
    assert event.type == pb.EVENT_TYPE_DO_NOT_PASS
    assert event.severity == pb.SEVERITY_WARNING
    assert event.remote_id == f"{41:016x}"
    assert 9.5 < event.time_to_collision_s <= 10.0


def test_warning_turns_critical_within_half_a_pass() -> None:
    run = run_scene(V2xScene(ego=EGO, remotes=[ONCOMING]), [Dnpw()], 8.0)
    (active,) = run.engine.active
    assert _meet(8.0) < 5.0
    assert active.severity == pb.SEVERITY_CRITICAL


def test_no_signal_far_car_far_side_and_same_way_stay_silent() -> None:
    run = run_scene(
        V2xScene(ego=replace(EGO, turn_signal=pb.TURN_SIGNAL_OFF), remotes=[ONCOMING]),
        [Dnpw()],
        8.0,
    )
    assert run.first("DNPW") is None
    remotes = [
        Mover(-1.75, 1200.0, 180.0, SPEED, station_id=1),  # meets us in 30 s
        Mover(-12.0, 300.0, 180.0, SPEED, station_id=2),  # other carriageway
        Mover(-1.75, 60.0, 0.0, SPEED, station_id=3),  # ahead in the passing lane, our way
    ]
    run = run_scene(V2xScene(ego=EGO, remotes=remotes), [Dnpw()], 5.0)
    assert run.first("DNPW") is None


def test_left_turns_are_not_passes() -> None:
    slow = replace(EGO, speed_mps=6.0)  # a left signal at 22 km/h: a turn (LTA's case)
    run = run_scene(V2xScene(ego=slow, remotes=[ONCOMING]), [Dnpw()], 8.0)
    assert run.first("DNPW") is None
    # In the example crossroads' left-turn lane (31) at 36 km/h, an oncoming car on lane 11.
    turning = Mover(1.75, -120.0, 0.0, 10.0, turn_signal=pb.TURN_SIGNAL_LEFT)
    # Heard once the MAP (1 Hz) is: before it, the ego could be on any road.
    oncoming = Mover(-1.75, 100.0, 180.0, 10.0, station_id=42, heard_from_s=1.5)
    scene = V2xScene(
        ego=turning, remotes=[oncoming], intersection=read_intersection_file(EXAMPLE).map
    )
    run = run_scene(scene, [Dnpw()], 5.0)
    assert run.first("DNPW") is None


def test_stale_sender_and_one_frame_stay_silent() -> None:
    stale = replace(ONCOMING, heard_until_s=1.0)  # forgotten before it is in range
    flash = replace(ONCOMING, station_id=43, heard_from_s=5.5, heard_until_s=5.5)
    run = run_scene(V2xScene(ego=EGO, remotes=[stale, flash]), [Dnpw()], 6.0)
    assert run.first("DNPW") is None


def test_settings_are_honoured() -> None:
    run = run_scene(
        V2xScene(ego=EGO, remotes=[ONCOMING]), [Dnpw(DnpwSettings(passing_time_s=7.0))], 8.0
    )
    first = run.first("DNPW")
    assert first is not None
    assert 6.7 <= _meet(first) <= 7.0


@settings(max_examples=150, deadline=None)
@given(crowds())
def test_any_crowd_is_judged_without_raising(crowd: tuple[Ego, Picture]) -> None:
    ego, picture = crowd
    check_findings(Dnpw().evaluate(ego, picture), "DNPW", picture)
