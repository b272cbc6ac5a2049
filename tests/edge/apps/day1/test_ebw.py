"""EBW scenarios: warns at once when a car ahead brakes hard, even hidden behind another car
or in the next lane, by flag or by its deceleration; silent for gentle braking, the other
direction, a car behind, one out of range, a stale sender and a single frame."""

from __future__ import annotations

import math
from pathlib import Path

from edge.apps.day1.ebw import Ebw, EbwSettings
from firmware_py.simulation.v2x_scenes import Mover, Segment, V2xScene, run_scene
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x.bsm_extensions import BsmExtensions
from protocols.v2x.intersection_file import read_intersection_file

EGO = Mover(east_m=0.0, north_m=-150.0, heading_deg=0.0, speed_mps=20.0)
BRAKE_AT_S = 1.0
EXAMPLE = Path(__file__).parents[4] / "firmware_py" / "examples" / "intersection-101.toml"


def _braking(
    east: float,
    north: float,
    *,
    station: int,
    accel: float = -6.0,
    heard_from_s: float = 0.0,
    heard_until_s: float = math.inf,
) -> Mover:
    """A car 20 m/s north that brakes at ``accel`` from ``BRAKE_AT_S``."""
    return Mover(
        east_m=east,
        north_m=north,
        heading_deg=0.0,
        speed_mps=20.0,
        station_id=station,
        segments=(Segment(BRAKE_AT_S), Segment(4.0, accel_mps2=accel, brake=True)),
        heard_from_s=heard_from_s,
        heard_until_s=heard_until_s,
    )


def test_hidden_hard_braker_warns_within_two_bsm_periods() -> None:
    hidden = _braking(0.0, -60.0, station=7)
    between = Mover(east_m=0.0, north_m=-110.0, heading_deg=0.0, speed_mps=20.0, station_id=8)
    run = run_scene(V2xScene(ego=EGO, remotes=[hidden, between]), [Ebw()], duration_s=4.0)
    first = run.first("EBW")
    # Not before it brakes; by the second BSM that says so (the first tick is the brake's).
    assert first is not None
    assert BRAKE_AT_S <= first <= BRAKE_AT_S + 0.2
    assert run.count("EBW") == 1
    (_, event) = run.started[0]
    assert event.remote_id == f"{7:016x}"
    assert event.type == pb.EVENT_TYPE_EMERGENCY_BRAKE
    assert event.severity == pb.SEVERITY_WARNING  # 85 m at 20 m/s: over 4 s of gap
    assert 80.0 < event.distance_m < 90.0


def test_close_braker_in_lane_is_critical() -> None:
    close = _braking(0.0, -115.0, station=7)  # 30 m gap at 20 m/s: 1.5 s
    run = run_scene(V2xScene(ego=EGO, remotes=[close]), [Ebw()], duration_s=2.0)
    assert run.first("EBW") is not None
    (_, event) = run.started[0]
    assert event.severity == pb.SEVERITY_CRITICAL


def test_flag_alone_and_next_lane_warn() -> None:
    # The sender's own judgement (flag set, its acceleration not said as braking).
    flagged = Mover(
        east_m=3.5,
        north_m=-60.0,
        heading_deg=0.0,
        speed_mps=20.0,
        station_id=9,
        extensions=lambda t: BsmExtensions(
            events=frozenset({"hard_braking"}) if t >= BRAKE_AT_S else frozenset()
        ),
    )
    run = run_scene(V2xScene(ego=EGO, remotes=[flagged]), [Ebw()], duration_s=3.0)
    first = run.first("EBW")
    assert first is not None
    assert BRAKE_AT_S <= first <= BRAKE_AT_S + 0.2
    (_, event) = run.started[0]
    assert event.severity == pb.SEVERITY_WARNING  # next lane: never critical


def test_gentle_braking_other_direction_behind_and_far_stay_silent() -> None:
    gentle = _braking(0.0, -60.0, station=1, accel=-3.0)
    oncoming = Mover(
        east_m=-3.5,
        north_m=0.0,
        heading_deg=180.0,
        speed_mps=20.0,
        station_id=2,
        segments=(Segment(BRAKE_AT_S), Segment(4.0, accel_mps2=-6.0, brake=True)),
    )
    behind = _braking(0.0, -200.0, station=3)
    far = _braking(0.0, 120.0, station=4)  # 265 m ahead
    two_lanes_over = _braking(7.0, -60.0, station=5)
    scene = V2xScene(ego=EGO, remotes=[gentle, oncoming, behind, far, two_lanes_over])
    run = run_scene(scene, [Ebw()], duration_s=3.0)
    assert run.first("EBW") is None


def test_stale_and_single_frame_senders_are_not_warned_about() -> None:
    stale = _braking(0.0, -60.0, station=7, heard_until_s=0.5)  # silent before it brakes
    single = _braking(0.0, -80.0, station=8, heard_from_s=1.5, heard_until_s=1.5)
    run = run_scene(V2xScene(ego=EGO, remotes=[stale, single]), [Ebw()], duration_s=3.0)
    assert run.first("EBW") is None


def test_settings_are_honoured() -> None:
    moderate = _braking(0.0, -60.0, station=7, accel=-3.0)
    run = run_scene(
        V2xScene(ego=EGO, remotes=[moderate]),
        [Ebw(EbwSettings(hard_braking_mps2=-2.5))],
        duration_s=3.0,
    )
    assert run.first("EBW") is not None
    hidden = _braking(0.0, -60.0, station=7)
    short = run_scene(
        V2xScene(ego=EGO, remotes=[hidden]), [Ebw(EbwSettings(max_range_m=50.0))], duration_s=3.0
    )
    assert short.first("EBW") is None


def test_on_the_map_the_lanes_ahead_decide() -> None:
    # Ego on the south approach's straight lane 32 (x = 5.25); it leads to lane 16 beyond
    # the junction: a car braking there is in the ego's lane. Lane 31 (left turn, x = 1.75)
    # is the ego's road, not its lane.
    intersection = read_intersection_file(EXAMPLE).map
    ego = Mover(east_m=5.25, north_m=-60.0, heading_deg=0.0, speed_mps=20.0)
    beyond = _braking(5.25, 15.0, station=7)  # 70 m: 3.5 s at 20 m/s
    left_turn = _braking(1.75, -20.0, station=8)
    scene = V2xScene(ego=ego, remotes=[beyond, left_turn], intersection=intersection)
    run = run_scene(scene, [Ebw(EbwSettings(critical_time_gap_s=4.0))], duration_s=2.0)
    severities = {e.remote_id: e.severity for _, e in run.started}
    assert severities == {
        f"{7:016x}": pb.SEVERITY_CRITICAL,
        f"{8:016x}": pb.SEVERITY_WARNING,
    }
