"""GLOSA scenarios on the example intersection 101 (signal group 1 north-south): advises a
lower speed to reach the next green and a higher one (within the limit) to make this green;
silent when the current speed already makes it, when no speed between the limits does, for
another approach, and without a fresh SPAT."""

from __future__ import annotations

import math
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from edge.apps.day1.glosa import Glosa, GlosaSettings, advised_speed, green_window
from edge.apps.day1.picture import Phase
from edge.roadside.signal_plan import FixedTimePlan, SignalGroupPlan
from firmware_py.simulation.v2x_scenes import T0_UNIX, Mover, V2xScene, run_scene
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import decode_message_frame
from protocols.v2x.intersection_file import read_intersection_file

EXAMPLE = Path(__file__).parents[4] / "firmware_py" / "examples" / "intersection-101.toml"
MAP = read_intersection_file(EXAMPLE).map
LIMIT = 50 / 3.6  # the example's speed limit
DISTANCE = 138.0  # from the ego's start to the south approach's stop line


def ego(speed_mps: float) -> Mover:
    """Northbound on the south approach's straight lane (32), 138 m before the stop line."""
    return Mover(east_m=5.25, north_m=-150.0, heading_deg=0.0, speed_mps=speed_mps)


def ns_green_from(start_s: float, green_s: float = 27.0) -> FixedTimePlan:
    """North-south (group 1) green from scene time ``start_s`` (negative: already green)."""
    return FixedTimePlan(
        intersection_id=101,
        cycle_s=60.0,
        groups=(
            SignalGroupPlan(1, green_start_s=start_s, green_s=green_s),
            SignalGroupPlan(2, green_start_s=start_s + 30.0, green_s=27.0),
        ),
        epoch_s=T0_UNIX,
    )


def scene(mover: Mover, signals: FixedTimePlan | None) -> V2xScene:
    return V2xScene(ego=mover, intersection=MAP, spat=None if signals is None else signals.spat)


def test_red_now_advises_the_speed_that_meets_the_next_green() -> None:
    # At 50 km/h the ego would arrive at 10 s; green comes at 15 s.
    run = run_scene(scene(ego(LIMIT), ns_green_from(15.0)), [Glosa()], duration_s=8.0)
    first = run.first("GLOSA")
    # As soon as the MAP is believed: the reception filter waits for its second broadcast.
    assert first is not None
    assert first <= 1.2
    assert run.count("GLOSA") == 1
    (_, event) = run.started[0]
    assert event.type == pb.EVENT_TYPE_SPEED_ADVISORY
    assert event.severity == pb.SEVERITY_INFO
    # Arrives at least 1 s into the green (16 s) and 1 s before the 5 s counted on end.
    left = event.distance_m
    assert left / (19.0 - first) - 0.01 <= event.advised_speed_mps <= left / (16.0 - first) + 0.01
    assert event.advised_speed_mps >= 20 / 3.6


def test_green_ending_advises_a_higher_speed_within_the_limit() -> None:
    # At 30 km/h the ego would arrive at 16.6 s; the green ends at 14 s.
    run = run_scene(scene(ego(30 / 3.6), ns_green_from(-13.0)), [Glosa()], duration_s=3.0)
    assert run.first("GLOSA") is not None
    (_, event) = run.started[0]
    assert DISTANCE / 13.0 - 0.1 <= event.advised_speed_mps <= LIMIT
    assert event.advised_speed_mps * 3.6 < 40  # the nearest speed that does, not the limit


def test_current_speed_making_the_green_gets_no_advice() -> None:
    run = run_scene(scene(ego(LIMIT), ns_green_from(-1.0)), [Glosa()], duration_s=9.0)
    assert run.first("GLOSA") is None


def test_no_speed_between_the_limits_gets_no_advice() -> None:
    # Red for 40 s: 138 m in 41 s is 12 km/h, below the minimum. Green ending in 9 s: 138 m
    # in 8 s is 62 km/h, over the limit.
    for signals, speed in ((ns_green_from(40.0), LIMIT), (ns_green_from(-18.0), 30 / 3.6)):
        run = run_scene(scene(ego(speed), signals), [Glosa()], duration_s=3.0)
        assert run.first("GLOSA") is None


def test_another_approach_has_its_own_signal() -> None:
    # Eastbound on the west approach (lane 42, group 2): its green is on while north-south
    # waits for its green at 15 s, and the ego makes it at its speed.
    west = Mover(east_m=-80.0, north_m=-5.25, heading_deg=90.0, speed_mps=LIMIT)
    run = run_scene(scene(west, ns_green_from(15.0)), [Glosa()], duration_s=4.0)
    assert run.first("GLOSA") is None


def test_without_fresh_spat_there_is_no_advice() -> None:
    run = run_scene(scene(ego(LIMIT), None), [Glosa()], duration_s=3.0)
    assert run.first("GLOSA") is None

    def spat_until_2s(tick: int, data: bytes) -> bytes | None:
        kind, _ = decode_message_frame(data)
        return None if kind == "spat" and tick > 20 else data

    run = run_scene(
        scene(ego(LIMIT), ns_green_from(15.0)),
        [Glosa()],
        duration_s=5.0,
        tamper=spat_until_2s,
    )
    # Advice while the SPAT is fresh (to 3 s), then none: one episode, ended.
    assert run.count("GLOSA") == 1
    assert not run.engine.active


def test_settings_are_honoured() -> None:
    strict = Glosa(GlosaSettings(min_speed_mps=10.0))  # 36 km/h: 7.3-8.6 m/s is too slow
    run = run_scene(scene(ego(LIMIT), ns_green_from(15.0)), [strict], duration_s=3.0)
    assert run.first("GLOSA") is None


def test_green_window_per_state() -> None:
    assert green_window(Phase(pb.SIGNAL_STATE_GREEN, 4.0, 9.0, 6.0), 5.0) == (0.0, 4.0)
    assert green_window(Phase(pb.SIGNAL_STATE_RED, 4.0, 9.0, 6.0), 5.0) == (6.0, 11.0)
    assert green_window(Phase(pb.SIGNAL_STATE_RED, None, None, None), 5.0) is None
    assert green_window(Phase(pb.SIGNAL_STATE_AMBER, 2.0, 2.0, 2.0), 5.0) is None


@given(
    distance=st.floats(0.0, 500.0),
    speed=st.floats(0.0, 40.0),
    start=st.floats(0.0, 120.0),
    length=st.floats(0.0, 60.0),
)
def test_advice_always_arrives_in_the_window_within_limits(
    distance: float, speed: float, start: float, length: float
) -> None:
    advice = advised_speed(distance, speed, (start, start + length), 5.6, 13.9, 1.0)
    if advice is None:
        return
    assert 5.6 <= advice <= 13.9
    arrival = distance / advice
    earliest = start + 1.0 if start > 0 else 0.0
    assert earliest - 1e-6 <= arrival <= start + length - 1.0 + 1e-6
    assert not math.isclose(advice, speed) or not earliest <= distance / speed <= start + length
