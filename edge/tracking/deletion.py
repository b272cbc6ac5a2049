"""Track deletion: after too many consecutive misses, or once the position is too uncertain."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.tracking.track_set import BoolArray, TrackSet


@dataclass(frozen=True, slots=True)
class MissDeleter:
    """Deletes a track after ``max_misses`` consecutive cycles without a detection, or when the
    trace of its position covariance exceeds ``max_position_variance_m2`` (a track coasting
    that long says nothing useful about where the object is), or when its state is not finite."""

    max_misses: int = 5
    max_position_variance_m2: float = 100.0

    def __post_init__(self) -> None:
        if self.max_misses < 1 or not self.max_position_variance_m2 > 0:
            raise ValueError(f"inconsistent deleter settings: {self}")

    def keep(self, tracks: TrackSet) -> BoolArray:
        """Return the mask (N,) of tracks to keep."""
        p = tracks.covariances
        position_variance = p[:, 0, 0] + p[:, 1, 1]
        finite = np.isfinite(tracks.means).all(axis=1) & np.isfinite(p).all(axis=(1, 2))
        keep: BoolArray = (
            finite
            & (tracks.misses < self.max_misses)
            & (position_variance <= self.max_position_variance_m2)
        )
        return keep
