"""Two-point M-of-N track initiation.

An unassigned detection is first a candidate, remembered for ``max_candidate_age_s``; one that
has an earlier candidate within reach (``max_speed_m_s`` over their time apart) becomes a
tentative track, paired by likelihood (the pairing of least total d^2 + ln det S). Its velocity
is their difference fused with a zero-mean prior of ``velocity_prior_std_m_s`` (the state a
Kalman filter has after both, as Stone Soup's ``MultiMeasurementInitiator`` builds it): at
20 Hz the difference alone claims tens of m/s from a metre of noise, and in a crowd such a
track wanders onto its neighbours. That state's position and velocity are correlated (the
velocity is mostly the pair's difference), which the motion models' separate blocks cannot
hold: the correlation is folded into the blocks as a bound, never overconfident (dropped, it
shrank the next gate by about a third in variance, and in ``bench fusion``'s crowd objects
missed their confirming detection). The heading still comes from the pair (a track born at
rest would leave CTRV's heading unobservable: at zero speed a position says nothing about
heading).
Candidates of every cycle are kept, not only the latest one's: with several sensors taking
turns, an object only one of them sees must still find its partner. A tentative track is
confirmed with ``m`` hits in its latest ``n`` cycles (its two starting detections count) and
dropped once it can no longer get there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.assignment import linear_sum_assignment
from edge.tracking.detections import Detections
from edge.tracking.kalman import inverse_2x2, symmetric
from edge.tracking.roles import MotionModel
from edge.tracking.track_set import FloatArray, IntArray, TrackSet


@dataclass(frozen=True, slots=True)
class MOfNSettings:
    """``m`` hits of the latest ``n`` cycles confirm; ``max_speed_m_s`` bounds the speed of a
    candidate pair; candidates older than ``max_candidate_age_s`` are forgotten;
    ``velocity_prior_std_m_s``: the spread of speeds per axis expected before any detection
    (a zero-mean prior the pair's velocity is fused with; infinite: the pair's difference
    alone)."""

    m: int = 3
    n: int = 4
    max_speed_m_s: float = 60.0
    max_candidate_age_s: float = 0.2
    max_candidates: int = 4096
    velocity_prior_std_m_s: float = math.inf

    def __post_init__(self) -> None:
        if not 2 <= self.m <= self.n <= 62:
            raise ValueError(f"need 2 <= m <= n <= 62, not m={self.m}, n={self.n}")
        if not (self.max_speed_m_s > 0 and self.max_candidate_age_s > 0 and self.max_candidates):
            raise ValueError(f"inconsistent initiation settings: {self}")
        if not self.velocity_prior_std_m_s > 0:
            raise ValueError(f"velocity_prior_std_m_s must be positive: {self}")


class MOfNInitiator:
    """Starts, confirms and drops tentative tracks (see the module docstring); keeps the last
    cycle's unpaired detections as candidates."""

    def __init__(self, model: MotionModel, settings: MOfNSettings | None = None) -> None:
        self._model = model
        self._settings = settings or MOfNSettings()
        self._candidates = Detections.empty()
        self._candidate_times_s = np.empty(0)

    def initiate(
        self, tracks: TrackSet, detections: Detections, unassigned: IntArray, time_s: float
    ) -> TrackSet:
        """Return ``tracks`` confirmed or dropped by their hits, then new tentative tracks."""
        s = self._settings
        hits = _popcount(tracks.hit_history, s.n)
        tentative = ~tracks.confirmed
        chances_left = np.maximum(s.n - 1 - tracks.ages, 0)
        hopeless = tentative & (hits + chances_left < s.m)
        confirmed = tracks.confirmed | (tentative & (hits >= s.m))
        kept = tracks.replace(confirmed=confirmed).select(~hopeless)
        fresh = Detections(detections.positions[unassigned], detections.covariances[unassigned])
        born, unpaired = self._pair(fresh, time_s)
        self._remember(unpaired, time_s)
        return kept if born is None else kept.concat(born)

    def _pair(self, fresh: Detections, time_s: float) -> tuple[TrackSet | None, Detections]:
        old, old_times = self._candidates, self._candidate_times_s
        if len(fresh) == 0 or len(old) == 0:
            return None, fresh
        dt = time_s - old_times  # (C,)
        gap = fresh.positions[:, None, :] - old.positions[None, :, :]
        distance = np.hypot(gap[..., 0], gap[..., 1])
        s = self._settings
        recent = (dt > 0) & (dt <= s.max_candidate_age_s)
        reachable = (distance <= s.max_speed_m_s * dt) & recent
        if not reachable.any():  # a third of the cycles: no pairing's cost to work out
            return None, fresh
        cost = self._pair_cost(fresh, old, gap, dt)
        reachable &= np.isfinite(cost)
        if not reachable.any():
            return None, fresh
        # One partner each, the pairing of least total cost.
        r, c = linear_sum_assignment(np.where(reachable, cost, 1e12))
        ok = reachable[r, c]
        r, c = r[ok], c[ok]
        positions, position_covs, velocities, velocity_covs = _two_point_state(
            old.select_rows(c),
            fresh.select_rows(r),
            dt[c],
            self._settings.velocity_prior_std_m_s,
            # The next hit must come within n - m + 1 intervals or the track is dropped.
            horizons=s.n - s.m + 1,
        )
        means, covs = self._model.initial_state(positions, position_covs, velocities, velocity_covs)
        born = TrackSet.born(means, covs, time_s)
        m = len(born)
        born = born.replace(
            ages=np.ones(m, np.int64),
            hit_history=np.full(m, 0b11, np.int64),
            confirmed=np.full(m, self._settings.m <= 2, np.bool_),
        )
        unpaired = np.ones(len(fresh), np.bool_)
        unpaired[r] = False
        used = np.zeros(len(old), np.bool_)
        used[c] = True
        self._candidates = old.select(~used)
        self._candidate_times_s = old_times[~used]
        return born, fresh.select(unpaired)

    def _pair_cost(
        self, fresh: Detections, old: Detections, gap: FloatArray, dt_s: FloatArray
    ) -> FloatArray:
        """Return the cost (F, C) of pairing each fresh detection with each candidate: with a
        velocity prior, the pair's negative log-likelihood d^2 + ln det S, S = R1 + R2 + dt^2 V
        (a fresher partner is likelier than an older one as near); without, the distance."""
        std = self._settings.velocity_prior_std_m_s
        if math.isinf(std):
            cost: FloatArray = np.hypot(gap[..., 0], gap[..., 1])
            return cost
        s = fresh.covariances[:, None] + old.covariances[None, :]
        spread = (dt_s * std) ** 2
        a = s[..., 0, 0] + spread[None, :]
        b = s[..., 0, 1]
        d = s[..., 1, 1] + spread[None, :]
        det = a * d - b * b
        ex, ey = gap[..., 0], gap[..., 1]
        cost = (d * ex * ex - 2.0 * b * ex * ey + a * ey * ey) / det + np.log(det)
        return cost

    def _remember(self, unpaired: Detections, time_s: float) -> None:
        s = self._settings
        keep = (time_s - self._candidate_times_s) <= s.max_candidate_age_s
        positions = np.concatenate((self._candidates.positions[keep], unpaired.positions))
        covariances = np.concatenate((self._candidates.covariances[keep], unpaired.covariances))
        times = np.concatenate((self._candidate_times_s[keep], np.full(len(unpaired), time_s)))
        # A clutter storm must not grow the pairing's cost without bound: keep the newest.
        self._candidates = Detections(
            positions[-s.max_candidates :], covariances[-s.max_candidates :]
        )
        self._candidate_times_s = times[-s.max_candidates :]


