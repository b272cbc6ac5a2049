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
    the sensors that updated it within the window."""

    object_class: IntArray
    length_m: FloatArray
    width_m: FloatArray
    birth_s: FloatArray
    sources: tuple[tuple[str, ...], ...]


class TrackAttributes:
    """Keeps attributes by track id for the live tracks; forgets a track when it dies."""

    def __init__(self, sensors: Sequence[str], settings: AttributeSettings | None = None) -> None:
        self._sensors = tuple(sensors)
        # Every subset of the sensors, by bit mask: the sources of a track in one lookup.
        self._subsets = tuple(
            tuple(name for k, name in enumerate(self._sensors) if mask >> k & 1)
            for mask in range(1 << len(self._sensors))
        )
        self._bits = 1 << np.arange(len(self._sensors), dtype=np.int64)
        self._settings = settings or AttributeSettings()
        self._ids = np.empty(0, np.int64)
        self._votes = np.empty((0, N_CLASSES))
        self._class = np.empty(0, np.int64)
        self._size = np.empty((0, 2))
        self._birth = np.empty(0)
        self._last_hit = np.empty((0, len(self._sensors)))

    def update(self, live_ids: IntArray, time_s: float, sensor: int, seen: Observations) -> None:
        """Keep the ``live_ids`` (new ones born at ``time_s``), then take ``seen``, made by
        sensor number ``sensor``."""
        self._align(live_ids, time_s)
        if seen.track_ids.size == 0:
            return
        rows = _rows_of(self._ids, seen.track_ids)
        ok = rows >= 0
        rows, cls = rows[ok], seen.object_class[ok]
        length, width = seen.length_m[ok], seen.width_m[ok]
        s = self._settings
        self._last_hit[rows, sensor] = time_s
        # Class votes: decay, add one for the observed class (an "unknown" says nothing).
        evidence = (cls >= 0) & (cls < N_CLASSES) & ~np.isin(cls, _NO_EVIDENCE)
        self._votes[rows[evidence]] *= s.class_decay
        self._votes[rows[evidence], cls[evidence]] += 1.0
        best = self._votes[rows].argmax(axis=1)
        current = self._class[rows]
        lead = self._votes[rows, best] - self._votes[rows, np.clip(current, 0, N_CLASSES - 1)]
        undecided = current <= pb.OBJECT_CLASS_UNKNOWN
        switch = (best != current) & (self._votes[rows, best] > 0)
        switch &= undecided | (lead > s.class_margin)
        self._class[rows[switch]] = best[switch]
        for axis, values in enumerate((length, width)):
            good = np.isfinite(values) & (values > 0) & (values < 50)
            r, v = rows[good], values[good]
            old = self._size[r, axis]
            self._size[r, axis] = np.where(old > 0, old + s.size_gain * (v - old), v)

    def view(self, ids: IntArray, time_s: float) -> Attributes:
        """Return the attributes of the tracks ``ids`` (an unknown id: nothing known yet)."""
        rows = _rows_of(self._ids, ids)
        known = rows >= 0
        n = ids.size
        cls = np.full(n, pb.OBJECT_CLASS_UNKNOWN, np.int64)
        size = np.zeros((n, 2))
        birth = np.full(n, time_s)
        recent = np.zeros((n, len(self._sensors)), np.bool_)
        r = rows[known]
        cls[known], size[known], birth[known] = self._class[r], self._size[r], self._birth[r]
        recent[known] = (time_s - self._last_hit[r]) <= self._settings.sources_window_s
        return Attributes(
            object_class=cls,
            length_m=size[:, 0],
            width_m=size[:, 1],
            birth_s=birth,
            sources=tuple(self._subsets[mask] for mask in (recent @ self._bits).tolist()),
        )

    def _align(self, live_ids: IntArray, time_s: float) -> None:
        rows = _rows_of(self._ids, live_ids)
        known = rows >= 0
        r = rows[known]
        n = live_ids.size
        votes = np.zeros((n, N_CLASSES))
        cls = np.full(n, pb.OBJECT_CLASS_UNKNOWN, np.int64)
        size = np.zeros((n, 2))
        birth = np.full(n, time_s)
        last_hit = np.full((n, len(self._sensors)), -np.inf)
        votes[known], cls[known], size[known] = self._votes[r], self._class[r], self._size[r]
        birth[known], last_hit[known] = self._birth[r], self._last_hit[r]
        self._ids = live_ids.copy()
        self._votes, self._class, self._size = votes, cls, size
        self._birth, self._last_hit = birth, last_hit


def _rows_of(ids: IntArray, wanted: IntArray) -> IntArray:
    """Return the row of each of ``wanted`` in ``ids`` (unique), -1 where absent."""
    if ids.size == 0:
        return np.full(wanted.shape, -1, np.int64)
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    pos = np.clip(np.searchsorted(sorted_ids, wanted), 0, ids.size - 1)
    found = sorted_ids[pos] == wanted
    return np.where(found, order[pos], -1).astype(np.int64)
