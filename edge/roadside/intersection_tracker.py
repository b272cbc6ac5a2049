"""One track list per intersection from all its radars (and the vehicles that report their
own state).

Each radar's object list is one tracker cycle at its capture time, in the intersection's local
frame: its positions placed from the radar's mounting pose, each weighed by that radar type's
noise, and only the tracks inside its field of view charged with a miss when it does not see
them. Radars on different buses deliver slightly out of order: a list up to ``max_lateness_s``
older than the newest is moved forward by its own measured velocities (its covariance grown by
the velocity noise over that time) rather than dropped.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from edge.roadside.radar_site import FieldsOfView, RadarSite
from edge.roadside.track_attributes import Observations, TrackAttributes
from edge.tracking.detections import Detections
from edge.tracking.kinematics import position_velocity
from edge.tracking.track_set import BoolArray, FloatArray, IntArray, TrackSet
from edge.tracking.tracker import Tracker
from protocols.schema.v1 import roadgate_pb2 as pb

COOPERATIVE_ID_BASE = 1 << 31
"""Objects known only from their own reports get ids from here up (tracks count from 1)."""
COOPERATIVE_SOURCE = "cooperative"
"""The source name of a vehicle's own reports, after the radars' in ``sensor_ids``."""

_HIT_RATIO_CYCLES = 8
"""A track's hit ratio is over its latest this many cycles (the low byte of its hit history)."""
_HITS_OF_BYTE = np.array([bin(b).count("1") for b in range(1 << _HIT_RATIO_CYCLES)], np.float64)
"""The number of hits in each value of that byte."""


@dataclass(frozen=True, slots=True)
class RadarScan:
    """One radar cycle in its sensor frame (x forward, y left; velocities over ground)."""

    sensor_id: str
    time_s: float
    x_m: FloatArray
    y_m: FloatArray
    vx_mps: FloatArray
    vy_mps: FloatArray
    object_class: IntArray  # pb.ObjectClass values
    length_m: FloatArray
    width_m: FloatArray

    def __len__(self) -> int:
        return int(self.x_m.shape[0])


@dataclass(frozen=True, slots=True)
class FusedTracks:
    """The intersection's confirmed objects at ``time_s``: ``states`` (N, 4) east, north,
    v_east, v_north in the local frame with ``covariances`` (N, 4, 4); ``source_mask``: bit i
    set when ``IntersectionTracker.sensor_ids[i]`` updated it lately."""

    time_s: float
    ids: IntArray
    states: FloatArray
    covariances: FloatArray
    object_class: IntArray
    length_m: FloatArray
    width_m: FloatArray
    age_s: FloatArray
    coasting: BoolArray
    hit_ratio: FloatArray
    source_mask: IntArray
    cooperative_ids: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def finite(self) -> FusedTracks:
        """These tracks but those with a number that is not finite (self when none has)."""
        n = len(self)
        finite = np.isfinite(self.states).all(axis=1)
        finite &= np.isfinite(self.covariances.reshape(n, 16)).all(axis=1)
        for values in (self.length_m, self.width_m, self.age_s, self.hit_ratio):
            finite &= np.isfinite(values)
        if finite.all():
            return self
        kept = np.flatnonzero(finite)
        return FusedTracks(
            time_s=self.time_s,
            ids=self.ids[kept],
            states=self.states[kept],
            covariances=self.covariances[kept],
            object_class=self.object_class[kept],
            length_m=self.length_m[kept],
            width_m=self.width_m[kept],
            age_s=self.age_s[kept],
            coasting=self.coasting[kept],
            hit_ratio=self.hit_ratio[kept],
            source_mask=self.source_mask[kept],
            cooperative_ids=tuple(self.cooperative_ids[i] for i in kept.tolist()),
        )


class CooperativeReportLike(Protocol):
    @property
    def vehicle_id(self) -> str: ...
    @property
    def position(self) -> FloatArray: ...
    @property
    def velocity(self) -> FloatArray: ...
    @property
    def position_covariance(self) -> FloatArray: ...
    @property
    def velocity_covariance(self) -> FloatArray: ...
    @property
    def length_m(self) -> float: ...
    @property
    def width_m(self) -> float: ...


class CooperativeMatchLike(Protocol):
    @property
    def vehicle_ids(self) -> Sequence[str]: ...
    @property
    def means(self) -> FloatArray: ...
    @property
    def covariances(self) -> FloatArray: ...
    @property
    def unmatched(self) -> Sequence[CooperativeReportLike]: ...


class CooperativeFusion(Protocol):
    """Pairs the tracks with vehicles' own reports (``edge.roadside.cooperative``)."""

    def associate(
        self, time_s: float, track_ids: IntArray, means: FloatArray, covariances: FloatArray
    ) -> CooperativeMatchLike: ...


