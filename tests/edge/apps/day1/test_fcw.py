"""FCW scenarios: warns in time behind a stopped or braking car in the lane; silent for the
next lane, a faster lead, a stale sender and a single frame."""

from __future__ import annotations

import numpy as np

from edge.apps.day1.fcw import Fcw, FcwSettings, time_to_collision
from firmware_py.simulation.v2x_scenes import Mover, Segment, V2xScene, run_scene

EGO = Mover(east_m=0.0, north_m=-150.0, heading_deg=0.0, speed_mps=20.0)


def _gap_time(lead_north: float, gap_m: float, length: float = 4.6) -> float:
    """When the ego (20 m/s) is ``gap_m`` behind a car stopped at ``lead_north``."""
    return (lead_north - (-150.0) - length - gap_m) / 20.0


def test_stopped_car_ahead_warns_before_ncap_lead_time() -> None:
    lead = Mover(east_m=0.0, north_m=-50.0, heading_deg=0.0, speed_mps=0.0, station_id=7)
    run = run_scene(V2xScene(ego=EGO, remotes=[lead]), [Fcw()], duration_s=5.0)
    first = run.first("FCW")
    assert first is not None
    # NCAP: by TTC 2.1 s behind a stopped car (gap 42 m at 20 m/s); not before TTC 3.1 s.
    assert _gap_time(-50.0, 3.1 * 20) <= first <= _gap_time(-50.0, 2.1 * 20)
    assert run.count("FCW") == 1  # one episode, one event
    (_, event) = run.started[0]
    assert event.remote_id == f"{7:016x}"
    assert 2.4 < event.time_to_collision_s <= 3.0


def test_braking_lead_warns_earlier_than_its_speed_alone_says() -> None:
    lead = Mover(
        east_m=0.0,
        north_m=-110.0,
        heading_deg=0.0,
        speed_mps=20.0,
        station_id=8,
        segments=(Segment(1.0), Segment(5.0, accel_mps2=-6.0, brake=True)),
    )
    run = run_scene(V2xScene(ego=EGO, remotes=[lead]), [Fcw()], duration_s=6.0)
    first = run.first("FCW")
    assert first is not None
    assert first < 3.0


def test_next_lane_slower_car_and_faster_lead_stay_silent() -> None:
    next_lane = Mover(east_m=3.5, north_m=-50.0, heading_deg=0.0, speed_mps=0.0, station_id=1)
    faster = Mover(east_m=0.0, north_m=-120.0, heading_deg=0.0, speed_mps=25.0, station_id=2)
    oncoming = Mover(east_m=-3.5, north_m=100.0, heading_deg=180.0, speed_mps=15.0, station_id=3)
    scene = V2xScene(ego=EGO, remotes=[next_lane, faster, oncoming])
    run = run_scene(scene, [Fcw()], duration_s=6.0)
    assert run.first("FCW") is None


def test_stale_sender_is_not_warned_about() -> None:
    # Its BSMs stop 2 s in: by the time the ego would reach it, it is forgotten.
    lead = Mover(
        east_m=0.0, north_m=0.0, heading_deg=0.0, speed_mps=0.0, station_id=9, heard_until_s=2.0
    )
    run = run_scene(V2xScene(ego=EGO, remotes=[lead]), [Fcw()], duration_s=6.0)
    assert run.first("FCW") is None


def test_one_frame_is_never_a_warning() -> None:
    lead = Mover(
        east_m=0.0,
        north_m=-100.0,
        heading_deg=0.0,
        speed_mps=0.0,
        station_id=10,
        heard_from_s=1.0,
        heard_until_s=1.0,
    )
    run = run_scene(V2xScene(ego=EGO, remotes=[lead]), [Fcw()], duration_s=3.0)
    assert run.first("FCW") is None


def test_time_to_collision_cases() -> None:
    ttc = time_to_collision(
        np.array([40.0, 40.0, 40.0, 10.0]),
        20.0,
        np.array([0.0, 20.0, 10.0, 10.0]),
        np.array([0.0, 0.0, 0.0, -5.0]),
    )
    assert ttc[0] == 2.0
    assert np.isinf(ttc[1])
    assert ttc[2] == 4.0
    # Lead stops after 2 s, 10 m on: the ego covers 20 m in 1 s and catches it before that.
    assert 0.0 < ttc[3] < 2.0


def test_settings_are_honoured() -> None:
    lead = Mover(east_m=0.0, north_m=-50.0, heading_deg=0.0, speed_mps=0.0, station_id=7)
    run = run_scene(
        V2xScene(ego=EGO, remotes=[lead]), [Fcw(FcwSettings(ttc_s=1.5))], duration_s=5.0
    )
    first = run.first("FCW")
    assert first is not None
    assert first >= _gap_time(-50.0, 1.6 * 20)
