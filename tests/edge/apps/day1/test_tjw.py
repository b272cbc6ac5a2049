"""TJW scenarios: warns in time when the ego closes fast on a jam ahead, once per jam even as
cars join it and the warning turns critical; silent for an ego driving slowly, two slow cars,
slow cars far apart, slow flow, a jam in the other direction or behind, stale senders and
single frames."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from edge.apps.day1.tjw import JAM_KEY, Tjw, TjwSettings, find_jam
from firmware_py.simulation.v2x_scenes import Mover, Segment, V2xScene, run_scene
from protocols.schema.v1 import roadgate_pb2 as pb

EGO = Mover(east_m=0.0, north_m=-150.0, heading_deg=0.0, speed_mps=25.0)
JAM_SPEED = 2.0


def _jam(
    norths: tuple[float, ...],
    *,
    speed: float = JAM_SPEED,
    heading: float = 0.0,
    heard_from_s: float = 0.0,
    heard_until_s: float = math.inf,
) -> list[Mover]:
    """Cars at ``norths`` in two lanes (x 0 and 3.5), all at ``speed``."""
    return [
        Mover(
            east_m=3.5 * (k % 2),
            north_m=north,
            heading_deg=heading,
            speed_mps=speed,
            station_id=100 + k,
            heard_from_s=heard_from_s,
            heard_until_s=heard_until_s,
        )
        for k, north in enumerate(norths)
    ]


def _tail_time(tail_north: float, seconds_ahead: float, jam_speed: float = JAM_SPEED) -> float:
    """When the ego reaches ``seconds_ahead`` of closing to a tail starting at ``tail_north``."""
    closing = 25.0 - jam_speed
    return (tail_north + 150.0 - 4.6 - closing * seconds_ahead) / closing


def test_fast_approach_warns_eight_seconds_before_the_tail_once() -> None:
    jam = _jam((100.0, 110.0, 120.0, 130.0), speed=0.0)
    # A car that joins the jam (within 60 m of its second car from 3.4 s on) becomes its
    # new tail while the warning is on.
    joining = Mover(
        east_m=3.5,
        north_m=0.0,
        heading_deg=0.0,
        speed_mps=15.0,
        station_id=9,
        segments=(Segment(3.0), Segment(5.0, accel_mps2=-3.0)),
    )
    run = run_scene(V2xScene(ego=EGO, remotes=[*jam, joining]), [Tjw()], duration_s=8.0)
    first = run.first("TJW")
    assert first is not None
    assert _tail_time(100.0, 8.2, 0.0) <= first <= _tail_time(100.0, 7.8, 0.0)
    assert run.count("TJW") == 1  # one jam, one event, though its tail and severity changed
    (_, event) = run.started[0]
    assert event.type == pb.EVENT_TYPE_TRAFFIC_JAM
    assert event.severity == pb.SEVERITY_WARNING
    assert event.remote_id == ""
    assert "4 vehicles" in event.description
    (active,) = run.engine.active
    assert active.severity == pb.SEVERITY_CRITICAL
    assert "5 vehicles" in active.description  # the joining car is the tail now
    assert active.distance_m < 30.0


def test_plain_jam_warning_time() -> None:
    run = run_scene(V2xScene(ego=EGO, remotes=_jam((100.0, 110.0, 120.0))), [Tjw()], 5.0)
    first = run.first("TJW")
    assert first is not None
    assert _tail_time(100.0, 8.2) <= first <= _tail_time(100.0, 7.8)
    (_, event) = run.started[0]
    assert event.severity == pb.SEVERITY_WARNING
    assert 7.7 <= event.time_to_collision_s <= 8.0


def test_slow_ego_and_what_is_no_jam_stay_silent() -> None:
    slow_ego = Mover(east_m=0.0, north_m=-150.0, heading_deg=0.0, speed_mps=10.0)
    run = run_scene(V2xScene(ego=slow_ego, remotes=_jam((-60.0, -50.0, -40.0))), [Tjw()], 4.0)
    assert run.first("TJW") is None
    for remotes in (
        _jam((0.0, 10.0)),  # two slow cars
        _jam((0.0, 40.0, 80.0)),  # three spread over 80 m
        _jam((0.0, 10.0, 20.0), speed=8.0),  # slow flow, not a jam
        _jam((-20.0, -10.0, 0.0), heading=180.0),  # the other direction
        _jam((-240.0, -230.0, -220.0)),  # behind
    ):
        scene = V2xScene(ego=EGO, remotes=remotes)
        assert run_scene(scene, [Tjw()], duration_s=4.0).first("TJW") is None


def test_stale_and_single_frame_senders_are_no_jam() -> None:
    stale = _jam((100.0, 110.0, 120.0), heard_until_s=1.0)
    run = run_scene(V2xScene(ego=EGO, remotes=stale), [Tjw()], duration_s=6.0)
    assert run.first("TJW") is None
    single = _jam((0.0, 10.0, 20.0), heard_from_s=1.0, heard_until_s=1.0)
    run = run_scene(V2xScene(ego=EGO, remotes=single), [Tjw()], duration_s=3.0)
    assert run.first("TJW") is None


def test_settings_are_honoured() -> None:
    pair = V2xScene(ego=EGO, remotes=_jam((0.0, 10.0)))
    assert run_scene(pair, [Tjw(TjwSettings(min_vehicles=2))], 3.0).first("TJW") is not None
    scene = V2xScene(ego=EGO, remotes=_jam((100.0, 110.0, 120.0)))
    run = run_scene(scene, [Tjw(TjwSettings(warn_time_s=4.0))], duration_s=10.0)
    first = run.first("TJW")
    assert first is not None
    assert first >= _tail_time(100.0, 4.2)


def test_find_jam_takes_the_nearest_group_and_everything_that_overlaps_it() -> None:
    gaps = np.array([10.0, 40.0, 50.0, 60.0, 70.0, 200.0, 205.0, 210.0])
    speeds = np.array([20.0, 1.0, 2.0, 3.0, 2.0, 0.0, 0.0, 0.0])
    jam = find_jam(gaps, speeds, TjwSettings())
    assert jam is not None
    assert (jam.tail, jam.gap_m, jam.vehicles, jam.length_m) == (1, 40.0, 4, 30.0)
    assert jam.speed_mps == 2.0
    assert find_jam(gaps[:3], speeds[:3], TjwSettings()) is None
    assert JAM_KEY == "jam"


@given(
    st.lists(st.tuples(st.floats(0.0, 300.0), st.floats(0.0, 40.0)), min_size=0, max_size=12),
    st.integers(1, 5),
)
def test_find_jam_is_the_first_window_that_is_short_and_slow(
    cars: list[tuple[float, float]], min_vehicles: int
) -> None:
    cars.sort()
    gaps = np.array([g for g, _ in cars])
    speeds = np.array([v for _, v in cars])
    s = TjwSettings(min_vehicles=min_vehicles)

    def jammed(k: int) -> bool:
        window = slice(k, k + min_vehicles)
        span = gaps[k + min_vehicles - 1] - gaps[k]
        return bool(span <= s.jam_length_m and speeds[window].mean() <= s.jam_speed_mps)

    starts = [k for k in range(len(cars) - min_vehicles + 1) if jammed(k)]
    jam = find_jam(gaps, speeds, s)
    if not starts:
        assert jam is None
        return
    assert jam is not None
    assert jam.tail == starts[0]
    assert jam.gap_m == gaps[starts[0]]
    assert jam.vehicles >= min_vehicles
