"""The vehicle's motion filter over time: measurements applied at the time they were sensed.

``edge.vehicle.motion_model`` is the EKF; this runs it. The filter keeps ``history_s`` of
measurements with the state after each; a late one re-runs the filter from the state before it
(``counters["late"]``), one older than the history is dropped (``rejects["too_old.<kind>"]``).
A measurement more than ``max_gap_s`` after the filter's time, or before it, restarts the
motion states (``restart.gap`` / ``restart.backwards``; scale and bias, the car's, are kept).
Non-finite times and values, sigmas outside [``MIN_SIGMA``, ``MAX_SIGMA``], values out of range
and gated outliers are counted in ``rejects`` by reason and not used.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Final

import numpy as np

from edge.tracking.motion_models import wrap_angle
from edge.vehicle.motion_model import (
    DIM,
    PSI,
    E,
    FilterSettings,
    FilterState,
    Measurement,
    N,
    initial_state,
    keep_calibration,
    predict,
    update,
)

MIN_SIGMA: Final = 1e-4  # a measurement claiming more is not believed to be that good
MAX_SIGMA: Final = 1e4  # nor one claiming less to be worth applying


@dataclass
class _Entry:
    measurement: Measurement
    after: FilterState


@dataclass
class VehicleMotionFilter:
    """The EKF with its short history (see the module docstring). ``state`` is the newest."""

    settings: FilterSettings = field(default_factory=FilterSettings)
    rejects: Counter[str] = field(default_factory=Counter)
    counters: Counter[str] = field(default_factory=Counter)
    _base: FilterState | None = None
    _entries: list[_Entry] = field(default_factory=list)
    _times: list[float] = field(default_factory=list)

    @property
    def state(self) -> FilterState | None:
        """The state after the newest measurement; None before the first."""
        return self._entries[-1].after if self._entries else self._base

    def add(self, measurement: Measurement) -> None:
        """Apply ``measurement`` at its time, re-filtering later ones if it came late."""
        if not self._valid(measurement):
            return
        t = measurement.time_s
        newest = self.state
        if newest is None:
            self._restart(initial_state(self.settings, t))
        elif abs(t - newest.time_s) > self.settings.max_gap_s:
            self.rejects["restart.gap" if t > newest.time_s else "restart.backwards"] += 1
            self._restart(keep_calibration(initial_state(self.settings, t), newest))
        assert self._base is not None
        if t < self._base.time_s:
            self.rejects[f"too_old.{measurement.kind}"] += 1
            return
        at = bisect.bisect_right(self._times, t)
        if at < len(self._entries):
            self.counters["late"] += 1
        state = self._entries[at - 1].after if at else self._base
        self._entries.insert(at, _Entry(measurement, self._step(state, measurement, first=True)))
        self._times.insert(at, t)
        for i in range(at + 1, len(self._entries)):
            previous, entry = self._entries[i - 1].after, self._entries[i]
            entry.after = self._step(previous, entry.measurement, first=False)
        self._prune()

    def transform(
        self, heading_shift_rad: float, origin_east_m: float, origin_north_m: float
    ) -> None:
        """Move every kept state into a new frame: positions relative to the new origin (given
        in the old frame), rotated so that headings grow by ``heading_shift_rad``."""
        c, s = math.cos(heading_shift_rad), math.sin(heading_shift_rad)
        jac = np.eye(DIM)
        jac[E, E], jac[E, N], jac[N, E], jac[N, N] = c, s, -s, c

        def moved(state: FilterState) -> FilterState:
            mean = state.mean.copy()
            de, dn = mean[E] - origin_east_m, mean[N] - origin_north_m
            mean[E], mean[N] = c * de + s * dn, -s * de + c * dn
            mean[PSI] = float(wrap_angle(np.asarray(mean[PSI] + heading_shift_rad)))
            return replace(state, mean=mean, covariance=jac @ state.covariance @ jac.T)

        if self._base is not None:
            self._base = moved(self._base)
        for entry in self._entries:
            entry.after = moved(entry.after)
            m = entry.measurement
            if m.kind == "gnss_position":  # kept for re-filtering: it moves with the frame
                de, dn = m.value[0] - origin_east_m, m.value[1] - origin_north_m
                value = (c * de + s * dn, -s * de + c * dn)
                entry.measurement = replace(m, value=value, sigma=(max(m.sigma),) * 2)

    def predicted(self, time_s: float) -> FilterState | None:
        """The newest state predicted to ``time_s`` (not before it; at most ``max_gap_s``)."""
        state = self.state
        if state is None:
            return None
        return predict(self.settings, state, min(time_s, state.time_s + self.settings.max_gap_s))

    # --- internals ----------------------------------------------------------------------------

    def _valid(self, m: Measurement) -> bool:
        s = self.settings
        if not math.isfinite(m.time_s):
            self.rejects[f"bad_time.{m.kind}"] += 1
            return False
        if not all(math.isfinite(v) for v in (*m.value, *m.sigma)):
            self.rejects[f"non_finite.{m.kind}"] += 1
            return False
        if not all(MIN_SIGMA <= x <= MAX_SIGMA for x in m.sigma):
            self.rejects[f"bad_sigma.{m.kind}"] += 1
            return False
        limit = {
            "wheel_speed": s.max_speed_mps,
            "gnss_speed": s.max_speed_mps,
            "yaw_rate": s.max_yaw_rate_rad_s,
            "accel": s.max_accel_mps2,
            "gnss_course": 2 * math.tau,
            "gnss_position": 1e7,
        }.get(m.kind)
        if limit is None:
            raise ValueError(f"unknown measurement kind {m.kind!r}")
        if any(abs(v) > limit for v in m.value):
            self.rejects[f"out_of_range.{m.kind}"] += 1
            return False
        return True

    def _restart(self, state: FilterState) -> None:
        self._base = state
        self._entries.clear()
        self._times.clear()

    def _prune(self) -> None:
        horizon = self._times[-1] - self.settings.history_s
        drop = bisect.bisect_left(self._times, horizon)
        if drop:
            self._base = self._entries[drop - 1].after
            del self._entries[:drop]
            del self._times[:drop]

    def _step(self, state: FilterState, m: Measurement, *, first: bool) -> FilterState:
        """``state`` predicted to the measurement's time and updated by it; what happened is
        counted the ``first`` time only (not again when re-filtering)."""
        predicted = predict(self.settings, state, m.time_s)
        try:
            updated, remark = update(self.settings, predicted, m)
        except np.linalg.LinAlgError:
            updated, remark = predicted, f"numerical.{m.kind}"
        if not (np.all(np.isfinite(updated.mean)) and np.all(np.isfinite(updated.covariance))):
            updated, remark = predicted, f"numerical.{m.kind}"
        if first and remark is not None:
            (self.counters if remark == "reacquired" else self.rejects)[remark] += 1
        return updated