def _two_point_state(
    first: Detections,
    second: Detections,
    dt_s: FloatArray,
    velocity_std_m_s: float,
    horizons: float = 1.0,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Return the position, its covariance, the velocity and its covariance (each (M, 2) or
    (M, 2, 2)) at the ``second`` detections, from the ``first`` ones ``dt_s`` (M,) earlier and
    a zero-mean velocity prior of ``velocity_std_m_s`` per axis.

    A Kalman filter's first two steps: born at the first detection with the prior, moved
    ``dt_s`` at constant velocity (no process noise over so short a time), updated with the
    second. The motion models take position and velocity apart, so their cross-covariance C
    is folded into the two blocks: P_pos + k |C| I and P_vel + |C| / k I (|C| its largest
    singular value) bound the joint covariance for any k > 0, and k = ``horizons`` x ``dt_s``
    gives the least such bound on the position predicted that far ahead (the joint's own when
    C is a multiple of I). With an infinite prior the state is the plain difference: velocity
    (z2 - z1) / dt of covariance (R1 + R2) / dt^2, position z2 of covariance R2, C = R2 / dt.
    """
    z1, r1, z2, r2 = first.positions, first.covariances, second.positions, second.covariances
    t = dt_s[:, None, None]
    if math.isinf(velocity_std_m_s):
        positions, velocities = z2, (z2 - z1) / dt_s[:, None]
        position_covs, velocity_covs, cross = r2, (r1 + r2) / t**2, r2 / t
    else:
        prior = velocity_std_m_s**2
        # Predicted at the second detection's time: position z1 with covariance P = R1 + dt^2 V,
        # velocity 0 with V, correlated dt V (V = prior I). The update with z2, S = P + R2, in
        # forms that cannot lose positive definiteness to rounding (R1 may be a million times
        # R2): position (I - K) P (I - K)^T + K R2 K^T with I - K = R2 S^-1, velocity
        # V - dt^2 V S^-1 V = V S^-1 (R1 + R2) (S^-1 commutes with R1 + R2, as S is R1 + R2
        # plus a multiple of I), cross-covariance (I - K) dt V.
        p = r1 + t**2 * prior * np.eye(2)
        s_inv, _ = inverse_2x2(p + r2)
        gain = p @ s_inv
        rest = r2 @ s_inv  # I - K
        innovation = (z2 - z1)[:, :, None]
        positions = z1 + (gain @ innovation)[:, :, 0]
        velocities = t[:, :, 0] * prior * (s_inv @ innovation)[:, :, 0]
        position_covs = rest @ p @ rest.transpose(0, 2, 1) + gain @ r2 @ gain.transpose(0, 2, 1)
        velocity_covs = prior * s_inv @ (r1 + r2)
        cross = t * prior * rest
    # [[k |C| I, -C], [-C^T, |C| / k I]] is positive semidefinite: the blocks below bound the
    # joint covariance.
    norm = _largest_singular_value(cross)
    k = horizons * dt_s
    position_covs, velocity_covs = symmetric(position_covs), symmetric(velocity_covs)
    widen_position, widen_velocity = k * norm, norm / k
    for i in (0, 1):
        position_covs[:, i, i] += widen_position
        velocity_covs[:, i, i] += widen_velocity
    return positions, position_covs, velocities, velocity_covs


def _largest_singular_value(m: FloatArray) -> FloatArray:
    """Return the largest singular value (K,) of each 2x2 matrix of ``m`` (K, 2, 2), in closed
    form: the root of the larger eigenvalue of m^T m."""
    squares = np.einsum("kij,kij->k", m, m)
    det = m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
    gap = np.sqrt(np.maximum(squares * squares - 4.0 * det * det, 0.0))
    root: FloatArray = np.sqrt(0.5 * (squares + gap))
    return root


_BITS_OF_BYTE = np.array([bin(b).count("1") for b in range(256)], np.int64)
"""The number of set bits in each byte value."""


def _popcount(bits: IntArray, width: int) -> IntArray:
    """Return the number of set bits among the low ``width`` bits of each of ``bits``.

    A table lookup per byte, not a loop over bit positions (``np.bitwise_count`` needs
    numpy 2): one byte covers the usual n <= 8.
    """
    low = bits & ((1 << width) - 1)
    count = _BITS_OF_BYTE.take(low & 0xFF)
    for shift in range(8, width, 8):
        count += _BITS_OF_BYTE.take((low >> shift) & 0xFF)
    return count
