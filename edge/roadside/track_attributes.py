"""What a track carries besides its state: object class and dimensions (with hysteresis, so a
car does not flicker into a truck for one radar cycle), birth time and the sensors seeing it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.tracking.track_set import FloatArray, IntArray
from protocols.schema.v1 import roadgate_pb2 as pb

N_CLASSES = max(pb.ObjectClass.values()) + 1
_NO_EVIDENCE = (pb.OBJECT_CLASS_UNSPECIFIED, pb.OBJECT_CLASS_UNKNOWN)


@dataclass(frozen=True, slots=True)
class AttributeSettings:
    """``class_decay``: each observation multiplies the older class votes by it;
    ``class_margin``: votes the leading class needs over the current one to replace it;
    ``size_gain``: weight of a new length/width observation; ``sources_window_s``: a sensor
    counts as a source while it updated the track this recently."""

    class_decay: float = 0.9
    class_margin: float = 2.0
    size_gain: float = 0.2
    sources_window_s: float = 1.0

    def __post_init__(self) -> None:
        ok = 0 < self.class_decay < 1 and self.class_margin >= 0 and 0 < self.size_gain <= 1
        if not (ok and self.sources_window_s > 0):
            raise ValueError(f"inconsistent attribute settings: {self}")


@dataclass(frozen=True, slots=True)
class Observations:
    """What detections said about the tracks they updated: rows (K,) of ``track_ids``."""

    track_ids: IntArray
    object_class: IntArray
    length_m: FloatArray
    width_m: FloatArray


@dataclass(frozen=True, slots=True)
class Attributes:
    """Per track row: class (``pb.ObjectClass``), length, width (0 = unknown), birth time and
    the sensors that updated it within the window (bit i: sensor number i)."""

    object_class: IntArray
    length_m: FloatArray
    width_m: FloatArray
    birth_s: FloatArray
    source_mask: IntArray


class TrackAttributes:
    """Keeps attributes by track id for the live tracks; forgets a track when it dies.

    Each per-track array has one row more than there are tracks: the last row is a blank
    track (nothing known, born now), so a gather by :meth:`_rows` (-1 for an unknown id)
    fills unknown tracks without a second pass.
    """

    def __init__(self, sensors: Sequence[str], settings: AttributeSettings | None = None) -> None:
        self._sensors = tuple(sensors)
        self._bits = 1 << np.arange(len(self._sensors), dtype=np.int64)
        self._settings = settings or AttributeSettings()
        self._ids = np.empty(0, np.int64)
        self._ascending = True  # ids in increasing order (the tracker numbers them so)
        self._votes = np.zeros((1, N_CLASSES))
        self._class = np.full(1, pb.OBJECT_CLASS_UNKNOWN, np.int64)
        self._size = np.zeros((1, 2))
        self._birth = np.zeros(1)
        self._last_hit = np.full((1, len(self._sensors)), -np.inf)

    def update(self, live_ids: IntArray, time_s: float, sensor: int, seen: Observations) -> None:
        """Keep the ``live_ids`` (new ones born at ``time_s``), then take ``seen``, made by
        sensor number ``sensor``."""
        self._align(live_ids, time_s)
        if seen.track_ids.size == 0:
            return
        rows = self._rows(seen.track_ids)
        cls, length, width = seen.object_class, seen.length_m, seen.width_m
        ok = rows >= 0
        if not ok.all():
            rows, cls, length, width = rows[ok], cls[ok], length[ok], width[ok]
        s = self._settings
        self._last_hit[rows, sensor] = time_s
        # Class votes: decay, add one for the observed class (an "unknown" says nothing).
        evidence = (cls >= 0) & (cls < N_CLASSES)
        for no_evidence in _NO_EVIDENCE:
            evidence &= cls != no_evidence
        voted = rows[evidence]
        self._votes[voted] *= s.class_decay
        self._votes[voted, cls[evidence]] += 1.0
        votes = self._votes.take(rows, axis=0)
        best = votes.argmax(axis=1)
        k = np.arange(rows.size)
        top = votes[k, best]
        current = self._class.take(rows)
        lead = top - votes[k, np.minimum(np.maximum(current, 0), N_CLASSES - 1)]
        undecided = current <= pb.OBJECT_CLASS_UNKNOWN
        switch = (best != current) & (top > 0)
        switch &= undecided | (lead > s.class_margin)
        self._class[rows[switch]] = best[switch]
        # Sizes: a plausible observation is taken whole at first, then smoothed in; an
        # implausible one (not finite, not positive, 50 m or more) leaves the size as it was.
        observed = np.empty((rows.size, 2))
        observed[:, 0], observed[:, 1] = length, width
        size = self._size.take(rows, axis=0)
        plausible = np.where((observed > 0) & (observed < 50), observed, size)  # NaN: not
        self._size[rows] = np.where(size > 0, size + s.size_gain * (plausible - size), plausible)

    def view(self, ids: IntArray, time_s: float) -> Attributes:
        """Return the attributes of the tracks ``ids`` (an unknown id: nothing known yet)."""
        r = self._rows(ids)
        self._birth[-1] = time_s
        # take, not fancy indexing: the same gather (-1 is the blank row) at less cost.
        size = self._size.take(r, axis=0)
        recent = (time_s - self._last_hit.take(r, axis=0)) <= self._settings.sources_window_s
        return Attributes(
            object_class=self._class.take(r),
            length_m=size[:, 0],
            width_m=size[:, 1],
            birth_s=self._birth.take(r),
            source_mask=recent @ self._bits,
        )

    def _align(self, live_ids: IntArray, time_s: float) -> None:
        if np.array_equal(live_ids, self._ids):
            return  # no track born or ended since the last cycle
        r = np.append(self._rows(live_ids), -1)  # and the blank row stays last
        self._birth[-1] = time_s
        self._votes, self._class = self._votes.take(r, axis=0), self._class.take(r)
        self._size, self._birth = self._size.take(r, axis=0), self._birth.take(r)
        self._last_hit = self._last_hit.take(r, axis=0)
        self._ids = live_ids.copy()
        self._ascending = bool((live_ids[1:] > live_ids[:-1]).all())

    def _rows(self, wanted: IntArray) -> IntArray:
        """Return the row of each of ``wanted`` (-1, the blank row, where not a live id)."""
        ids = self._ids
        if ids.size == 0:
            return np.full(wanted.shape, -1, np.int64)
        order = None if self._ascending else np.argsort(ids, kind="stable")
        sorted_ids = ids if order is None else ids[order]
        pos = np.searchsorted(sorted_ids, wanted)
        np.minimum(pos, ids.size - 1, out=pos)
        found = sorted_ids[pos] == wanted
        rows: IntArray = np.where(found, pos if order is None else order[pos], -1)
        return rows.astype(np.int64, copy=False)
