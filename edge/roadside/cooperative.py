"""Cooperative perception: vehicles that report their own state are associated with the radar
tracks of the intersection, so a tracked object carries the vehicle's id and a fused state.

Each cycle the reports (the newest per vehicle) are predicted to the tracks' time with constant
velocity, gated against the tracks by Mahalanobis distance on position and velocity, assigned
globally (``linear_sum_assignment``) with a bonus for last cycle's pairing, and fused by
covariance intersection: a radar track and a vehicle's GNSS are independent sensors, but the
tracker may already have folded this vehicle's reports into its track (and a report is reused
until the next arrives), so their correlation is unknown and only CI is safe. Reports matching
no track come back predicted to the cycle's time: the tracker publishes them as
cooperative-only objects.

Around it: ``cooperative_reports`` (a gateway's state or a BSM as a report),
``cooperative_checks`` (what is refused), ``covariance_intersection``, and the two feeds,
``state_feed`` (MQTT) and ``bsm_feed`` (the radio's ``on_heard``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from edge.assignment import linear_sum_assignment
from edge.roadside.cooperative_checks import checked_report, checked_tracks, usable_rows
from edge.roadside.cooperative_reports import (
    CooperativeReport,
    ReportDefaults,
    bsm_vehicle_id,
    report_from_bsm,
    report_from_state,
)
from edge.roadside.covariance_intersection import covariance_intersection
from edge.tracking.kalman import symmetric
from edge.tracking.motion_models import ConstantVelocity
from edge.tracking.track_set import FloatArray, IntArray

__all__ = [
    "CooperativeAssociator",
    "CooperativeMatch",
    "CooperativeReport",
    "CooperativeSettings",
    "ReportDefaults",
    "bsm_vehicle_id",
    "chi2_4dof_quantile",
    "report_from_bsm",
    "report_from_state",
]

_NOT_ALLOWED = 1.0e9
"""The cost of a pair outside the gate (scipy refuses infinities); never part of an answer."""


def chi2_4dof_quantile(probability: float) -> float:
    """The chi-square quantile of 4 degrees of freedom: the CDF 1 - e^(-x/2) (1 + x/2)
    inverted by bisection to float precision (``ValueError`` outside 0 < p < 1).

    Lambert's W gives it in closed form, but scipy.special costs a roadside unit 23 MiB of
    its memory budget for one number computed once.
    """
    if not 0.0 < probability < 1.0:
        raise ValueError(f"probability {probability} is not valid: use 0 < p < 1")
    low, high = 0.0, 1.0
    while not _below(high, probability):
        high *= 2.0
    while True:
        middle = 0.5 * (low + high)
        if middle in (low, high):
            return high
        if _below(middle, probability):
            high = middle
        else:
            low = middle


def _below(x: float, probability: float) -> bool:
    """Whether ``x`` is at or above the quantile: on the survival function where p is close
    to 1, on the CDF elsewhere, so neither loses its precision to cancellation."""
    half = x / 2.0
    if probability > 0.5:
        return math.exp(-half) * (1.0 + half) <= 1.0 - probability
    return -math.expm1(-half) - half * math.exp(-half) >= probability


@dataclass(frozen=True)
class CooperativeSettings:
    """How reports are gated, kept and trusted.

    ``gate_probability``: the chi-square (4 dof) quantile a true pairing's squared Mahalanobis
    distance stays under. ``max_age_s``: older (or as far ahead of the cycle) reports are
    dropped. ``stickiness_bonus``: how much cheaper (in squared Mahalanobis units) last cycle's
    pairing is, so two nearby tracks do not swap a vehicle back and forth;
    ``release_after_cycles``: a pairing outside the gate keeps its id (unfused) for fewer
    cycles than this before it is let go. ``accel_noise_m_s2``: white acceleration noise when
    predicting a report. ``reference_point_std_m``: the distance between the point a vehicle
    reports (its antenna, its reference point) and the one a radar tracks (its strongest
    reflection), added to the report's position for matching and fusion. Reports further than
    ``max_distance_m`` from the intersection, faster than ``max_speed_mps`` or less precise
    than ``max_position_std_m`` / ``max_velocity_std_mps`` are refused; at most
    ``max_vehicles`` are kept. ``aliases``: (id, vehicle id) pairs filing one vehicle's reports
    under one id, e.g. a gateway's ``bsm:...`` id under its device id, so a vehicle heard both
    ways is one vehicle. Raises ``ValueError`` for a setting out of range.
    """

    gate_probability: float = 0.999
    max_age_s: float = 1.0
    stickiness_bonus: float = 6.0
    release_after_cycles: int = 3
    accel_noise_m_s2: float = 3.0
    reference_point_std_m: float = 1.0
    max_distance_m: float = 500.0
    max_speed_mps: float = 100.0
    max_position_std_m: float = 20.0
    max_velocity_std_mps: float = 20.0
    max_vehicles: int = 1000
    aliases: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 < self.gate_probability < 1.0:
            raise ValueError(f"gate_probability must be in (0, 1), not {self.gate_probability}")
        positive = (
            "max_age_s",
            "accel_noise_m_s2",
            "max_distance_m",
            "max_speed_mps",
            "max_position_std_m",
            "max_velocity_std_mps",
        )
        for name in positive:
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and positive, not {value}")
        for name in ("stickiness_bonus", "reference_point_std_m"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and not negative, not {value}")
        if self.release_after_cycles < 1 or self.max_vehicles < 1:
            raise ValueError("release_after_cycles and max_vehicles must be at least 1")


@dataclass(frozen=True)
class CooperativeMatch:
    """One cycle's answer, row for row with the tracks given: ``vehicle_ids`` ("" where none),
    ``means`` (N, 4) [east, north, v_east, v_north] and ``covariances`` (N, 4, 4), fused where a
    vehicle matched and as given elsewhere; ``unmatched``: fresh reports matching no track,
    predicted to the cycle's time (their covariances the exact marginals of the prediction)."""

    vehicle_ids: tuple[str, ...]
    means: FloatArray
    covariances: FloatArray
    unmatched: tuple[CooperativeReport, ...]


