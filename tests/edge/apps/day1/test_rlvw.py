"""RLVW scenarios on the example intersection 101 (signal group 1 north-south, 2 east-west):
warns in time when the ego would reach its stop line on red (or after its green ends);
silent on a long green, when stopping normally, for another approach's red, without a fresh
SPAT and past the line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from edge.apps.day1.lanes import Lane, LaneIndex
from edge.apps.day1.picture import Phase
from edge.apps.day1.rlvw import Rlvw, RlvwSettings, movement_signal_group, red_at
from edge.roadside.signal_plan import FixedTimePlan, SignalGroupPlan
from firmware_py.simulation.v2x_scenes import T0_UNIX, Mover, Segment, V2xScene, run_scene
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import IntersectionMap, decode_message_frame
from protocols.v2x.intersection_file import read_intersection_file
from protocols.v2x.map import LaneConnection

EXAMPLE = Path(__file__).parents[4] / "firmware_py" / "examples" / "intersection-101.toml"
MAP = read_intersection_file(EXAMPLE).map
SPEED = 50 / 3.6
STOP_NORTH = -12.0  # the south approach's stop line
# Northbound on the south approach's straight lane (32): the stop line is 138 m ahead.
EGO = Mover(east_m=5.25, north_m=-150.0, heading_deg=0.0, speed_mps=SPEED)
ARRIVAL_S = (STOP_NORTH - EGO.north_m) / SPEED


def plan(ns_green_start_s: float, ew_green_start_s: float) -> FixedTimePlan:
    """The 60 s plan of roadside.toml (27 s green, 3 s amber) with its greens moved."""
    return FixedTimePlan(
        intersection_id=101,
        cycle_s=60.0,
        groups=(
            SignalGroupPlan(1, green_start_s=ns_green_start_s, green_s=27.0),
            SignalGroupPlan(2, green_start_s=ew_green_start_s, green_s=27.0),
        ),
        epoch_s=T0_UNIX,
    )


NS_RED = plan(30.0, 0.0)  # north-south red for the first 30 s, east-west green
NS_GREEN = plan(0.0, 30.0)  # north-south green for the first 27 s


def scene(ego: Mover = EGO, signals: FixedTimePlan | None = NS_RED) -> V2xScene:
    return V2xScene(ego=ego, intersection=MAP, spat=None if signals is None else signals.spat)


def lanes_of(node: IntersectionMap) -> LaneIndex:
    """The MAP's lanes in a frame at its reference point."""
    return LaneIndex(
        [
            Lane(
                node_id=node.node_id,
                lane_id=lane.lane_id,
                approach=link.upstream_node_id,
                points=np.array(lane.points, dtype=np.float64),
                width_m=lane.width_m or 3.5,
                maneuvers=lane.maneuvers,
                connections=lane.connections,
                speed_limit_mps=lane.speed_limit_mps or link.speed_limit_mps,
            )
            for link in node.links
            for lane in link.lanes
        ]
    )


def test_red_ahead_warns_when_a_comfortable_stop_is_still_just_possible() -> None:
    app = Rlvw()
    run = run_scene(scene(), [app], duration_s=9.0)
    first = run.first("RLVW")
    assert first is not None
    # Not later than the last moment a driver reacting in 1.5 s stops at 3 m/s^2; not more
    # than a second before the lead time (a stop there would need under 2.3 m/s^2).
    just_possible = ARRIVAL_S - (1.5 + SPEED / 6.0)
    assert just_possible - 1.0 <= first <= just_possible
    assert run.count("RLVW") == 1
    (_, event) = run.started[0]
    assert event.type == pb.EVENT_TYPE_RED_LIGHT_VIOLATION
    assert event.severity == pb.SEVERITY_WARNING
    assert 3.8 <= event.time_to_collision_s <= app.lead_time_s(SPEED)


def test_too_close_to_stop_comfortably_is_critical() -> None:
    # Heard from 1 s on (the MAP is believed on its second broadcast), 28 m from the line:
    # stopping there needs 3.5 m/s^2.
    ego = Mover(east_m=5.25, north_m=-55.0, heading_deg=0.0, speed_mps=SPEED)
    run = run_scene(scene(ego), [Rlvw()], duration_s=2.0)
    assert run.count("RLVW") == 1
    (_, event) = run.started[0]
    assert event.severity == pb.SEVERITY_CRITICAL


def test_red_on_the_east_west_approach_warns_too() -> None:
    # Westbound on the east approach's straight lane (22), east-west red.
    ego = Mover(east_m=100.0, north_m=5.25, heading_deg=270.0, speed_mps=SPEED)
    run = run_scene(scene(ego, NS_GREEN), [Rlvw()], duration_s=7.0)
    assert run.first("RLVW") is not None


def test_green_ending_before_arrival_warns() -> None:
    # North-south green ends 3 s in; with its amber, red from 6 s, before the ego arrives.
    ending = plan(-24.0, 6.0)
    run = run_scene(scene(signals=ending), [Rlvw()], duration_s=9.0)
    first = run.first("RLVW")
    assert first is not None
    assert first <= ARRIVAL_S - (1.5 + SPEED / 6.0)


