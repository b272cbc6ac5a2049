"""``tick_accounting``: the benchmarks' read window and limit period fall at every phase of the
user-mode-linux guest's 10 ms tick, and a cgroup charged in whole ticks is told from one whose
usage is measured."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from edge.port_io import next_tick
from edge.roadside.radar_reads import RADAR_READ_WINDOW_S
from firmware_py.benchmarks.tick_accounting import (
    BENCH_READ_WINDOW_S,
    GUEST_TICK_US,
    HALF_TICK_US,
    LIMIT_PERIOD_US,
    ticked,
)


def _phases(period_us: float, count: int) -> set[int]:
    """The tenths of the tick at which ``count`` successive periods start."""
    return {math.floor((k * period_us % GUEST_TICK_US) / GUEST_TICK_US * 10) for k in range(count)}


def test_the_default_window_and_period_sit_at_one_phase_of_the_tick_and_the_benchs_do_not() -> None:
    assert _phases(RADAR_READ_WINDOW_S * 1e6, 100) == {0}
    assert _phases(100_000, 100) == {0}
    # Within about a CFS period of reads, and within 15 periods, every tenth of the tick.
    assert _phases(BENCH_READ_WINDOW_S * 1e6, 15) == set(range(10))
    assert _phases(LIMIT_PERIOD_US, 15) == set(range(10))
    assert abs(BENCH_READ_WINDOW_S - RADAR_READ_WINDOW_S) < 0.1 * RADAR_READ_WINDOW_S
    assert HALF_TICK_US * 2 == GUEST_TICK_US


def test_the_reads_ticks_on_the_benchs_grid_fall_at_every_phase_of_the_tick() -> None:
    # The reader's own grid (next_tick), over 200 ms: reads at every tenth of the guest's tick.
    now, seen = 0.0, set()
    for _ in range(int(0.2 / BENCH_READ_WINDOW_S)):
        now = next_tick(now, BENCH_READ_WINDOW_S)
        seen.add(math.floor((now * 1e6 % GUEST_TICK_US) / GUEST_TICK_US * 10))
    assert seen == set(range(10))


@given(st.integers(min_value=1, max_value=10**9))
def test_usage_in_whole_ticks_is_ticked_and_any_other_is_not(ticks: int) -> None:
    assert ticked(ticks * GUEST_TICK_US)
    assert not ticked(ticks * GUEST_TICK_US + 1 + ticks % (GUEST_TICK_US - 1))


def test_no_usage_is_not_taken_for_ticks() -> None:
    assert not ticked(0)