@dataclass(frozen=True, slots=True)
class _Pairing:
    track_id: int
    strikes: int  # consecutive cycles outside the gate


class CooperativeAssociator:
    """Keeps the newest report of each vehicle and matches them to tracks each cycle.

    ``rejected`` counts by reason what was refused or dropped: ``malformed``, ``bad_id``,
    ``non_finite``, ``bad_covariance`` (not symmetric positive definite), ``imprecise``,
    ``too_far``, ``out_of_range``, ``not_newer`` (no newer than the one kept), ``capacity``
    (the oldest evicted for a newer vehicle, or a report refused as older than all kept),
    ``stale``, ``from_future``, and ``track_unusable`` (a track row with a non-finite or
    non-positive-definite state, passed through unmatched; counted in the cycles that have
    reports to match). Never raises on a bad report.
    """

    def __init__(self, settings: CooperativeSettings) -> None:
        self._settings = settings
        self._gate = chi2_4dof_quantile(settings.gate_probability)
        self._model = ConstantVelocity(accel_noise_m_s2=settings.accel_noise_m_s2)
        self._aliases = dict(settings.aliases)
        self._reports: dict[str, CooperativeReport] = {}
        self._pairs: dict[str, _Pairing] = {}
        self._rejected: Counter[str] = Counter()

    @property
    def rejected(self) -> Mapping[str, int]:
        return dict(self._rejected)

    @property
    def vehicles(self) -> int:
        """How many vehicles' reports are kept."""
        return len(self._reports)

    @property
    def counters(self) -> Mapping[str, int]:
        """For the health report: ``vehicles`` kept, ``paired`` with a track at the last
        cycle, and ``rejects.<reason>``."""
        out = {"vehicles": len(self._reports), "paired": len(self._pairs)}
        out.update({f"rejects.{reason}": n for reason, n in self._rejected.items()})
        return out

    def offer(self, report: CooperativeReport) -> None:
        """Keep ``report`` if it is valid and newer than the one kept for its vehicle."""
        s = self._settings
        checked = checked_report(
            report,
            max_distance_m=s.max_distance_m,
            max_speed_mps=s.max_speed_mps,
            max_position_std_m=s.max_position_std_m,
            max_velocity_std_mps=s.max_velocity_std_mps,
        )
        if isinstance(checked, str):
            self._rejected[checked] += 1
            return
        vehicle_id = self._aliases.get(checked.vehicle_id, checked.vehicle_id)
        if vehicle_id != checked.vehicle_id:
            checked = replace(checked, vehicle_id=vehicle_id)
        kept = self._reports.get(vehicle_id)
        if kept is not None and checked.time_s <= kept.time_s:
            self._rejected["not_newer"] += 1
            return
        if kept is None and len(self._reports) >= self._settings.max_vehicles:
            oldest = min(self._reports.values(), key=lambda r: r.time_s)
            self._rejected["capacity"] += 1
            if oldest.time_s >= checked.time_s:
                return
            self._forget(oldest.vehicle_id)
        self._reports[vehicle_id] = checked

    def associate(
        self, time_s: float, track_ids: IntArray, means: FloatArray, covariances: FloatArray
    ) -> CooperativeMatch:
        """Match the kept reports to the tracks (ids (N,), means (N, 4), covariances (N, 4, 4),
        all at ``time_s``) and fuse the matched pairs.

        Raises ``ValueError`` for arrays of the wrong shapes, repeated track ids or a
        non-finite ``time_s``.
        """
        ids, means, covariances = checked_tracks(time_s, track_ids, means, covariances)
        self._drop_old(time_s)
        labels = [""] * ids.shape[0]
        out_means, out_covs = means.copy(), covariances.copy()
        vehicles = list(self._reports)
        if not vehicles:
            # No vehicle reports (most cycles of most intersections): nothing to predict,
            # pair or fuse; the tracks pass through as they are, unchecked (checking them,
            # an eigenvalue decomposition each, was about 110 us a list of 200 tracks).
            self._pairs = {}
            return CooperativeMatch(tuple(labels), out_means, out_covs, ())
        usable = usable_rows(means, covariances)
        if usable.size < ids.shape[0]:
            self._rejected["track_unusable"] += int(ids.shape[0] - usable.size)
        r_means, r_covs = self._predicted(time_s, [self._reports[v] for v in vehicles])
        matched, held = self._assign(ids, means, covariances, usable, vehicles, r_means, r_covs)
        pairs: dict[str, _Pairing] = {}
        for row, col, strikes in held:
            labels[row] = vehicles[col]
            pairs[vehicles[col]] = _Pairing(int(ids[row]), strikes)
        if matched:
            rows = np.array([r for r, _ in matched], np.int64)
            cols = np.array([c for _, c in matched], np.int64)
            fused, fused_cov = self._fused(means[rows], covariances[rows], r_means, r_covs, cols)
            out_means[rows], out_covs[rows] = fused, fused_cov
            for row, col in matched:
                labels[row] = vehicles[col]
                pairs[vehicles[col]] = _Pairing(int(ids[row]), 0)
        self._pairs = pairs
        taken = {col for _, col in matched} | {col for _, col, _ in held}
        unmatched = tuple(
            self._as_report(vehicles[col], time_s, r_means[col], r_covs[col])
            for col in range(len(vehicles))
            if col not in taken
        )
        return CooperativeMatch(tuple(labels), out_means, out_covs, unmatched)

    def _assign(
        self,
        ids: IntArray,
        means: FloatArray,
        covariances: FloatArray,
        usable: IntArray,
        vehicles: list[str],
        r_means: FloatArray,
        r_covs: FloatArray,
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int, int]]]:
        """Return (track row, report column) of the pairs assigned now, and (track row, report
        column, strikes) of last cycle's pairings held though outside the gate."""
        if usable.size == 0 or not vehicles:
            return [], []
        matching_covs = r_covs.copy()
        matching_covs[:, :2, :2] += self._settings.reference_point_std_m**2 * np.eye(2)
        d2, log_det = _mahalanobis(
            means[usable], covariances[usable], r_means, matching_covs, self._gate
        )
        gated = d2 <= self._gate  # NaN compares false
        cost = d2 + log_det
        row_of_id = {int(ids[r]): k for k, r in enumerate(usable)}
        col_of_vehicle = {v: j for j, v in enumerate(vehicles)}
        feasible = gated.copy()
        held: list[tuple[int, int, int]] = []
        for vehicle, pairing in self._pairs.items():
            k, j = row_of_id.get(pairing.track_id), col_of_vehicle.get(vehicle)
            if k is None or j is None:
                continue  # the track ended or the vehicle fell silent: the pairing ends
            if gated[k, j]:
                cost[k, j] -= self._settings.stickiness_bonus
            elif pairing.strikes + 1 < self._settings.release_after_cycles:
                # Clearly apart this cycle, but a glitch (a GNSS jump, a track's reflection
                # point moving) must not hand the id over: keep it, without fusing.
                held.append((int(usable[k]), j, pairing.strikes + 1))
                feasible[k, :] = False
                feasible[:, j] = False
        if not feasible.any():
            return [], held
        # Solve only over the tracks and reports that have a gated pair.
        rows = np.flatnonzero(feasible.any(axis=1))
        cols = np.flatnonzero(feasible.any(axis=0))
        sub_feasible = feasible[np.ix_(rows, cols)]
        sub = np.where(sub_feasible, cost[np.ix_(rows, cols)], _NOT_ALLOWED)
        r, c = linear_sum_assignment(sub)
        ok = sub_feasible[r, c]
        matched = [(int(usable[rows[a]]), int(cols[b])) for a, b in zip(r[ok], c[ok], strict=True)]
        return matched, held

    def _fused(
        self,
        t_means: FloatArray,
        t_covs: FloatArray,
        r_means: FloatArray,
        r_covs: FloatArray,
        cols: IntArray,
    ) -> tuple[FloatArray, FloatArray]:
        covs = r_covs[cols].copy()
        covs[:, :2, :2] += self._settings.reference_point_std_m**2 * np.eye(2)
        fused, fused_cov, _ = covariance_intersection(t_means, t_covs, r_means[cols], covs)
        # Finite inputs give finite answers; should rounding ever fail that, keep the track.
        bad = ~(np.isfinite(fused).all(axis=1) & np.isfinite(fused_cov).all(axis=(1, 2)))
        if bad.any():
            self._rejected["fusion_failed"] += int(bad.sum())
            fused[bad], fused_cov[bad] = t_means[bad], t_covs[bad]
        return fused, fused_cov

    def _predicted(
        self, time_s: float, reports: list[CooperativeReport]
    ) -> tuple[FloatArray, FloatArray]:
        """Means (M, 4) and covariances (M, 4, 4) of ``reports`` moved to ``time_s``."""
        m = len(reports)
        means = np.zeros((m, 4))
        covs = np.zeros((m, 4, 4))
        dt = np.zeros(m)
        for i, report in enumerate(reports):
            means[i, :2], means[i, 2:] = report.position, report.velocity
            covs[i, :2, :2] = report.position_covariance
            covs[i, 2:, 2:] = report.velocity_covariance
            dt[i] = time_s - report.time_s
        moved, f = self._model.transition(means, dt)
        # Backwards too (a sender's clock a little ahead): uncertainty grows either way.
        q = self._model.process_noise(means, np.abs(dt))
        return moved, symmetric(f @ covs @ f.transpose(0, 2, 1) + q)

    def _as_report(
        self, vehicle_id: str, time_s: float, mean: FloatArray, cov: FloatArray
    ) -> CooperativeReport:
        kept = self._reports[vehicle_id]
        return CooperativeReport(
            vehicle_id=vehicle_id,
            time_s=time_s,
            position=mean[:2].copy(),
            velocity=mean[2:].copy(),
            position_covariance=cov[:2, :2].copy(),
            velocity_covariance=cov[2:, 2:].copy(),
            length_m=kept.length_m,
            width_m=kept.width_m,
        )

    def _drop_old(self, time_s: float) -> None:
        max_age = self._settings.max_age_s
        for vehicle_id, report in list(self._reports.items()):
            age = time_s - report.time_s
            if age > max_age:
                self._rejected["stale"] += 1
                self._forget(vehicle_id)
            elif age < -max_age:
                self._rejected["from_future"] += 1
                self._forget(vehicle_id)

    def _forget(self, vehicle_id: str) -> None:
        del self._reports[vehicle_id]
        self._pairs.pop(vehicle_id, None)


