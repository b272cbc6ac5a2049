"""The fused list's accuracies come from closed forms (the largest 2x2 eigenvalue, a quadratic
form): they must give exactly the values ``np.linalg.eigvalsh`` and ``np.einsum`` gave before,
so the published bytes are unchanged."""

from __future__ import annotations

import numpy as np

from edge.roadside.track_list import largest_eigenvalue, quadratic_form


def eigvalsh_largest(m: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.linalg.eigvalsh(m)[:, -1]


def covariances(rng: np.random.Generator, n: int, scale_exp: float) -> np.ndarray:
    """Random symmetric positive semi-definite 2x2 matrices about 10**scale_exp, a share of
    them in the cases LAPACK treats apart: a negligible, a zero, a singular off-diagonal,
    equal or nearly equal diagonals."""
    a = rng.normal(size=(n, 2, 2)) * 10.0 ** rng.uniform(scale_exp - 1, scale_exp + 1, (n, 1, 1))
    p = a @ a.transpose(0, 2, 1)
    p = 0.5 * (p + p.transpose(0, 2, 1))
    q = n // 10
    p[:q, 0, 1] *= 10.0 ** rng.uniform(-20, -5, q)
    p[q : 2 * q, 0, 1] = 0.0
    with np.errstate(over="ignore"):  # at 1e100 the product overflows: an infinite entry
        p[2 * q : 3 * q, 0, 1] = np.sqrt(p[2 * q : 3 * q, 0, 0] * p[2 * q : 3 * q, 1, 1])
    p[3 * q : 4 * q, 1, 1] = p[3 * q : 4 * q, 0, 0]
    p[4 * q : 5 * q, 1, 1] = p[4 * q : 5 * q, 0, 0] * (1 + 1e-12 * rng.normal(size=q))
    p[:, 1, 0] = p[:, 0, 1]
    return p


def test_the_largest_eigenvalue_is_eigvalsh_s_to_the_bit() -> None:
    rng = np.random.default_rng(12)
    for scale_exp in (-100, -30, -6, -2, 0, 1, 2, 4, 8, 30, 100):
        m = covariances(rng, 20_000, scale_exp)
        same = np.array_equal(largest_eigenvalue(m), eigvalsh_largest(m), equal_nan=True)
        assert same, scale_exp


def test_indefinite_and_odd_matrices_are_eigvalsh_s_too() -> None:
    rng = np.random.default_rng(13)
    m = rng.normal(size=(20_000, 2, 2)) * 10.0 ** rng.uniform(-5, 5, (20_000, 1, 1))
    m = 0.5 * (m + m.transpose(0, 2, 1))
    assert np.array_equal(largest_eigenvalue(m), eigvalsh_largest(m))
    odd = np.array(
        [
            [[0.0, 0.0], [0.0, 0.0]],
            [[np.inf, 0.0], [0.0, 1.0]],
            [[1.0, 0.0], [0.0, np.nan]],
            [[1e-300, 0.0], [0.0, 1e-300]],
            [[1e300, 1e299], [1e299, 1e300]],
            [[2.0, 1.0], [1.0, 2.0]],
            [[4.0, -2.0], [-2.0, 1.0]],
            [[-1.0, 0.5], [0.5, -3.0]],
        ]
    )
    assert np.array_equal(largest_eigenvalue(odd), eigvalsh_largest(odd), equal_nan=True)
    assert largest_eigenvalue(np.empty((0, 2, 2))).shape == (0,)


def test_the_quadratic_form_is_einsum_s_to_the_bit() -> None:
    rng = np.random.default_rng(14)
    for n in (0, 1, 7, 256, 5_000, 50_000):
        p = rng.normal(size=(n, 4, 4)) * 10.0 ** rng.uniform(-3, 3, (n, 1, 1))
        p = p @ p.transpose(0, 2, 1)
        c = p[:, 2:, 2:]  # a view, as the fused list's velocity covariance is
        angle = rng.uniform(0, 2 * np.pi, n)
        x, y = np.cos(angle), np.sin(angle)
        for a, b in ((x, y), (y, -x)):
            u = np.stack((a, b), axis=-1)
            expected = np.einsum("ni,nij,nj->n", u, c, u)
            assert np.array_equal(quadratic_form(a, b, c), expected), n
