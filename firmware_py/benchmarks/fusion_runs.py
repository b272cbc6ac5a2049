"""What both sides of ``roadgate benchmark fusion`` share: the scans they are fed, the settings
they are built from, what a run returns, and our side's run.

Only the tracker's own work is timed: each cycle's wall time covers the tracker's step from
the scan as the tracker takes it to its confirmed tracks; turning those into the
benchmark's estimates (positions, integer ids) is done after the clock stops.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.tracking.association import chi2_2dof_quantile
from edge.tracking.builders import ConstantVelocity, gnn_tracker
from edge.tracking.detections import Detections
from edge.tracking.track_set import FloatArray, IntArray
from edge.tracking.tracker import Tracker


@dataclass(frozen=True, slots=True)
class Scan:
    """One radar cycle: ``positions`` (M, 2) in metres east/north, ``covariances`` (M, 2, 2)."""

    time_s: float
    positions: FloatArray
    covariances: FloatArray


@dataclass(frozen=True, slots=True)
class Objects:
    """Objects at one cycle (a tracker's confirmed tracks, or the truth): ``ids`` (K,),
    ``positions`` (K, 2)."""

    ids: IntArray
    positions: FloatArray


@dataclass(frozen=True, slots=True)
class TrackerRun:
    """What one tracker did with a run of scans: its estimates and wall time per cycle."""

    estimates: list[Objects]
    cycle_s: list[float]


@dataclass(frozen=True, slots=True)
class SharedSettings:
    """The settings both trackers are built from, so they differ only in implementation.

    ``accel_noise_m_s2``: constant-velocity white acceleration noise per axis (q = its square);
    ``gate_probability``: the Mahalanobis gate (our chi-square quantile; the peer's
    ``missed_distance`` is its square root, as Stone Soup's Mahalanobis is not squared);
    ``m``, ``n``: ours confirms with m hits of the latest n cycles, the peer with ``m``
    updates (``min_points``) and drops a tentative track after ``n - m + 1`` cycles without
    one; ``max_speed_m_s``: how far a second detection may be from the first (ours: a hard
    bound; the peer: the velocity prior's standard deviation is it divided by the gate);
    ``max_misses`` consecutive misses or a position variance trace over
    ``max_position_variance_m2`` delete a confirmed track in both.
    """

    accel_noise_m_s2: float = 1.0
    gate_probability: float = 0.999
    m: int = 3
    n: int = 4
    max_speed_m_s: float = 60.0
    max_misses: int = 5
    max_position_variance_m2: float = 100.0

    @property
    def gate_distance(self) -> float:
        """The gate as a (not squared) Mahalanobis distance."""
        return math.sqrt(chi2_2dof_quantile(self.gate_probability))


def build_ours(settings: SharedSettings) -> Tracker:
    """Return our tracker with ``settings``: constant velocity, GNN, M-of-N, miss deleter."""
    return gnn_tracker(
        ConstantVelocity(settings.accel_noise_m_s2),
        gate_probability=settings.gate_probability,
        m=settings.m,
        n=settings.n,
        max_speed_m_s=settings.max_speed_m_s,
        max_misses=settings.max_misses,
        max_position_variance_m2=settings.max_position_variance_m2,
        max_tracks=4096,
    )


def run_ours(scans: Sequence[Scan], settings: SharedSettings) -> TrackerRun:
    """Run our tracker over ``scans``, timing each ``Tracker.step``."""
    tracker = build_ours(settings)
    estimates: list[Objects] = []
    cycle_s: list[float] = []
    for scan in scans:
        detections = Detections(scan.positions, scan.covariances)
        start = time.perf_counter()
        confirmed = tracker.step(detections, scan.time_s)
        cycle_s.append(time.perf_counter() - start)
        estimates.append(Objects(confirmed.ids.copy(), confirmed.means[:, :2].copy()))
    return TrackerRun(estimates, cycle_s)


def cycle_stats_ms(cycle_s: Sequence[float], skip: int = 1) -> tuple[float, float, float]:
    """Return (mean, median, p99) in milliseconds of the cycle times after the first ``skip``
    (the first cycle has no track to predict or gate in either tracker); NaN when none."""
    timed = np.asarray(cycle_s[skip:], dtype=np.float64) * 1e3
    if timed.size == 0:
        return math.nan, math.nan, math.nan
    return float(timed.mean()), float(np.median(timed)), float(np.percentile(timed, 99))
