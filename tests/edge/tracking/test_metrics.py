"""GOSPA against brute force and known values; ID switches, fragmentations and RMSE on runs
built by hand."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.tracking.metrics import TrackingScore, gospa
from edge.tracking.track_set import FloatArray


def brute_force_gospa(x: FloatArray, y: FloatArray, c: float, p: float, alpha: float) -> float:
    """The definition: the best of every assignment of the smaller set into the larger."""
    if len(x) > len(y):
        x, y = y, x
    best = math.inf
    for chosen in itertools.permutations(range(len(y)), len(x)):
        cost = sum(min(math.dist(x[i], y[j]), c) ** p for i, j in enumerate(chosen))
        best = min(best, cost + c**p / alpha * (len(y) - len(x)))
    return float(best ** (1 / p))


points = st.lists(
    st.tuples(
        st.floats(-20, 20, allow_nan=False, allow_subnormal=False),
        st.floats(-20, 20, allow_nan=False, allow_subnormal=False),
    ),
    max_size=5,
)


@given(
    truth=points,
    estimates=points,
    c=st.floats(0.5, 30.0),
    p=st.sampled_from([1.0, 2.0, 3.0]),
    alpha=st.sampled_from([1.0, 2.0]),
)
def test_gospa_matches_brute_force(
    truth: list[tuple[float, float]],
    estimates: list[tuple[float, float]],
    c: float,
    p: float,
    alpha: float,
) -> None:
    x = np.array(truth, dtype=np.float64).reshape(-1, 2)
    y = np.array(estimates, dtype=np.float64).reshape(-1, 2)
    result = gospa(x, y, c=c, p=p, alpha=alpha)
    assert result.distance == pytest.approx(
        brute_force_gospa(x, y, c, p, alpha), rel=1e-9, abs=1e-9
    )
    assert result.missed >= max(0, len(x) - len(y))
    assert result.false >= max(0, len(y) - len(x))
    assert len(x) - result.missed == len(y) - result.false  # as many assigned either way
    if alpha == 2.0:
        # The decomposition adds up to the distance.
        total = result.localisation + c**p / 2 * (result.missed + result.false)
        assert total == pytest.approx(result.distance**p, rel=1e-9, abs=1e-9)


def test_gospa_known_values() -> None:
    truth = np.array([[0.0, 0.0], [50.0, 0.0], [0.0, 50.0]])
    none = np.empty((0, 2))
    # All missed: c^p / alpha per truth.
    missed = gospa(truth, none, c=10.0, p=2.0)
    assert missed.distance == pytest.approx(math.sqrt(3 * 100 / 2))
    assert (missed.missed, missed.false, missed.localisation) == (3, 0, 0.0)
    # All false, likewise.
    false = gospa(none, truth, c=10.0, p=1.0)
    assert false.distance == pytest.approx(3 * 10 / 2)
    assert (false.missed, false.false) == (0, 3)
    # Perfect.
    assert gospa(truth, truth.copy()).distance == 0.0
    assert gospa(none, none).distance == 0.0
    # Each estimate 3 m off: localisation only.
    shifted = gospa(truth, truth + np.array([3.0, 0.0]), c=10.0, p=2.0)
    assert shifted.distance == pytest.approx(math.sqrt(3 * 9.0))
    assert (shifted.missed, shifted.false) == (0, 0)
    assert shifted.localisation == pytest.approx(27.0)
    # One estimate beyond the cut-off: a miss and a false estimate, c^p together.
    far = gospa(truth[:1], np.array([[12.0, 0.0]]), c=10.0, p=2.0)
    assert far.distance == pytest.approx(10.0)
    assert (far.missed, far.false) == (1, 1)


@pytest.mark.parametrize(
    ("truth", "estimates", "kwargs"),
    [
        ([[math.nan, 0.0]], [[0.0, 0.0]], {}),
        ([[0.0, 0.0]], [[0.0, math.inf]], {}),
        ([[0.0, 0.0, 0.0]], [[0.0, 0.0]], {}),
        ([[0.0, 0.0]], [[0.0, 0.0]], {"c": 0.0}),
        ([[0.0, 0.0]], [[0.0, 0.0]], {"p": 0.5}),
        ([[0.0, 0.0]], [[0.0, 0.0]], {"alpha": 3.0}),
        ([[0.0, 0.0]], [[0.0, 0.0]], {"c": math.nan}),
    ],
)
def test_gospa_refuses_bad_input(
    truth: list[list[float]], estimates: list[list[float]], kwargs: dict[str, float]
) -> None:
    with pytest.raises(ValueError, match=r"GOSPA|shape|non-finite"):
        gospa(np.array(truth), np.array(estimates), **kwargs)


Points = Mapping[int, tuple[float, float]]


def run(score: TrackingScore, steps: Sequence[tuple[Points, Points]]) -> None:
    """Feed ``(truths, tracks)`` per step, each a mapping of id to position."""
    for k, (truths, tracks) in enumerate(steps):
        score.add(
            0.1 * k,
            np.array(list(truths), dtype=np.int64),
            np.array(list(truths.values()), dtype=np.float64).reshape(-1, 2),
            np.array(list(tracks), dtype=np.int64),
            np.array(list(tracks.values()), dtype=np.float64).reshape(-1, 2),
        )


def test_a_track_handed_over_to_another_is_one_id_switch() -> None:
    score = TrackingScore()
    steps = [({1: (k, 0.0)}, {7 if k < 5 else 8: (k + 0.5, 0.0)}) for k in range(10)]
    run(score, steps)
    s = score.summary
    assert (s.id_switches, s.fragmentations, s.cycles, s.matched) == (1, 0, 10, 10)
    assert s.position_rmse_m == pytest.approx(0.5)
    assert s.mean_gospa == pytest.approx(0.5)
    assert (s.mean_missed, s.mean_false) == (0.0, 0.0)


def test_the_summary_splits_gospa_into_localisation_missed_and_false() -> None:
    # Step 1: one pair 3 m apart (9 m^2); step 2: the truth missed and a track 40 m off
    # (false); step 3: a pair 1 m apart and a false track. c = 10, p = 2: 50 m^2 each.
    score = TrackingScore()
    steps: list[tuple[Points, Points]] = [
        ({1: (0.0, 0.0)}, {7: (3.0, 0.0)}),
        ({1: (0.0, 0.0)}, {7: (40.0, 0.0)}),
        ({1: (0.0, 0.0)}, {7: (1.0, 0.0), 8: (30.0, 0.0)}),
    ]
    run(score, steps)
    s = score.summary
    assert s.mean_localisation == pytest.approx((9.0 + 0.0 + 1.0) / 3)
    assert s.mean_missed == pytest.approx(1 / 3)
    assert s.mean_false == pytest.approx(2 / 3)
    per_step = [math.sqrt(9.0), math.sqrt(50.0 + 50.0), math.sqrt(1.0 + 50.0)]
    assert s.mean_gospa == pytest.approx(sum(per_step) / 3)


def test_two_tracks_swapping_their_truths_are_two_id_switches() -> None:
    score = TrackingScore(gate_m=3.0)
    before = [({1: (0.0, k), 2: (10.0, k)}, {7: (0.0, k), 8: (10.0, k)}) for k in range(3)]
    after = [({1: (0.0, k), 2: (10.0, k)}, {8: (0.0, k), 7: (10.0, k)}) for k in range(3, 6)]
    run(score, before + after)
    assert score.summary.id_switches == 2
    assert score.summary.fragmentations == 0


def test_a_gap_in_the_track_is_a_fragmentation_and_a_new_id_after_it_a_switch_too() -> None:
    same = TrackingScore()
    gap: list[tuple[Points, Points]] = [
        ({1: (k, 0.0)}, {7: (k, 0.0)} if not 4 <= k <= 5 else {}) for k in range(10)
    ]
    run(same, gap)
    assert (same.summary.id_switches, same.summary.fragmentations) == (0, 1)
    assert same.summary.mean_missed == pytest.approx(0.2)
    renewed = TrackingScore()
    steps = [({1: (k, 0.0)}, {7: (k, 0.0)}) for k in range(4)]
    steps += [({1: (k, 0.0)}, {}) for k in range(4, 6)]
    steps += [({1: (k, 0.0)}, {9: (k, 0.0)}) for k in range(6, 10)]
    run(renewed, steps)
    assert (renewed.summary.id_switches, renewed.summary.fragmentations) == (1, 1)


def test_a_truth_absent_for_a_while_is_not_a_fragmentation() -> None:
    score = TrackingScore()
    steps = [({1: (k, 0.0)} if not 4 <= k <= 5 else {}, {7: (k, 0.0)}) for k in range(10)]
    run(score, steps)
    assert (score.summary.id_switches, score.summary.fragmentations) == (0, 0)
    assert score.summary.mean_false == pytest.approx(0.2)


def test_a_match_is_kept_while_within_the_gate_even_if_another_track_comes_closer() -> None:
    score = TrackingScore(gate_m=5.0)
    steps = [({1: (0.0, 0.0)}, {7: (1.0, 0.0)})]
    steps += [({1: (0.0, 0.0)}, {7: (3.0, 0.0), 8: (0.2, 0.0)}) for _ in range(3)]
    steps += [({1: (0.0, 0.0)}, {7: (6.0, 0.0), 8: (0.2, 0.0)})]  # 7 leaves the gate
    run(score, steps)
    assert score.summary.id_switches == 1
    assert score.summary.position_rmse_m == pytest.approx(math.sqrt((1 + 3 * 9 + 0.04) / 5))


def test_tracks_beyond_the_gate_match_nothing() -> None:
    score = TrackingScore(gate_m=2.0)
    run(score, [({1: (0.0, 0.0)}, {7: (2.5, 0.0)}) for _ in range(3)])
    s = score.summary
    assert (s.matched, s.id_switches, s.position_rmse_m) == (0, 0, 0.0)


def test_non_finite_rows_are_counted_and_left_out() -> None:
    score = TrackingScore()
    score.add(
        0.0,
        np.array([1, 2]),
        np.array([[0.0, 0.0], [math.nan, 1.0]]),
        np.array([7, 8]),
        np.array([[0.1, 0.0], [math.inf, 0.0]]),
    )
    assert score.rejected == {"non_finite_truth_position": 1, "non_finite_track_position": 1}
    s = score.summary
    assert s.matched == 1
    assert all(math.isfinite(v) for v in (s.mean_gospa, s.position_rmse_m, s.mean_missed))
    with pytest.raises(ValueError, match="shape"):
        score.add(
            0.1, np.array([1, 2]), np.zeros((3, 2)), np.array([], dtype=np.int64), np.zeros((0, 2))
        )


def test_repeated_ids_and_steps_out_of_order_are_counted_and_left_out() -> None:
    score = TrackingScore()
    run(score, [({1: (0.0, 0.0)}, {7: (0.0, 0.0)})])
    score.add(
        0.1,
        np.array([1, 1]),
        np.array([[0.0, 0.0], [50.0, 0.0]]),
        np.array([7, 8, 8]),
        np.array([[0.0, 0.0], [30.0, 0.0], [31.0, 0.0]]),
    )
    for bad_time in (0.1, 0.05, math.nan):
        score.add(bad_time, np.array([1]), np.zeros((1, 2)), np.array([9]), np.zeros((1, 2)))
    assert score.rejected == {
        "repeated_truth_id": 1,
        "repeated_track_id": 1,
        "step_out_of_order": 3,
    }
    s = score.summary
    assert (s.cycles, s.matched, s.id_switches) == (2, 2, 0)
    assert s.mean_false == pytest.approx(0.5)  # track 8 at 30 m once


def test_an_empty_run_scores_zero_and_bad_settings_are_refused() -> None:
    s = TrackingScore().summary
    assert (s.cycles, s.mean_gospa, s.id_switches, s.position_rmse_m) == (0, 0.0, 0, 0.0)
    with pytest.raises(ValueError, match="gate"):
        TrackingScore(gate_m=0.0)
    with pytest.raises(ValueError, match="GOSPA"):
        TrackingScore(c=-1.0)
