from __future__ import annotations

import pytest

from edge.roadside.signal_plan import FixedTimePlan, SignalGroupPlan
from protocols.schema.v1 import roadgate_pb2 as pb

PLAN = FixedTimePlan(
    intersection_id=101,
    cycle_s=60,
    groups=(SignalGroupPlan(1, 0, 27, 3), SignalGroupPlan(2, 30, 27, 3)),
    epoch_s=1000.0,
)


@pytest.mark.parametrize(
    ("t", "states", "remaining"),
    [
        (0.0, (pb.SIGNAL_STATE_GREEN, pb.SIGNAL_STATE_RED), (27.0, 30.0)),
        (28.0, (pb.SIGNAL_STATE_AMBER, pb.SIGNAL_STATE_RED), (2.0, 2.0)),
        (31.0, (pb.SIGNAL_STATE_RED, pb.SIGNAL_STATE_GREEN), (29.0, 26.0)),
        (59.0, (pb.SIGNAL_STATE_RED, pb.SIGNAL_STATE_AMBER), (1.0, 1.0)),
        (125.0, (pb.SIGNAL_STATE_GREEN, pb.SIGNAL_STATE_RED), (22.0, 25.0)),
    ],
)
def test_fixed_time_plan(t: float, states: tuple[int, int], remaining: tuple[float, float]) -> None:
    spat = PLAN.spat(1000.0 + t)
    assert spat.intersection_id == 101
    assert tuple(p.state for p in spat.phases) == states
    assert tuple(round(p.likely_end_s, 6) for p in spat.phases) == remaining
    assert spat.cycle_counter == int(t // 60)


def test_a_group_longer_than_the_cycle_is_refused() -> None:
    with pytest.raises(ValueError, match="shorter than the 30"):
        FixedTimePlan(1, 30, (SignalGroupPlan(1, 0, 28, 3),))
