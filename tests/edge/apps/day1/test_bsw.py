"""BSW/LCW scenarios on a straight road with 3.5 m lanes (right-hand traffic): the ego drives
north at 90 km/h in the middle lane (x = 0); the next lanes are at x = -3.5 (left) and 3.5
(right). Advice for a car in the blind spot, a warning when the driver signals toward it or
toward a car closing fast from behind; silent two lanes over, ahead, oncoming, for a car
that does not close, a stale sender and one frame; advice only when signalling away."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings

from edge.apps.day1.bsw import Bsw, BswSettings
from edge.apps.day1.ego import Ego
from edge.apps.day1.picture import Picture
from firmware_py.simulation.v2x_scenes import Mover, V2xScene, run_scene
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.edge.apps.day1.test_icw import check_findings, crowds

SPEED = 25.0
EGO = Mover(0.0, -200.0, 0.0, SPEED)
LEFT_SPOT = Mover(-3.5, -203.0, 0.0, SPEED, station_id=31)  # 3 m behind, beside our rear
RIGHT_SPOT = Mover(3.5, -203.5, 0.0, SPEED, station_id=32)


@pytest.mark.parametrize(
    ("signal", "car", "severity"),
    [
        (pb.TURN_SIGNAL_OFF, LEFT_SPOT, pb.SEVERITY_INFO),
        (pb.TURN_SIGNAL_LEFT, LEFT_SPOT, pb.SEVERITY_WARNING),
        (pb.TURN_SIGNAL_RIGHT, RIGHT_SPOT, pb.SEVERITY_WARNING),
        (pb.TURN_SIGNAL_RIGHT, LEFT_SPOT, pb.SEVERITY_INFO),  # signalling away from it
    ],
)
def test_car_in_the_blind_spot(
    signal: pb.TurnSignal.ValueType, car: Mover, severity: pb.Severity.ValueType
) -> None:
    run = run_scene(V2xScene(ego=replace(EGO, turn_signal=signal), remotes=[car]), [Bsw()], 2.0)
    first = run.first("BSW")
    assert first is not None
    assert first <= 0.3
    assert run.count("BSW") == 1
    (_, event) = run.started[0]
    assert event.type == pb.EVENT_TYPE_BLIND_SPOT
    assert event.severity == severity
    assert event.remote_id == f"{car.station_id:016x}"
    assert ("left" if car is LEFT_SPOT else "right") in event.description


def test_car_closing_fast_from_behind_warns_in_time() -> None:
    ego = replace(EGO, turn_signal=pb.TURN_SIGNAL_LEFT)
    closing = Mover(-3.5, -260.0, 0.0, 35.0, station_id=33)  # 10 m/s faster, 60 m back
    run = run_scene(V2xScene(ego=ego, remotes=[closing]), [Bsw()], 4.0)
    first = run.first("BSW")
    assert first is not None
    # Its front reaches the zone (5.3 m behind our centre) at 5.24 s; warned 3.5 s before,
    # within a cycle and a BSM.
    assert 5.24 - 3.5 <= first <= 5.24 - 3.2
    (_, event) = run.started[0]
    assert event.severity == pb.SEVERITY_WARNING
    assert 3.0 < event.time_to_collision_s <= 3.5


def test_far_lanes_ahead_oncoming_and_slow_closers_stay_silent() -> None:
    remotes = [
        Mover(-7.0, -203.0, 0.0, SPEED, station_id=1),  # two lanes over
        Mover(3.5, -180.0, 0.0, SPEED, station_id=2),  # next lane, ahead
        Mover(-3.5, -150.0, 180.0, SPEED, station_id=3),  # oncoming
        Mover(-3.5, -240.0, 0.0, SPEED + 1.0, station_id=4),  # closes in 35 s
        Mover(0.0, -215.0, 0.0, SPEED, station_id=5),  # behind in our own lane
    ]
    ego = replace(EGO, turn_signal=pb.TURN_SIGNAL_LEFT)
    run = run_scene(V2xScene(ego=ego, remotes=remotes), [Bsw()], 3.0)
    assert run.first("BSW") is None


def test_stale_sender_and_one_frame_stay_silent() -> None:
    # Each would be in the zone only after it stopped sending (they close at 10 m/s).
    stale = Mover(-3.5, -260.0, 0.0, 35.0, station_id=6, heard_until_s=0.5)
    flash = Mover(3.5, -260.0, 0.0, 35.0, station_id=7, heard_from_s=3.0, heard_until_s=3.0)
    run = run_scene(V2xScene(ego=EGO, remotes=[stale, flash]), [Bsw()], 6.0)
    assert run.first("BSW") is None


def test_settings_are_honoured() -> None:
    closing = Mover(-3.5, -260.0, 0.0, 35.0, station_id=33)
    run = run_scene(
        V2xScene(ego=EGO, remotes=[closing]), [Bsw(BswSettings(closing_time_s=2.0))], 4.0
    )
    first = run.first("BSW")
    assert first is not None
    assert 5.24 - 2.0 <= first <= 5.24 - 1.7
    # Below min_speed_mps nothing is judged.
    slow = run_scene(
        V2xScene(ego=EGO, remotes=[LEFT_SPOT]), [Bsw(BswSettings(min_speed_mps=30.0))], 2.0
    )
    assert slow.first("BSW") is None


@settings(max_examples=150, deadline=None)
@given(crowds())
def test_any_crowd_is_judged_without_raising(crowd: tuple[Ego, Picture]) -> None:
    ego, picture = crowd
    check_findings(Bsw().evaluate(ego, picture), "BSW", picture)
