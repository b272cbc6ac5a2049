"""The multi-object tracker: one cycle of predict, associate, update, initiate, delete."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from edge.tracking.detections import DetectionLimits, Detections, usable
from edge.tracking.roles import Association, Associator, Deleter, Initiator, Predictor, Updater
from edge.tracking.track_set import NO_ID, BoolArray, FloatArray, IntArray, TrackSet

Coverage = Callable[[FloatArray], BoolArray]
"""Which of the (N, 2) positions a sensor could have detected this cycle (its field of view)."""

_HISTORY_BITS = np.int64((1 << 62) - 1)


@dataclass(frozen=True, slots=True)
class TrackerSettings:
    """``state_dim``: the motion model's d; ``max_tracks``: tentative tracks beyond it are not
    started (clutter storms must not grow the gate's tracks x detections cost without bound);
    ``detection_limits``: what a usable detection is; ``unresolved_spread_m2``: the variance
    per axis added to a merged return's covariance when it also updates the shadowed track
    of the unresolved pair (objects merge within about 1 m, so each lies within 0.5 m of
    the return: a uniform spread over it, 1 / 12 m^2, rounded up); 0 still updates it, as
    if the object were at the return; infinite leaves it coasting."""

    state_dim: int
    max_tracks: int = 1024
    detection_limits: DetectionLimits = field(default_factory=DetectionLimits)
    unresolved_spread_m2: float = 0.1

    def __post_init__(self) -> None:
        if self.state_dim < 2 or self.max_tracks < 1 or not self.unresolved_spread_m2 >= 0:
            raise ValueError(f"inconsistent tracker settings: {self}")


@dataclass(frozen=True, slots=True)
class Assignment:
    """The tracks ``track_ids`` [k] were updated with the detections at rows ``detection_rows``
    [k] of a cycle's input."""

    track_ids: IntArray
    detection_rows: IntArray


class Tracker:
    """A tracker composed of roles, as Stone Soup's ``MultiTargetTracker``; each role works on
    all tracks at once. Ids are numbered from 1 as tracks are born and never reused."""

    def __init__(
        self,
        predictor: Predictor,
        updater: Updater,
        associator: Associator,
        initiator: Initiator,
        deleter: Deleter,
        settings: TrackerSettings,
    ) -> None:
        self._predictor = predictor
        self._updater = updater
        self._associator = associator
        self._initiator = initiator
        self._deleter = deleter
        self._settings = settings
        self._tracks = TrackSet.empty(settings.state_dim)
        self._time_s: float | None = None
        self._next_id = 1
        self._rejected: Counter[str] = Counter()
        self._assigned = Assignment(np.empty(0, np.int64), np.empty(0, np.int64))

    @property
    def tracks(self) -> TrackSet:
        """Every live track, tentative ones included."""
        return self._tracks

    @property
    def confirmed(self) -> TrackSet:
        """The confirmed tracks."""
        return self._tracks.select(self._tracks.confirmed)

    def reset(self) -> None:
        """Drop every track and forget the time (after the clock stepped back); ids go on
        from where they were, never reused."""
        self._tracks = TrackSet.empty(self._settings.state_dim)
        self._time_s = None

    @property
    def assigned(self) -> Assignment:
        """Which detection (its row in the last cycle's input) updated which track."""
        return self._assigned

    @property
    def rejected(self) -> Mapping[str, int]:
        """How many inputs were not used, by reason (detections, cycles, tracks)."""
        return {reason: count for reason, count in self._rejected.items() if count}

    def step(
        self, detections: Detections, time_s: float, coverage: Coverage | None = None
    ) -> TrackSet:
        """Run one cycle with ``detections`` measured at ``time_s``; return the confirmed tracks.

        With several sensors, ``coverage`` says where this cycle's sensor looks: a track
        outside it is predicted but its cycle does not count (neither hit nor miss, its age
        unchanged), so tracks that only one sensor sees are confirmed and kept as if that
        sensor were alone. A track the associator reports shadowed (its object unresolved from
        another's) is treated the same way, but for one thing: it is updated with the merged
        return it lost, its covariance widened by ``unresolved_spread_m2`` (so it stays with the
        pair instead of coasting off on its velocity; neither a hit nor a miss). A cycle whose
        time is not finite or earlier than the previous one is skipped and counted
        (``non_finite_time``, ``time_backwards``); unusable detections are dropped and counted
        by :func:`~edge.tracking.detections.usable`.
        """
        if not math.isfinite(time_s):
            self._rejected["non_finite_time"] += 1
            return self.confirmed
        if self._time_s is not None and time_s < self._time_s:
            self._rejected["time_backwards"] += 1
            return self.confirmed
        self._time_s = time_s
        # A huge time gap can overflow a prediction; the finite guard below drops and counts
        # such tracks, so numpy need not warn on the way.
        with np.errstate(all="ignore"):
            dets, det_kept = usable(detections, self._settings.detection_limits, self._rejected)
            tracks = self._predictor.predict(self._tracks, time_s)
            assoc = self._associator.associate(tracks, dets)
            rows, det_rows = assoc.track_rows, assoc.detection_rows
            self._assigned = Assignment(tracks.ids[rows], det_kept[det_rows])
            in_view = np.ones(len(tracks), np.bool_)
            if coverage is not None:
                in_view &= np.asarray(coverage(tracks.means[:, :2]), np.bool_)
            in_view[assoc.shadowed_tracks] = False
            tracks = self._apply_updates(tracks, dets, rows, det_rows, time_s, in_view, assoc)
            tracks = self._initiator.initiate(tracks, dets, assoc.unassigned_detections, time_s)
            tracks = self._number_new(tracks)
            finite = np.isfinite(tracks.means).all(axis=1) & np.isfinite(tracks.covariances).all(
                axis=(1, 2)
            )
            keep = self._deleter.keep(tracks)
        self._rejected["non_finite_track"] += int((~finite).sum())
        self._tracks = tracks.select(finite & keep)
        return self.confirmed

    def _apply_updates(
        self,
        tracks: TrackSet,
        dets: Detections,
        track_rows: np.ndarray[tuple[int], np.dtype[np.int64]],
        det_rows: np.ndarray[tuple[int], np.dtype[np.int64]],
        time_s: float,
        in_view: BoolArray,
        assoc: Association,
    ) -> TrackSet:
        """Update the tracks at ``track_rows`` with the detections at ``det_rows`` (hits), and
        the associator's shadowed tracks with the returns they lost, widened."""
        hit = np.zeros(len(tracks), np.bool_)
        hit[track_rows] = True
        counted = in_view | hit
        means = tracks.means.copy()
        covs = tracks.covariances.copy()
        r = dets.covariances[det_rows]
        spread = self._settings.unresolved_spread_m2
        lost = assoc.shadowing_detections
        if lost.size and not math.isinf(spread):
            track_rows = np.concatenate((track_rows, assoc.shadowed_tracks))
            det_rows = np.concatenate((det_rows, lost))
            r = np.concatenate((r, dets.covariances[lost] + spread * np.eye(2)))
        if track_rows.size:
            updated = self._updater.update(tracks.select(track_rows), dets.positions[det_rows], r)
            means[track_rows] = updated.means
            covs[track_rows] = updated.covariances
        return tracks.replace(
            means=means,
            covariances=covs,
            last_update_s=np.where(hit, time_s, tracks.last_update_s),
            ages=tracks.ages + counted,
            hit_history=np.where(
                counted, ((tracks.hit_history << 1) | hit) & _HISTORY_BITS, tracks.hit_history
            ),
            misses=np.where(hit, 0, tracks.misses + counted),
        )

    def _number_new(self, tracks: TrackSet) -> TrackSet:
        new = np.flatnonzero(tracks.ids == NO_ID)
        if new.size == 0:
            return tracks
        room = max(self._settings.max_tracks - (len(tracks) - new.size), 0)
        if new.size > room:
            self._rejected["track_capacity"] += int(new.size - room)
            keep = np.ones(len(tracks), np.bool_)
            keep[new[room:]] = False
            tracks = tracks.select(keep)
            new = new[:room]
        ids = tracks.ids.copy()
        ids[new] = np.arange(self._next_id, self._next_id + new.size)
        self._next_id += int(new.size)
        return tracks.replace(ids=ids)