def test_long_green_and_the_other_approach_red_stay_silent() -> None:
    # North-south green until 27 s: the ego crosses at 10 s; east-west is red meanwhile.
    run = run_scene(scene(signals=NS_GREEN), [Rlvw()], duration_s=11.0)
    assert run.first("RLVW") is None


def test_driver_stopping_normally_is_not_warned() -> None:
    # Braking at 1.8 m/s^2 from 60 m before the line: stops about 6 m short of it.
    braking_from_s = (138.0 - 60.0) / SPEED
    ego = Mover(
        east_m=5.25,
        north_m=-150.0,
        heading_deg=0.0,
        speed_mps=SPEED,
        segments=(Segment(braking_from_s), Segment(20.0, accel_mps2=-1.8, brake=True)),
    )
    run = run_scene(scene(ego), [Rlvw()], duration_s=14.0)
    assert run.first("RLVW") is None


def test_without_spat_nothing_is_warned() -> None:
    run = run_scene(scene(signals=None), [Rlvw()], duration_s=9.0)
    assert run.first("RLVW") is None


def test_stale_spat_is_not_trusted() -> None:
    def drop_spat_after_2s(tick: int, data: bytes) -> bytes | None:
        kind, _ = decode_message_frame(data)
        return None if kind == "spat" and tick > 20 else data

    run = run_scene(scene(), [Rlvw()], duration_s=9.0, tamper=drop_spat_after_2s)
    assert run.first("RLVW") is None


def test_past_the_stop_line_nothing_is_warned() -> None:
    ego = Mover(east_m=5.25, north_m=-10.0, heading_deg=0.0, speed_mps=SPEED)
    run = run_scene(scene(ego), [Rlvw()], duration_s=2.0)
    assert run.first("RLVW") is None


def test_settings_are_honoured() -> None:
    late = Rlvw(RlvwSettings(reaction_s=0.5))
    run = run_scene(scene(), [late], duration_s=9.0)
    first = run.first("RLVW")
    assert first is not None
    assert first >= ARRIVAL_S - late.lead_time_s(SPEED) - 0.11


def test_movement_follows_the_turn_signal() -> None:
    index = lanes_of(MAP)
    south_straight = index.lane(101, 32)
    assert south_straight is not None
    # Lane 32 as a shared lane: straight (group 1), left (group 3), right (group 4).
    shared = Lane(
        node_id=101,
        lane_id=32,
        approach=100,
        points=south_straight.points,
        width_m=3.5,
        maneuvers=frozenset({"straight", "left", "right"}),
        connections=(
            LaneConnection(101, 16, 1),
            LaneConnection(101, 45, 3),
            LaneConnection(101, 26, 4),
        ),
        speed_limit_mps=None,
    )
    assert movement_signal_group(shared, pb.TURN_SIGNAL_OFF, index) == 1
    assert movement_signal_group(shared, pb.TURN_SIGNAL_LEFT, index) == 3
    assert movement_signal_group(shared, pb.TURN_SIGNAL_RIGHT, index) == 4
    assert movement_signal_group(shared, pb.TURN_SIGNAL_HAZARD, index) == 1
    # A lane of the example (one group) is that group, whatever the signal.
    assert movement_signal_group(south_straight, pb.TURN_SIGNAL_LEFT, index) == 1


def test_red_at_each_state() -> None:
    red = Phase(pb.SIGNAL_STATE_RED, 5.0, 5.0, 5.0)
    assert red_at(red, 4.0, 3.0)
    assert not red_at(red, 6.0, 3.0)
    assert red_at(Phase(pb.SIGNAL_STATE_RED, None, None, None), 100.0, 3.0)
    amber = Phase(pb.SIGNAL_STATE_AMBER, 2.0, 2.0, 2.0)
    assert red_at(amber, 2.5, 3.0)
    assert not red_at(amber, 1.5, 3.0)
    green = Phase(pb.SIGNAL_STATE_GREEN, 4.0, 4.0, 4.0)
    assert red_at(green, 7.5, 3.0)
    assert not red_at(green, 6.5, 3.0)
    assert not red_at(Phase(pb.SIGNAL_STATE_DARK, None, None, None), 1.0, 3.0)


@given(
    state=st.sampled_from(list(pb.SignalState.values())),
    ends=st.lists(st.none() | st.floats(0.0, 3600.0), min_size=3, max_size=3),
    arrival=st.floats(0.0, 100.0),
    later=st.floats(0.0, 100.0),
)
def test_red_at_is_one_interval_of_arrival_times(
    state: pb.SignalState.ValueType, ends: list[float | None], arrival: float, later: float
) -> None:
    # Whatever a SPAT says: a red stays red until it ends; after a green or amber, red
    # once it starts. So red at some arrival time stays red earlier (red) or later (others).
    phase = Phase(state, ends[0], ends[1], ends[2])
    if state in (pb.SIGNAL_STATE_RED, pb.SIGNAL_STATE_RED_AMBER):
        assert not red_at(phase, arrival, 3.0) or red_at(phase, max(arrival - later, 0.0), 3.0)
    else:
        assert not red_at(phase, arrival, 3.0) or red_at(phase, arrival + later, 3.0)