@dataclass(frozen=True, slots=True)
class IntersectionSettings:
    """``max_lateness_s``: how much older than the newest a list may be and still be used;
    ``reset_after_s``: a list this much older means the clock stepped back: start afresh;
    ``coast_after_s``: a track without a detection this long is reported as coasting."""

    max_lateness_s: float = 0.3
    reset_after_s: float = 5.0
    coast_after_s: float = 0.3

    def __post_init__(self) -> None:
        if not 0 <= self.max_lateness_s < self.reset_after_s or not self.coast_after_s > 0:
            raise ValueError(f"inconsistent intersection settings: {self}")


class IntersectionTracker:
    """Fuses the radars of one intersection into one track list (see the module docstring).

    ``rejected`` counts what was not used, by reason: the tracker's own reasons and
    ``unknown_sensor``, ``non_finite_time``, ``late_scan``, ``clock_reset``,
    ``non_finite_velocity``, ``inconsistent_scan``.
    """

    def __init__(
        self,
        sites: Sequence[RadarSite],
        tracker: Tracker,
        *,
        attributes: TrackAttributes | None = None,
        cooperative: CooperativeFusion | None = None,
        settings: IntersectionSettings | None = None,
    ) -> None:
        if not sites or len({s.sensor_id for s in sites}) != len(sites):
            raise ValueError("an intersection needs radars with distinct sensor ids")
        if cooperative is not None and any(s.sensor_id == COOPERATIVE_SOURCE for s in sites):
            raise ValueError(f"{COOPERATIVE_SOURCE!r} names vehicles' own reports, not a radar")
        self._sites = {site.sensor_id: (i, site) for i, site in enumerate(sites)}
        self._fields_of_view = FieldsOfView(sites)
        self._tracker = tracker
        self._attributes = attributes or TrackAttributes([s.sensor_id for s in sites])
        self._cooperative = cooperative
        self._settings = settings or IntersectionSettings()
        self._time_s: float | None = None
        self._cooperative_ids: dict[str, int] = {}
        self._rejected: Counter[str] = Counter()

    @property
    def sensor_ids(self) -> tuple[str, ...]:
        """The sources, in the order of the fused tracks' ``source_mask`` bits: the radars,
        then ``cooperative`` (vehicles' own reports) when the tracker fuses them."""
        radars = tuple(self._sites)
        return radars if self._cooperative is None else (*radars, COOPERATIVE_SOURCE)

    @property
    def time_s(self) -> float | None:
        """The time of the last cycle run."""
        return self._time_s

    @property
    def rejected(self) -> Mapping[str, int]:
        merged = Counter(self._tracker.rejected)
        merged.update(self._rejected)
        return {reason: count for reason, count in merged.items() if count}

    def step(self, scan: RadarScan) -> FusedTracks | None:
        """Run one cycle on ``scan``; return the fused tracks, or None when the scan was not
        usable (counted)."""
        entry = self._sites.get(scan.sensor_id)
        if entry is None:
            self._rejected["unknown_sensor"] += 1
            return None
        if not _consistent(scan):
            self._rejected["inconsistent_scan"] += 1
            return None
        if not math.isfinite(scan.time_s):
            self._rejected["non_finite_time"] += 1
            return None
        index, site = entry
        time_s, lateness = scan.time_s, 0.0
        if self._time_s is not None and time_s < self._time_s:
            lateness = self._time_s - time_s
            if lateness > self._settings.reset_after_s:
                self._rejected["clock_reset"] += 1
                self._tracker.reset()
                self._time_s, lateness = None, 0.0
            elif lateness > self._settings.max_lateness_s:
                self._rejected["late_scan"] += 1
                return None
            else:
                time_s = self._time_s
        with np.errstate(all="ignore"):
            detections, kept = self._detections(scan, site, lateness)
        confirmed = self._tracker.step(detections, time_s, lambda xy: self._counts_miss(xy, index))
        self._time_s = time_s
        assigned = self._tracker.assigned
        rows = kept[assigned.detection_rows]
        seen = Observations(
            track_ids=assigned.track_ids,
            object_class=scan.object_class[rows],
            length_m=scan.length_m[rows],
            width_m=scan.width_m[rows],
        )
        self._attributes.update(self._tracker.tracks.ids, time_s, index, seen)
        return self._fused(confirmed, time_s)

    def _counts_miss(self, positions: FloatArray, index: int) -> BoolArray:
        """Where radar number ``index`` not seeing a track is a miss: inside its field of view,
        or outside every radar's (a track that left them all is charged a miss by each radar,
        so it ends)."""
        covered = self._fields_of_view.covers(positions)
        counts: BoolArray = covered[index] | ~covered.any(axis=0)
        return counts

    def _detections(
        self, scan: RadarScan, site: RadarSite, lateness_s: float
    ) -> tuple[Detections, IntArray]:
        """The scan's usable reports in the local frame (moved forward by ``lateness_s``) and
        their rows in the scan."""
        x, y, vx, vy = scan.x_m, scan.y_m, scan.vx_mps, scan.vy_mps
        finite_v = np.isfinite(vx) & np.isfinite(vy)
        if finite_v.all():
            kept = np.arange(len(scan))
        else:
            self._rejected["non_finite_velocity"] += int((~finite_v).sum())
            kept = np.flatnonzero(finite_v)
            x, y, vx, vy = x[kept], y[kept], vx[kept], vy[kept]
        positions, velocities = site.to_local(x, y, vx, vy)
        covariances = site.noise.position_covariances(x, y, site.yaw_rad)
        if lateness_s > 0:
            positions = positions + velocities * lateness_s
            covariances = covariances + np.eye(2) * (site.noise.velocity_std_mps * lateness_s) ** 2
        return Detections(positions, covariances), kept

    def _fused(self, confirmed: TrackSet, time_s: float) -> FusedTracks:
        states, covariances = position_velocity(confirmed.means, confirmed.covariances)
        attrs = self._attributes.view(confirmed.ids, time_s)
        hits = _HITS_OF_BYTE[confirmed.hit_history & (1 << _HIT_RATIO_CYCLES) - 1]
        fused = FusedTracks(
            time_s=time_s,
            ids=confirmed.ids,
            states=states,
            covariances=covariances,
            object_class=attrs.object_class,
            length_m=attrs.length_m,
            width_m=attrs.width_m,
            age_s=np.maximum(time_s - attrs.birth_s, 0.0),
            coasting=(time_s - confirmed.last_update_s) > self._settings.coast_after_s,
            hit_ratio=hits / np.minimum(np.maximum(confirmed.ages + 1, 1), _HIT_RATIO_CYCLES),
            source_mask=attrs.source_mask,
            cooperative_ids=("",) * len(confirmed),
        )
        if self._cooperative is None:
            return fused
        return self._with_cooperative(fused)

    def _with_cooperative(self, fused: FusedTracks) -> FusedTracks:
        assert self._cooperative is not None
        match = self._cooperative.associate(
            fused.time_s, fused.ids, fused.states, fused.covariances
        )
        extra = list(match.unmatched)
        m = len(extra)
        if m == 0:
            return replace(
                fused,
                states=match.means,
                covariances=match.covariances,
                cooperative_ids=tuple(match.vehicle_ids),
            )
        states = np.empty((m, 4))
        covs = np.zeros((m, 4, 4))
        for row, report in enumerate(extra):
            states[row, :2], states[row, 2:] = report.position, report.velocity
            covs[row, :2, :2], covs[row, 2:, 2:] = (
                report.position_covariance,
                report.velocity_covariance,
            )
        ids = np.array([self._cooperative_id(r.vehicle_id) for r in extra], np.int64)
        return FusedTracks(
            time_s=fused.time_s,
            ids=np.concatenate((fused.ids, ids)),
            states=np.concatenate((match.means, states)),
            covariances=np.concatenate((match.covariances, covs)),
            object_class=np.concatenate(
                (fused.object_class, np.full(m, pb.OBJECT_CLASS_CAR, np.int64))
            ),
            length_m=np.concatenate((fused.length_m, [r.length_m for r in extra])),
            width_m=np.concatenate((fused.width_m, [r.width_m for r in extra])),
            age_s=np.concatenate((fused.age_s, np.zeros(m))),
            coasting=np.concatenate((fused.coasting, np.zeros(m, np.bool_))),
            hit_ratio=np.concatenate((fused.hit_ratio, np.ones(m))),
            source_mask=np.concatenate(
                (fused.source_mask, np.full(m, 1 << self.sensor_ids.index(COOPERATIVE_SOURCE)))
            ),
            cooperative_ids=tuple(match.vehicle_ids) + tuple(r.vehicle_id for r in extra),
        )

    def _cooperative_id(self, vehicle_id: str) -> int:
        """A stable object id for a vehicle seen only through its own reports."""
        known = self._cooperative_ids.get(vehicle_id)
        if known is None:
            known = COOPERATIVE_ID_BASE + len(self._cooperative_ids) % COOPERATIVE_ID_BASE
            self._cooperative_ids[vehicle_id] = known
        return known


def _consistent(scan: RadarScan) -> bool:
    n = len(scan)
    arrays = (scan.y_m, scan.vx_mps, scan.vy_mps, scan.object_class, scan.length_m, scan.width_m)
    return scan.x_m.ndim == 1 and all(a.shape == (n,) for a in arrays)
