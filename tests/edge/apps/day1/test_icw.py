"""ICW scenarios at the example crossroads (right-hand traffic, 3.5 m lanes): the ego drives
north on the south approach's straight lane (x = 5.25) at 50 km/h; crossing traffic on the
west (y = -5.25, eastbound) or east (y = 5.25, westbound) straight lanes. Warns in time for
a car that meets it at the crossing; silent for a car that clears it long before, parallel
and oncoming lanes, a car stopped or stopping at its stop line, a stale sender and one frame."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.apps.day1.ego import Ego
from edge.apps.day1.findings import Finding
from edge.apps.day1.icw import Icw, IcwSettings
from edge.apps.day1.lanes import LaneIndex
from edge.apps.day1.picture import Participants, Picture, Vehicles
from edge.geodesy import LocalFrame
from firmware_py.simulation.v2x_scenes import Mover, Segment, V2xScene, run_scene
from protocols.schema.v1 import roadgate_pb2 as pb

SPEED = 13.9  # 50 km/h
EGO = Mover(east_m=5.25, north_m=-100.0, heading_deg=0.0, speed_mps=SPEED)
HALF_LENGTH, HALF_WIDTH = 2.3, 0.9


def _ego_enters(cross_north: float) -> float:
    """Scene time the ego's body reaches the crossing car's footprint at ``cross_north``."""
    return (cross_north + 100.0 - HALF_LENGTH - HALF_WIDTH) / SPEED


def _crossing(side: str, arrive_s: float, station_id: int = 5) -> Mover:
    """A car at 50 km/h on the straight lane from ``side`` whose centre reaches the ego's
    lane centre (x = 5.25) at ``arrive_s``."""
    if side == "west":
        return Mover(5.25 - SPEED * arrive_s, -5.25, 90.0, SPEED, station_id=station_id)
    return Mover(5.25 + SPEED * arrive_s, 5.25, 270.0, SPEED, station_id=station_id)


@pytest.mark.parametrize(("side", "cross_north"), [("west", -5.25), ("east", 5.25)])
def test_car_meeting_us_at_the_crossing_warns_in_time(side: str, cross_north: float) -> None:
    arrive = (cross_north + 100.0) / SPEED  # both centres at the crossing together
    run = run_scene(V2xScene(ego=EGO, remotes=[_crossing(side, arrive)]), [Icw()], 8.0)
    first = run.first("ICW")
    assert first is not None
    collision = _ego_enters(cross_north)
    # By 3.2 s before (a driver's reaction and braking at 50 km/h), not before 4.3 s.
    assert collision - 4.3 <= first <= collision - 3.2
    assert run.count("ICW") == 1
    (_, event) = run.started[0]
    assert event.type == pb.EVENT_TYPE_INTERSECTION_COLLISION
    assert event.remote_id == f"{5:016x}"
    assert ("left" if side == "west" else "right") in event.description
    assert 3.0 < event.time_to_collision_s <= 4.0


def test_warning_turns_critical_as_the_crossing_nears() -> None:
    arrive = (-5.25 + 100.0) / SPEED
    run = run_scene(V2xScene(ego=EGO, remotes=[_crossing("west", arrive)]), [Icw()], 5.5)
    (active,) = run.engine.active
    assert active.severity == pb.SEVERITY_CRITICAL
    assert active.time_to_collision_s <= 2.0


def test_car_clearing_the_crossing_long_before_us_is_no_conflict() -> None:
    arrive = (-5.25 + 100.0) / SPEED - 3.0  # through the crossing 3 s before the ego
    run = run_scene(V2xScene(ego=EGO, remotes=[_crossing("west", arrive)]), [Icw()], 8.0)
    assert run.first("ICW") is None


def test_parallel_and_oncoming_lanes_stay_silent() -> None:
    beside = Mover(east_m=1.75, north_m=-95.0, heading_deg=0.0, speed_mps=SPEED, station_id=1)
    oncoming = Mover(east_m=-5.25, north_m=90.0, heading_deg=180.0, speed_mps=SPEED, station_id=2)
    run = run_scene(V2xScene(ego=EGO, remotes=[beside, oncoming]), [Icw()], 8.0)
    assert run.first("ICW") is None


def test_car_stopped_or_stopping_at_its_stop_line_stays_silent() -> None:
    # West approach stop line at x = -12: a car waiting there, and one braking to stop there.
    waiting = Mover(east_m=-14.3, north_m=-5.25, heading_deg=90.0, speed_mps=0.0, station_id=3)
    stopping = Mover(
        east_m=-60.0,
        north_m=-8.75,
        heading_deg=90.0,
        speed_mps=SPEED,
        station_id=4,
        segments=(Segment(20.0, accel_mps2=-2.2, brake=True),),
    )
    run = run_scene(V2xScene(ego=EGO, remotes=[waiting, stopping]), [Icw()], 8.0)
    assert run.first("ICW") is None


def test_stale_sender_is_not_warned_about() -> None:
    arrive = (-5.25 + 100.0) / SPEED
    car = replace(_crossing("west", arrive), heard_until_s=1.0)  # silent before the warning is due
    run = run_scene(V2xScene(ego=EGO, remotes=[car]), [Icw()], 8.0)
    assert run.first("ICW") is None


def test_one_frame_is_never_a_warning() -> None:
    arrive = (-5.25 + 100.0) / SPEED
    car = replace(_crossing("west", arrive), heard_from_s=3.0, heard_until_s=3.0)
    run = run_scene(V2xScene(ego=EGO, remotes=[car]), [Icw()], 8.0)
    assert run.first("ICW") is None


def test_settings_are_honoured() -> None:
    arrive = (-5.25 + 100.0) / SPEED
    run = run_scene(
        V2xScene(ego=EGO, remotes=[_crossing("west", arrive)]),
        [Icw(IcwSettings(ttc_s=2.5, critical_ttc_s=1.0))],
        8.0,
    )
    first = run.first("ICW")
    collision = _ego_enters(-5.25)
    assert first is not None
    assert collision - 2.7 <= first <= collision - 2.0


_coord = st.floats(-300.0, 300.0)


@st.composite
def crowds(draw: st.DrawFn) -> tuple[Ego, Picture]:
    """Any ego and up to 30 remote vehicles anywhere, at any speed, heading, size and
    acceleration (no MAP): what the apps must judge without raising."""
    n = draw(st.integers(0, 30))

    def column(values: st.SearchStrategy[float]) -> np.ndarray:
        return np.array(draw(st.lists(values, min_size=n, max_size=n)), dtype=np.float64)

    signals = st.sampled_from(list(pb.TurnSignal.values()))
    vehicles = Vehicles(
        ids=np.arange(1, n + 1, dtype=np.int64),
        east=column(_coord),
        north=column(_coord),
        speed=column(st.floats(0.0, 60.0)),
        heading=column(st.floats(0.0, 2 * math.pi)),
        accel=column(st.floats(-10.0, 5.0)),
        yaw_rate=np.zeros(n),
        length=column(st.floats(0.0, 20.0)),
        width=column(st.floats(0.0, 3.0)),
        age_s=np.zeros(n),
        brake=np.zeros(n, bool),
        events=np.zeros(n, np.int64),
        turn_signal=np.array(draw(st.lists(signals, min_size=n, max_size=n)), np.int64),
        emergency=np.zeros(n, bool),
        vehicle_class=np.zeros(n, np.int64),
        speed_known=np.ones(n, bool),
    )
    no_one = Participants((), np.zeros(0, np.int64), *(np.zeros(0) for _ in range(7)))
    picture = Picture(
        now_s=0.0,
        frame=LocalFrame.at(34.2235, 108.8905, 410.0),
        vehicles=vehicles,
        participants=no_one,
        lanes=LaneIndex(),
        signals={},
        events=(),
        signs=(),
    )
    ego = Ego(
        east=draw(_coord),
        north=draw(_coord),
        speed=draw(st.floats(0.0, 60.0)),
        heading=draw(st.floats(0.0, 2 * math.pi)),
        accel=draw(st.floats(-10.0, 5.0)),
        yaw_rate=draw(st.floats(-1.0, 1.0)),
        length=draw(st.floats(1.0, 20.0)),
        width=draw(st.floats(1.0, 3.0)),
        turn_signal=draw(signals),
        brake=False,
        lane=None,
    )
    return ego, picture


def check_findings(findings: list[Finding], code: str, picture: Picture) -> None:
    """Each finding names one remote vehicle once, with finite figures."""
    names = {picture.vehicles.remote_id(i) for i in range(len(picture.vehicles))}
    assert len({f.key for f in findings}) == len(findings)
    for f in findings:
        assert f.app == code
        assert f.remote_id in names
        figures = (f.east, f.north, f.time_to_collision_s, f.distance_m)
        assert all(math.isfinite(x) for x in figures)
        assert f.time_to_collision_s >= 0.0


@settings(max_examples=150, deadline=None)
@given(crowds())
def test_any_crowd_is_judged_without_raising(crowd: tuple[Ego, Picture]) -> None:
    ego, picture = crowd
    check_findings(Icw().evaluate(ego, picture), "ICW", picture)
