"""The state of every track at once, held as arrays indexed by track row."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

NO_ID = -1
"""The id of a track an initiator has just created; the tracker numbers it."""


@dataclass(frozen=True, slots=True)
class TrackSet:
    """N tracks of state dimension d; every array's first axis is the track row.

    ``ids`` (N,) int64, stable over a track's life; ``means`` (N, d); ``covariances`` (N, d, d);
    ``time_s`` (N,) the time the mean refers to; ``last_update_s`` (N,) the time of the last
    detection assigned; ``ages`` (N,) cycles since birth; ``hit_history`` (N,) int64 bit mask,
    bit 0 the latest cycle (1 = a detection was assigned); ``misses`` (N,) consecutive misses;
    ``confirmed`` (N,) bool.
    """

    ids: IntArray
    means: FloatArray
    covariances: FloatArray
    time_s: FloatArray
    last_update_s: FloatArray
    ages: IntArray
    hit_history: IntArray
    misses: IntArray
    confirmed: BoolArray

    @classmethod
    def empty(cls, dim: int) -> TrackSet:
        """Return a set of no tracks of state dimension ``dim``."""
        return cls(
            ids=np.empty(0, np.int64),
            means=np.empty((0, dim)),
            covariances=np.empty((0, dim, dim)),
            time_s=np.empty(0),
            last_update_s=np.empty(0),
            ages=np.empty(0, np.int64),
            hit_history=np.empty(0, np.int64),
            misses=np.empty(0, np.int64),
            confirmed=np.empty(0, np.bool_),
        )

    @classmethod
    def born(cls, means: FloatArray, covariances: FloatArray, time_s: float) -> TrackSet:
        """Return new tentative tracks (id :data:`NO_ID`, one hit) with these states at a time."""
        n = means.shape[0]
        return cls(
            ids=np.full(n, NO_ID, np.int64),
            means=means,
            covariances=covariances,
            time_s=np.full(n, time_s),
            last_update_s=np.full(n, time_s),
            ages=np.zeros(n, np.int64),
            hit_history=np.ones(n, np.int64),
            misses=np.zeros(n, np.int64),
            confirmed=np.zeros(n, np.bool_),
        )

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def dim(self) -> int:
        """The state dimension d."""
        return int(self.means.shape[1])

    def select(self, rows: BoolArray | IntArray) -> TrackSet:
        """Return the tracks at ``rows`` (a boolean mask or row indices), in that order.

        Raises:
            IndexError: a mask not of one flag per track, or a row out of range.
        """
        if rows.dtype == np.bool_:
            if rows.shape != self.ids.shape:
                raise IndexError(f"a mask of shape {rows.shape} for {len(self)} tracks")
            rows = rows.nonzero()[0]  # once, not once per array
            if rows.size == len(self):
                # Every track kept (most cycles): the same arrays, as nothing writes a
                # TrackSet's arrays in place.
                return self
        return TrackSet(
            ids=self.ids.take(rows, axis=0),
            means=self.means.take(rows, axis=0),
            covariances=self.covariances.take(rows, axis=0),
            time_s=self.time_s.take(rows, axis=0),
            last_update_s=self.last_update_s.take(rows, axis=0),
            ages=self.ages.take(rows, axis=0),
            hit_history=self.hit_history.take(rows, axis=0),
            misses=self.misses.take(rows, axis=0),
            confirmed=self.confirmed.take(rows, axis=0),
        )

    def concat(self, other: TrackSet) -> TrackSet:
        """Return these tracks followed by ``other``'s.

        Raises:
            ValueError: the state dimensions differ.
        """
        if other.dim != self.dim:
            raise ValueError(f"cannot join tracks of dimension {self.dim} and {other.dim}")
        return TrackSet(
            ids=np.concatenate((self.ids, other.ids)),
            means=np.concatenate((self.means, other.means)),
            covariances=np.concatenate((self.covariances, other.covariances)),
            time_s=np.concatenate((self.time_s, other.time_s)),
            last_update_s=np.concatenate((self.last_update_s, other.last_update_s)),
            ages=np.concatenate((self.ages, other.ages)),
            hit_history=np.concatenate((self.hit_history, other.hit_history)),
            misses=np.concatenate((self.misses, other.misses)),
            confirmed=np.concatenate((self.confirmed, other.confirmed)),
        )

    def replace(self, **arrays: npt.NDArray[np.generic]) -> TrackSet:
        """Return a copy with the named arrays replaced (same rows)."""
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        fields.update(arrays)
        return TrackSet(**fields)
