"""Two-point M-of-N track initiation.

An unassigned detection is first a candidate; one that has a candidate of the previous cycle
within reach (``max_speed_m_s``) becomes a tentative track whose velocity is their difference,
so no track starts at rest with a made-up velocity prior (which for CTRV would also leave the
heading unobservable: at zero speed a position says nothing about heading). A tentative track
is confirmed with ``m`` hits in its latest ``n`` cycles (its two starting detections count) and
dropped once it can no longer get there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from edge.tracking.detections import Detections
from edge.tracking.roles import MotionModel
from edge.tracking.track_set import IntArray, TrackSet


@dataclass(frozen=True, slots=True)
class MOfNSettings:
    """``m`` hits of the latest ``n`` cycles confirm; ``max_speed_m_s`` bounds the speed of a
    candidate pair; candidates older than ``max_candidate_age_s`` are forgotten."""

    m: int = 3
    n: int = 4
    max_speed_m_s: float = 60.0
    max_candidate_age_s: float = 1.0

    def __post_init__(self) -> None:
        if not 2 <= self.m <= self.n <= 62:
            raise ValueError(f"need 2 <= m <= n <= 62, not m={self.m}, n={self.n}")
        if not (self.max_speed_m_s > 0 and self.max_candidate_age_s > 0):
            raise ValueError(f"inconsistent initiation settings: {self}")


class MOfNInitiator:
    """Starts, confirms and drops tentative tracks (see the module docstring); keeps the last
    cycle's unpaired detections as candidates."""

    def __init__(self, model: MotionModel, settings: MOfNSettings | None = None) -> None:
        self._model = model
        self._settings = settings or MOfNSettings()
        self._candidates = Detections.empty()
        self._candidate_time_s = -np.inf

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
        old = self._candidates
        dt = time_s - self._candidate_time_s
        if len(fresh) == 0 or len(old) == 0 or not 0.0 < dt <= self._settings.max_candidate_age_s:
            return None, fresh
        gap = fresh.positions[:, None, :] - old.positions[None, :, :]
        distance = np.hypot(gap[..., 0], gap[..., 1])
        reachable = distance <= self._settings.max_speed_m_s * dt
        if not reachable.any():
            return None, fresh
        # One partner each, the pairing of least total distance.
        r, c = linear_sum_assignment(np.where(reachable, distance, 1e12))
        ok = reachable[r, c]
        r, c = r[ok], c[ok]
        velocities = (fresh.positions[r] - old.positions[c]) / dt
        velocity_covs = (fresh.covariances[r] + old.covariances[c]) / dt**2
        means, covs = self._model.initial_state(
            fresh.positions[r], fresh.covariances[r], velocities, velocity_covs
        )
        born = TrackSet.born(means, covs, time_s)
        m = len(born)
        born = born.replace(
            ages=np.ones(m, np.int64),
            hit_history=np.full(m, 0b11, np.int64),
            confirmed=np.full(m, self._settings.m <= 2, np.bool_),
        )
        unpaired = np.ones(len(fresh), np.bool_)
        unpaired[r] = False
        return born, fresh.select(unpaired)

    def _remember(self, unpaired: Detections, time_s: float) -> None:
        if time_s == self._candidate_time_s:
            # Another list of the same instant (a second radar): both are candidates.
            unpaired = Detections(
                np.concatenate((self._candidates.positions, unpaired.positions)),
                np.concatenate((self._candidates.covariances, unpaired.covariances)),
            )
        self._candidates = unpaired
        self._candidate_time_s = time_s


def _popcount(bits: IntArray, width: int) -> IntArray:
    """Return the number of set bits among the low ``width`` bits of each of ``bits``.

    A loop over bit positions, not tracks (``np.bitwise_count`` needs numpy 2).
    """
    count = np.zeros(bits.shape, np.int64)
    for k in range(width):
        count += (bits >> k) & 1
    return count
