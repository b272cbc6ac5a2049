"""A fused state never claims more than it knows: covariance intersection covers the truth
whatever the correlation of its inputs (where a naive fusion does not), the associator's fused
tracks and predicted cooperative-only objects cover the truth in simulation, and no report, however
bad, crashes the associator or puts a NaN in its answer."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edge.roadside.cooperative import (
    CooperativeAssociator,
    CooperativeReport,
    CooperativeSettings,
    chi2_4dof_quantile,
)
from edge.roadside.covariance_intersection import covariance_intersection
from tests.edge.roadside.cooperative_world import Vehicle, own_report, radar_tracks

T0 = 1_772_446_542.0


def nees(errors: np.ndarray, covs: np.ndarray) -> np.ndarray:
    """Normalised estimation error squared of each row."""
    out: np.ndarray = np.einsum(
        "ki,ki->k", errors, np.linalg.solve(covs, errors[..., None])[..., 0]
    )
    return out


def correlated_estimates(
    rng: np.random.Generator, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """K pairs of estimates of a zero state whose errors share a large common part (as when a
    track has already absorbed the report it is fused with), each claiming its true marginal
    covariance."""
    common = np.diag([1.0, 0.5, 0.2, 0.3])
    a_own = np.diag([0.3, 1.0, 0.1, 0.05])
    b_own = np.diag([0.8, 0.2, 0.05, 0.2])
    shared = rng.multivariate_normal(np.zeros(4), common, size=k)
    a = shared + rng.multivariate_normal(np.zeros(4), a_own, size=k)
    b = shared + rng.multivariate_normal(np.zeros(4), b_own, size=k)
    a_cov = np.broadcast_to(common + a_own, (k, 4, 4)).copy()
    b_cov = np.broadcast_to(common + b_own, (k, 4, 4)).copy()
    return a, a_cov, b, b_cov


def test_covariance_intersection_covers_the_truth_under_unknown_correlation() -> None:
    rng = np.random.default_rng(11)
    a, a_cov, b, b_cov = correlated_estimates(rng, 4000)
    fused, cov, weights = covariance_intersection(a, a_cov, b, b_cov)
    assert ((weights >= 0.0) & (weights <= 1.0)).all()
    scores = nees(fused, cov)
    assert np.mean(scores <= chi2_4dof_quantile(0.95)) >= 0.94
    assert np.mean(scores) <= 4.2  # a consistent 4-d estimate averages 4
    # Covariance intersection pays for its safety with a covariance no smaller than the best
    # input's (in trace); a naive fusion, treating the errors as independent, is optimistic.
    assert (np.trace(cov, axis1=1, axis2=2) <= np.trace(a_cov[0]) + 1e-9).all()
    naive_cov = np.linalg.inv(np.linalg.inv(a_cov) + np.linalg.inv(b_cov))
    naive = np.einsum(
        "kij,kj->ki",
        naive_cov,
        np.einsum("kij,kj->ki", np.linalg.inv(a_cov), a)
        + np.einsum("kij,kj->ki", np.linalg.inv(b_cov), b),
    )
    assert np.mean(nees(naive, naive_cov) <= chi2_4dof_quantile(0.95)) < 0.9


def test_the_weight_minimises_the_fused_trace() -> None:
    """Against a brute-force search (an inversion per candidate weight) over random pairs."""
    rng = np.random.default_rng(1)
    k = 60
    a_root, b_root = rng.normal(size=(k, 4, 4)), rng.normal(size=(k, 4, 4))
    a_cov = a_root @ a_root.transpose(0, 2, 1) + 0.1 * np.eye(4)
    b_cov = b_root @ b_root.transpose(0, 2, 1) + 0.1 * np.eye(4)
    _, cov, _ = covariance_intersection(
        rng.normal(size=(k, 4)), a_cov, rng.normal(size=(k, 4)), b_cov
    )
    grid = np.linspace(0.0, 1.0, 1001)
    for row in range(k):
        a_info, b_info = np.linalg.inv(a_cov[row]), np.linalg.inv(b_cov[row])
        infos = grid[:, None, None] * a_info + (1.0 - grid)[:, None, None] * b_info
        best = np.trace(np.linalg.inv(infos), axis1=1, axis2=2).min()
        assert np.trace(cov[row]) <= best * (1.0 + 1e-4)


def spd(seed_values: np.ndarray) -> np.ndarray:
    m = seed_values.reshape(4, 4)
    out: np.ndarray = m @ m.T + 0.01 * np.eye(4)
    return out


@given(
    a=arrays(np.float64, 16, elements=st.floats(-5, 5)),
    b=arrays(np.float64, 16, elements=st.floats(-5, 5)),
    x=arrays(np.float64, 8, elements=st.floats(-100, 100)),
)
def test_fused_trace_never_exceeds_the_better_input(a: Any, b: Any, x: Any) -> None:
    a_cov, b_cov = spd(a)[None], spd(b)[None]
    fused, cov, _ = covariance_intersection(x[None, :4], a_cov, x[None, 4:], b_cov)
    assert np.isfinite(fused).all()
    assert np.trace(cov[0]) <= min(np.trace(a_cov[0]), np.trace(b_cov[0])) * (1 + 1e-9) + 1e-12
    assert np.linalg.eigvalsh(cov[0]).min() > 0.0


def test_fused_tracks_and_cooperative_only_objects_cover_the_truth() -> None:
    vehicles = [
        Vehicle("veh-1", 1, (-60.0, -3.5), (12.0, 0.0)),
        Vehicle("veh-2", 2, (40.0, 3.5), (-10.0, 0.0)),
        Vehicle("veh-3", 3, (3.5, -50.0), (0.0, 9.0)),
        Vehicle("veh-4", -1, (20.0, -20.0), (5.0, 5.0)),  # unseen by the radar
    ]
    associator = CooperativeAssociator(CooperativeSettings(reference_point_std_m=0.0))
    rng = np.random.default_rng(21)
    fused_scores, alone_scores = [], []
    for k in range(300):
        t = k * 0.1
        for v in vehicles:
            report = own_report(v, t - rng.uniform(0.05, 0.5), rng, position_std_m=0.7)
            associator.offer(
                CooperativeReport(
                    v.vehicle_id,
                    T0 + report.time_s,
                    report.position,
                    report.velocity,
                    report.position_covariance,
                    report.velocity_covariance,
                    4.5,
                    1.8,
                )
            )
        ids, means, covs = radar_tracks(vehicles, t, rng)
        match = associator.associate(T0 + t, ids, means, covs)
        truth = {v.track_id: v.at(t) for v in vehicles}
        for row, track_id in enumerate(ids):
            assert match.vehicle_ids[row] == f"veh-{track_id}"
            error = match.means[row] - truth[int(track_id)]
            fused_scores.append(float(error @ np.linalg.solve(match.covariances[row], error)))
        [alone] = match.unmatched
        cov = np.zeros((4, 4))
        cov[:2, :2], cov[2:, 2:] = alone.position_covariance, alone.velocity_covariance
        error = np.concatenate((alone.position, alone.velocity)) - vehicles[3].at(t)
        alone_scores.append(float(error @ np.linalg.solve(cov, error)))
    # 900 fused rows, 300 predicted reports: the bounds allow three standard errors of a
    # consistent estimate's coverage (+-0.7 % at 95 %, +-0.3 % at 99 % for 900 samples).
    for scores in (np.array(fused_scores), np.array(alone_scores)):
        assert np.mean(scores <= chi2_4dof_quantile(0.95)) >= 0.93
        assert np.mean(scores <= chi2_4dof_quantile(0.99)) >= 0.98
        assert np.mean(scores) <= 4.3


floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
small = st.floats(min_value=-1e3, max_value=1e3)
any_float = st.one_of(floats, small)


@st.composite
def reports(draw: st.DrawFn) -> Any:
    def array(shape: tuple[int, ...]) -> Any:
        return draw(
            st.one_of(
                arrays(np.float64, shape, elements=any_float),
                arrays(np.float64, (3,), elements=small),  # the wrong shape
                st.just([[1.0, 0.0], [0.0, 1.0]]) if shape == (2, 2) else st.just([1.0, 2.0]),
                st.none(),
            )
        )

    return CooperativeReport(
        # Not only strings: a caller's bug must be counted, not raised.
        vehicle_id=draw(st.one_of(st.text(max_size=200), st.integers(), st.none())),  # type: ignore[arg-type]
        time_s=draw(st.one_of(st.just(T0), st.floats(T0 - 2, T0 + 2), floats)),
        position=array((2,)),
        velocity=array((2,)),
        position_covariance=array((2, 2)),
        velocity_covariance=array((2, 2)),
        length_m=draw(any_float),
        width_m=draw(any_float),
    )


@given(offered=st.lists(reports(), max_size=8))
def test_no_report_crashes_the_associator_or_puts_nan_in_its_answer(offered: list[Any]) -> None:
    associator = CooperativeAssociator(CooperativeSettings())
    for report in offered:
        associator.offer(report)
    # Each offer is kept, replaces one kept, or is counted.
    assert associator.vehicles + sum(associator.rejected.values()) <= len(offered)
    assert associator.vehicles <= len(offered)
    rng = np.random.default_rng(0)
    vehicles = [
        Vehicle("veh-1", 1, (1.0, 2.0), (3.0, 0.0)),
        Vehicle("veh-2", 2, (0.0, 0.0), (0.0, 0.0)),
    ]
    ids, means, covs = radar_tracks(vehicles, 0.0, rng)
    means[1, 0] = math.nan  # a broken track row passes through, unmatched
    match = associator.associate(T0, ids, means, covs)
    assert np.isfinite(match.means[0]).all()
    assert np.isfinite(match.covariances).all()
    assert match.vehicle_ids[1] == ""
    for r in match.unmatched:
        for a in (r.position, r.velocity, r.position_covariance, r.velocity_covariance):
            assert np.isfinite(a).all()
    # Counted in a cycle with reports to match; with none, every track passes through as is.
    assert associator.rejected.get("track_unusable") == (1 if associator.vehicles else None)
