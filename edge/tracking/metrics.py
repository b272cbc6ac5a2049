"""How well tracks follow the truth: GOSPA per time step, and over a run the CLEAR-MOT style
identity counts (ID switches, fragmentations) and the position RMSE of matched pairs.

GOSPA (Rahmathullah, García-Fernández, Svensson, 2017): for truths X (K) and estimates Y (N),
with cut-off ``c``, order ``p`` and ``alpha``,

    d = ( min over assignments of  sum min(|x - y|, c)^p  +  c^p / alpha * |K - N| )^(1/p).

With ``alpha = 2`` (the default) it splits into localisation errors of assigned pairs, and
``c^p / 2`` per missed truth and per false estimate, a pair at least ``c`` apart counting as
one of each.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from edge.assignment import linear_sum_assignment
from edge.tracking.track_set import FloatArray, IntArray


@dataclass(frozen=True, slots=True)
class Gospa:
    """One GOSPA evaluation: ``distance`` in metres; ``localisation`` the sum of
    ``distance^p`` over assigned pairs (m^p); ``missed`` truths and ``false`` estimates
    (counts, by the ``alpha = 2`` decomposition)."""

    distance: float
    localisation: float
    missed: int
    false: int


def _check_parameters(c: float, p: float, alpha: float) -> None:
    if not (math.isfinite(c) and c > 0 and math.isfinite(p) and p >= 1 and 0 < alpha <= 2):
        raise ValueError(f"GOSPA needs c > 0, p >= 1, 0 < alpha <= 2: c={c}, p={p}, alpha={alpha}")


def _points(name: str, values: FloatArray) -> FloatArray:
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        return np.empty((0, 2))
    if a.ndim != 2 or a.shape[1] != 2:
        raise ValueError(f"{name} must have shape (n, 2), not {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} has non-finite positions")
    return a


def gospa(
    truth: FloatArray,
    estimates: FloatArray,
    *,
    c: float = 10.0,
    p: float = 2.0,
    alpha: float = 2.0,
) -> Gospa:
    """Return the GOSPA distance between ``truth`` (K, 2) and ``estimates`` (N, 2).

    Raises:
        ValueError: bad parameters, shapes other than (n, 2), or non-finite positions.
    """
    _check_parameters(c, p, alpha)
    x, y = _points("truth", truth), _points("estimates", estimates)
    k, n = x.shape[0], y.shape[0]
    cost = np.minimum(np.hypot(*(x[:, None, :] - y[None, :, :]).transpose(2, 0, 1)), c) ** p
    rows, cols = linear_sum_assignment(cost)
    pair_cost = cost[rows, cols]
    cut = pair_cost >= c**p
    total = float(pair_cost.sum()) + c**p / alpha * abs(k - n)
    assigned = int((~cut).sum())
    return Gospa(
        distance=total ** (1 / p),
        localisation=float(pair_cost[~cut].sum()),
        missed=k - assigned,
        false=n - assigned,
    )


@dataclass(frozen=True, slots=True)
class ScoreSummary:
    """A run's score: ``mean_gospa`` (m), ``id_switches``, ``fragmentations``,
    ``position_rmse_m`` over matched pairs (0 when none), ``cycles`` added, mean GOSPA
    ``mean_missed`` truths and ``mean_false`` estimates per cycle, ``matched`` pairs, and
    ``mean_localisation``: GOSPA's localisation term per cycle (m^p, its assigned pairs' sum of
    ``distance^p``), so that a mean GOSPA splits into what each part costs."""

    mean_gospa: float
    id_switches: int
    fragmentations: int
    position_rmse_m: float
    cycles: int
    mean_missed: float
    mean_false: float
    matched: int
    mean_localisation: float


class TrackingScore:
    """Accumulates a run, one ``add`` per time step.

    Each step matches tracks to truths, keeping last step's pairs that are still within
    ``gate_m`` and assigning the rest by least total distance within ``gate_m`` (CLEAR-MOT).
    An ID switch: a truth matched to a different track than when it was last matched. A
    fragmentation: a truth matched again after steps where it was present but unmatched.
    Rows with non-finite positions or repeated ids, and steps out of time order, are left out
    and counted in ``rejected`` by reason.
    """

    def __init__(
        self, *, gate_m: float = 5.0, c: float = 10.0, p: float = 2.0, alpha: float = 2.0
    ) -> None:
        _check_parameters(c, p, alpha)
        if not (math.isfinite(gate_m) and gate_m > 0):
            raise ValueError(f"gate_m must be positive, not {gate_m}")
        self._gate, self._c, self._p, self._alpha = gate_m, c, p, alpha
        self._last_track: dict[int, int] = {}  # truth id -> track id when last matched
        self._gap: set[int] = set()  # truths unmatched since they were last matched
        self._cycles = 0
        self._last_time = -math.inf
        self._gospa_sum = self._missed_sum = self._false_sum = self._localisation_sum = 0.0
        self._switches = self._fragmentations = self._matched = 0
        self._squared_error_sum = 0.0
        self.rejected: Counter[str] = Counter()

    def add(
        self,
        time_s: float,
        truth_ids: IntArray,
        truth_positions: FloatArray,
        track_ids: IntArray,
        track_positions: FloatArray,
    ) -> None:
        """Score the step at ``time_s``: truths and tracks with their ids and (n, 2) positions.

        A step not later than the previous one is skipped (``rejected["step_out_of_order"]``);
        rows with non-finite positions or a repeated id are left out.

        Raises:
            ValueError: ids and positions of different lengths or positions not (n, 2).
        """
        if not (math.isfinite(time_s) and time_s > self._last_time):
            self._reject("step_out_of_order", 1)
            return
        self._last_time = time_s
        t_ids, t_pos = self._usable("truth", truth_ids, truth_positions)
        k_ids, k_pos = self._usable("track", track_ids, track_positions)
        g = gospa(t_pos, k_pos, c=self._c, p=self._p, alpha=self._alpha)
        self._cycles += 1
        self._gospa_sum += g.distance
        self._missed_sum += g.missed
        self._false_sum += g.false
        self._localisation_sum += g.localisation
        pairs = self._match(t_ids, t_pos, k_ids, k_pos)
        matched_now = {int(t_ids[i]): int(k_ids[j]) for i, j in pairs}
        for i, j in pairs:
            self._squared_error_sum += float(np.sum((t_pos[i] - k_pos[j]) ** 2))
        self._matched += len(pairs)
        for truth in (int(t) for t in t_ids):
            track = matched_now.get(truth)
            if track is None:
                if truth in self._last_track:
                    self._gap.add(truth)
                continue
            last = self._last_track.get(truth)
            if last is not None and last != track:
                self._switches += 1
            if truth in self._gap:
                self._fragmentations += 1
                self._gap.discard(truth)
            self._last_track[truth] = track

    def _reject(self, reason: str, count: int) -> None:
        if count:
            self.rejected[reason] += count

    def _usable(
        self, name: str, ids: IntArray, positions: FloatArray
    ) -> tuple[IntArray, FloatArray]:
        i = np.asarray(ids, dtype=np.int64).reshape(-1)
        pos = np.asarray(positions, dtype=np.float64)
        if pos.size == 0 and i.size == 0:
            return i, np.empty((0, 2))
        if pos.ndim != 2 or pos.shape != (i.size, 2):
            raise ValueError(f"{name} positions must have shape ({i.size}, 2), not {pos.shape}")
        finite = np.flatnonzero(np.isfinite(pos).all(axis=1))
        self._reject(f"non_finite_{name}_position", i.size - finite.size)
        _, first = np.unique(i[finite], return_index=True)
        self._reject(f"repeated_{name}_id", finite.size - first.size)
        keep = np.sort(finite[first])
        return i[keep], pos[keep]

    def _match(
        self, t_ids: IntArray, t_pos: FloatArray, k_ids: IntArray, k_pos: FloatArray
    ) -> list[tuple[int, int]]:
        """Rows (truth, track) matched this step."""
        if t_ids.size == 0 or k_ids.size == 0:
            return []
        dist = np.hypot(*(t_pos[:, None, :] - k_pos[None, :, :]).transpose(2, 0, 1))
        pairs: list[tuple[int, int]] = []
        free_t = np.ones(t_ids.size, dtype=bool)
        free_k = np.ones(k_ids.size, dtype=bool)
        track_row = {int(track): row for row, track in enumerate(k_ids)}
        for i, truth in enumerate(t_ids):
            j = track_row.get(self._last_track.get(int(truth), -(2**62)))
            if j is not None and free_k[j] and dist[i, j] <= self._gate:
                pairs.append((i, j))
                free_t[i] = free_k[j] = False
        rows_t, rows_k = np.flatnonzero(free_t), np.flatnonzero(free_k)
        if rows_t.size and rows_k.size:
            sub = dist[np.ix_(rows_t, rows_k)]
            # A pair beyond the gate costs more than any set of gated pairs: the assignment
            # finds the most pairs within the gate, then the least total distance among them;
            # pairs beyond the gate are dropped afterwards.
            big = self._gate * (min(rows_t.size, rows_k.size) + 1) + 1.0
            r, q = linear_sum_assignment(np.where(sub <= self._gate, sub, big))
            pairs += [
                (int(rows_t[a]), int(rows_k[b]))
                for a, b in zip(r, q, strict=True)
                if sub[a, b] <= self._gate
            ]
        return pairs

    @property
    def summary(self) -> ScoreSummary:
        """The score so far."""
        cycles = max(self._cycles, 1)
        return ScoreSummary(
            mean_gospa=self._gospa_sum / cycles,
            id_switches=self._switches,
            fragmentations=self._fragmentations,
            position_rmse_m=math.sqrt(self._squared_error_sum / self._matched)
            if self._matched
            else 0.0,
            cycles=self._cycles,
            mean_missed=self._missed_sum / cycles,
            mean_false=self._false_sum / cycles,
            matched=self._matched,
            mean_localisation=self._localisation_sum / cycles,
        )
