"""EVW scenarios: warns in time of an emergency vehicle on a call coming from behind,
crossing towards the junction ahead, or oncoming; silent for one moving away, one too far,
a normal vehicle, an ambulance back from a call, and a single frame."""

from __future__ import annotations

import math

from edge.apps.day1.evw import Evw, EvwSettings
from firmware_py.simulation.v2x_scenes import Mover, V2xScene, run_scene
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x.bsm_extensions import BsmExtensions

ON_CALL = BsmExtensions(emergency_response="emergency", siren_in_use=True, lightbar_in_use=True)
BACK_FROM_CALL = BsmExtensions(
    emergency_response="nonEmergency", siren_in_use=False, lightbar_in_use=False, vehicle_class=69
)
# Northbound at 36 km/h on the south approach, 100 m before the junction's centre.
EGO = Mover(east_m=5.25, north_m=-100.0, heading_deg=0.0, speed_mps=10.0)


def emergency(
    east: float,
    north: float,
    heading_deg: float,
    speed: float,
    extensions: BsmExtensions | None = ON_CALL,
    heard_from_s: float = 0.0,
    heard_until_s: float = math.inf,
) -> Mover:
    return Mover(
        east_m=east,
        north_m=north,
        heading_deg=heading_deg,
        speed_mps=speed,
        station_id=0x119,
        extensions=extensions,
        heard_from_s=heard_from_s,
        heard_until_s=heard_until_s,
    )


def first(remote: Mover, duration_s: float = 6.0, app: Evw | None = None) -> float | None:
    run = run_scene(V2xScene(ego=EGO, remotes=[remote]), [app or Evw()], duration_s=duration_s)
    return run.first("EVW")


def test_from_behind_warns_ten_seconds_before_it_arrives() -> None:
    # 200 m behind closing at 15 m/s: 10 s away after 3.3 s.
    remote = emergency(5.25, -300.0, 0.0, 25.0)
    run = run_scene(V2xScene(ego=EGO, remotes=[remote]), [Evw()], duration_s=8.0)
    when = run.first("EVW")
    assert when is not None
    assert 3.2 <= when <= 3.5
    assert run.count("EVW") == 1
    (_, event) = run.started[0]
    assert event.type == pb.EVENT_TYPE_EMERGENCY_VEHICLE
    assert event.remote_id == f"{0x119:016x}"
    assert "behind" in event.description
    assert 9.5 <= event.time_to_collision_s <= 10.0


def test_crossing_towards_the_junction_ahead_warns() -> None:
    # Eastbound on the west arm, 205 m from where its path meets the ego's: 10 s after 3.7 s.
    when = first(emergency(-200.0, -5.25, 90.0, 15.0))
    assert when is not None
    assert 3.5 <= when <= 3.9


def test_oncoming_warns() -> None:
    # Southbound 300 m ahead on the other side, closing at 25 m/s: 10 s away after 2 s.
    when = first(emergency(-5.25, 200.0, 180.0, 15.0))
    assert when is not None
    assert 1.8 <= when <= 2.2


def test_moving_away_is_not_warned() -> None:
    ahead_faster = emergency(5.25, -50.0, 0.0, 20.0)
    behind_slower = emergency(5.25, -150.0, 0.0, 8.0)
    crossing_away = emergency(20.0, -5.25, 90.0, 15.0)  # already past the ego's path
    for remote in (ahead_faster, behind_slower, crossing_away):
        assert first(remote) is None, remote


def test_far_is_not_warned() -> None:
    # 400 m behind at 216 km/h: here in 8 s, but beyond the 300 m range for 2 s.
    assert first(emergency(5.25, -500.0, 0.0, 60.0), duration_s=1.5) is None


def test_normal_vehicle_and_ambulance_back_from_a_call_are_not_warned() -> None:
    assert first(emergency(5.25, -300.0, 0.0, 25.0, extensions=None)) is None
    assert first(emergency(5.25, -300.0, 0.0, 25.0, extensions=BACK_FROM_CALL)) is None


def test_siren_alone_is_enough() -> None:
    siren = BsmExtensions(siren_in_use=True)
    assert first(emergency(5.25, -300.0, 0.0, 25.0, extensions=siren)) is not None


def test_one_frame_is_never_a_warning() -> None:
    remote = emergency(5.25, -250.0, 0.0, 25.0, heard_from_s=1.0, heard_until_s=1.0)
    assert first(remote) is None


def test_settings_are_honoured() -> None:
    # With 5 s to make way: 75 m behind, after 8.3 s rather than 3.3 s.
    remote = emergency(5.25, -300.0, 0.0, 25.0)
    late = first(remote, duration_s=10.0, app=Evw(EvwSettings(time_s=5.0)))
    assert late is not None
    assert 8.2 <= late <= 8.5
