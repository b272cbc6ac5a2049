"""CLW scenarios: warns at once when a car ahead in the lane or the next one reports ABS,
traction or stability control at work; silent for the other direction, two lanes over, a car
behind, one out of range, other flags, a stale sender and a single frame."""

from __future__ import annotations

import math

from edge.apps.day1.clw import Clw, ClwSettings
from firmware_py.simulation.v2x_scenes import Mover, V2xScene, run_scene
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x.bsm_extensions import BsmExtensions

EGO = Mover(east_m=0.0, north_m=-150.0, heading_deg=0.0, speed_mps=20.0)
SKID_AT_S = 1.0


def _skidding(
    east: float,
    north: float,
    station: int,
    *,
    flag: str = "stability_control_activated",
    heading: float = 0.0,
    heard_from_s: float = 0.0,
    heard_until_s: float = math.inf,
) -> Mover:
    """A car at 15 m/s whose BSMs carry ``flag`` from ``SKID_AT_S`` on."""
    return Mover(
        east_m=east,
        north_m=north,
        heading_deg=heading,
        speed_mps=15.0,
        station_id=station,
        extensions=lambda t: BsmExtensions(
            events=frozenset({flag}) if t >= SKID_AT_S else frozenset()
        ),
        heard_from_s=heard_from_s,
        heard_until_s=heard_until_s,
    )


def test_skid_in_lane_and_next_lane_warn_at_once() -> None:
    in_lane = _skidding(0.0, -60.0, 7)  # 85 m: over 4 s of driving
    next_lane = _skidding(3.5, -40.0, 8, flag="traction_control_loss")
    abs_far = _skidding(-3.5, 20.0, 9, flag="abs_activated")
    scene = V2xScene(ego=EGO, remotes=[in_lane, next_lane, abs_far])
    run = run_scene(scene, [Clw()], duration_s=3.0)
    assert {e.remote_id for _, e in run.started} == {f"{n:016x}" for n in (7, 8, 9)}
    # Not before the flags; with the second BSM that carries them at the latest.
    assert all(SKID_AT_S <= t <= SKID_AT_S + 0.2 for t, _ in run.started)
    assert all(e.type == pb.EVENT_TYPE_CONTROL_LOSS for _, e in run.started)
    assert all(e.severity == pb.SEVERITY_WARNING for _, e in run.started)
    assert run.count("CLW") == 3


def test_close_skid_in_lane_is_critical() -> None:
    run = run_scene(V2xScene(ego=EGO, remotes=[_skidding(0.0, -110.0, 7)]), [Clw()], 2.0)
    assert [e.severity for _, e in run.started] == [pb.SEVERITY_CRITICAL]


def test_other_direction_far_lanes_behind_out_of_range_and_other_flags_stay_silent() -> None:
    oncoming = _skidding(-3.5, -40.0, 1, heading=180.0)
    two_over = _skidding(7.0, -60.0, 2)
    behind = _skidding(0.0, -190.0, 3)
    far = _skidding(0.0, 100.0, 4)  # 245 m ahead
    hazard = _skidding(0.0, -60.0, 5, flag="hazard_lights")
    scene = V2xScene(ego=EGO, remotes=[oncoming, two_over, behind, far, hazard])
    assert run_scene(scene, [Clw()], duration_s=3.0).first("CLW") is None


def test_stale_and_single_frame_senders_are_not_warned_about() -> None:
    stale = _skidding(0.0, -60.0, 7, heard_until_s=0.9)  # silent before the skid
    single = _skidding(0.0, -80.0, 8, heard_from_s=1.5, heard_until_s=1.5)
    run = run_scene(V2xScene(ego=EGO, remotes=[stale, single]), [Clw()], duration_s=3.0)
    assert run.first("CLW") is None


def test_settings_are_honoured() -> None:
    scene = V2xScene(ego=EGO, remotes=[_skidding(0.0, -60.0, 7)])
    assert run_scene(scene, [Clw(ClwSettings(max_range_m=50.0))], 2.0).first("CLW") is None
    close = V2xScene(ego=EGO, remotes=[_skidding(0.0, -90.0, 7)])  # 55 m: 2.7 s
    (_, event) = run_scene(close, [Clw(ClwSettings(critical_time_s=2.0))], 2.0).started[0]
    assert event.severity == pb.SEVERITY_WARNING