def _mahalanobis(
    t_means: FloatArray, t_covs: FloatArray, r_means: FloatArray, r_covs: FloatArray, gate: float
) -> tuple[FloatArray, FloatArray]:
    """Squared Mahalanobis distances (N, M) of every track-report pair with S = P_t + P_r, and
    ln det S (N, M); inf (and 0) for pairs that cannot be within ``gate``.

    A gated pair has |e_pos|^2 <= gate * tr S_pos (the 4-d distance is at least the position's,
    which is at least |e_pos|^2 / tr S_pos): only those pairs are solved, so far-apart tracks
    and vehicles cost a subtraction each.
    """
    n, m = t_means.shape[0], r_means.shape[0]
    d2 = np.full((n, m), np.inf)
    log_det = np.zeros((n, m))
    gap = r_means[None, :, :2] - t_means[:, None, :2]
    spread = (
        np.trace(t_covs[:, :2, :2], axis1=1, axis2=2)[:, None]
        + np.trace(r_covs[:, :2, :2], axis1=1, axis2=2)[None, :]
    )
    rows, cols = np.nonzero(np.einsum("nmi,nmi->nm", gap, gap) <= gate * spread)
    if rows.size:
        s = t_covs[rows] + r_covs[cols]
        e = r_means[cols] - t_means[rows]
        solved = np.linalg.solve(s, e[..., None])[..., 0]
        d2[rows, cols] = np.einsum("ki,ki->k", e, solved)
        log_det[rows, cols] = np.linalg.slogdet(s)[1]
    return d2, log_det
