"""Covariance intersection: fusing two estimates of one state whose errors are correlated by an
unknown amount, without ever claiming more than the evidence supports.

Julier and Uhlmann, "A non-divergent estimation algorithm in the presence of unknown
correlations" (1997): P^-1 = w Pa^-1 + (1 - w) Pb^-1, x = P (w Pa^-1 a + (1 - w) Pb^-1 b) is
consistent for every w in [0, 1] and every cross-correlation; w is chosen to minimise trace P.
At w = 0 or 1 the answer is one input unchanged, so the fused trace never exceeds the smaller.
"""

from __future__ import annotations

import numpy as np

from edge.tracking.kalman import symmetric
from edge.tracking.track_set import FloatArray

_COARSE = np.linspace(0.0, 1.0, 33)
_OFFSETS = np.linspace(-1.0, 1.0, 33)


def covariance_intersection(
    a: FloatArray, a_cov: FloatArray, b: FloatArray, b_cov: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return the fused means (K, d), covariances (K, d, d) and weights w of ``a`` (K,)
    of K pairs of estimates ``a`` (K, d) with ``a_cov`` (K, d, d) and ``b``, ``b_cov``.

    Both information matrices are diagonalised together (Ib = L L^T, L^-1 Ia L^-T = V diag(l)
    V^T), so trace P(w) = sum_i c_i / (w l_i + 1 - w) costs no inversion per candidate w;
    33 candidates (0 and 1 among them), then 33 around the best, put w within 0.002 of the
    best. Covariances must be positive definite.
    """
    a_info = _inverse(a_cov)
    b_info = _inverse(b_cov)
    chol: FloatArray = np.linalg.cholesky(b_info).astype(np.float64, copy=False)
    chol_inv = _inverse(chol)
    m = chol_inv @ a_info @ chol_inv.transpose(0, 2, 1)
    eigenvalues, vectors = np.linalg.eigh(symmetric(m))
    # Column i of L^-T V has squared norm c_i.
    c = np.sum((chol_inv.transpose(0, 2, 1) @ vectors) ** 2, axis=1)
    # The trace is convex in w: a coarse grid, then a fine one around its best.
    weights = _best(_COARSE[None, :], eigenvalues, c)
    step = _COARSE[1] - _COARSE[0]
    weights = _best(np.clip(weights[:, None] + step * _OFFSETS[None, :], 0.0, 1.0), eigenvalues, c)
    info = weights[:, None, None] * a_info + (1.0 - weights)[:, None, None] * b_info
    cov = symmetric(_inverse(info))
    weighted = weights[:, None] * _apply(a_info, a) + (1.0 - weights)[:, None] * _apply(b_info, b)
    return _apply(cov, weighted), cov, weights


def _best(weights: FloatArray, eigenvalues: FloatArray, c: FloatArray) -> FloatArray:
    """Of ``weights`` (1 or K, G), each pair's minimising trace sum_i c_i / (w l_i + 1 - w)."""
    w = np.broadcast_to(weights, (c.shape[0], weights.shape[1]))
    traces = np.sum(c[:, None, :] / (w[:, :, None] * (eigenvalues[:, None, :] - 1.0) + 1.0), axis=2)
    best: FloatArray = w[np.arange(w.shape[0]), np.argmin(traces, axis=1)]
    return best


def _inverse(m: FloatArray) -> FloatArray:
    out: FloatArray = np.linalg.inv(m).astype(np.float64, copy=False)
    return out


def _apply(m: FloatArray, v: FloatArray) -> FloatArray:
    out: FloatArray = np.einsum("kij,kj->ki", m, v)
    return out
