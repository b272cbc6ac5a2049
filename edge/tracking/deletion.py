"""Track deletion: after too many consecutive misses, or once the position is too uncertain."""

from __future__ import annotations

from dataclasses import dataclass

from edge.tracking.track_set import BoolArray, TrackSet


@dataclass(frozen=True, slots=True)
class MissDeleter:
    """Deletes a track after ``max_misses`` consecutive cycles without a detection, or when the
    trace of its position covariance exceeds ``max_position_variance_m2`` (a track coasting
    that long says nothing useful about where the object is) or is not finite. (A track whose
    state is not finite anywhere else is the tracker's to drop and count: it checks every
    track before asking the deleter.)"""

    max_misses: int = 5
    max_position_variance_m2: float = 100.0

    def __post_init__(self) -> None:
        if self.max_misses < 1 or not self.max_position_variance_m2 > 0:
            raise ValueError(f"inconsistent deleter settings: {self}")

    def keep(self, tracks: TrackSet) -> BoolArray:
        """Return the mask (N,) of tracks to keep."""
        p = tracks.covariances
        position_variance = p[:, 0, 0] + p[:, 1, 1]  # NaN compares false: deleted
        keep: BoolArray = (tracks.misses < self.max_misses) & (
            position_variance <= self.max_position_variance_m2
        )
        return keep
