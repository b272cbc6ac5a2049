"""How precisely a radar measures, per sensor type: polar noise turned into the Cartesian
covariances the tracker weighs each detection by."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from edge.tracking.track_set import FloatArray


@dataclass(frozen=True, slots=True)
class RadarNoise:
    """1-sigma measurement errors of one radar type.

    ``range_std_m`` and ``azimuth_std_rad``: of an object's reported position (an object list
    reports a tracked box's reference point, so these are wider than the raw detection's);
    ``min_cross_range_std_m``: a floor across the beam (an object's extent, not the beam's
    angular error, limits it near the sensor); ``velocity_std_mps``: of each velocity component.
    """

    range_std_m: float
    azimuth_std_rad: float
    min_cross_range_std_m: float
    velocity_std_mps: float

    def __post_init__(self) -> None:
        values = (
            self.range_std_m,
            self.azimuth_std_rad,
            self.min_cross_range_std_m,
            self.velocity_std_mps,
        )
        if not all(math.isfinite(v) and v > 0 for v in values):
            raise ValueError(f"radar noise must be finite and positive: {self}")

    def position_covariances(self, x_m: FloatArray, y_m: FloatArray, yaw_rad: float) -> FloatArray:
        """Return the (M, 2, 2) east-north covariances of detections at sensor-frame ``x_m``
        (forward) and ``y_m`` (left) of a radar whose boresight is ``yaw_rad`` clockwise from
        north."""
        rng = np.hypot(x_m, y_m)
        bearing = np.arctan2(y_m, x_m)  # anticlockwise from boresight
        cross = np.maximum(rng * self.azimuth_std_rad, self.min_cross_range_std_m)
        # The beam's axes in east-north: boresight (sin yaw, cos yaw) turned by the bearing.
        angle = yaw_rad - bearing
        se, sn = np.sin(angle), np.cos(angle)  # along the beam; across it is (-sn, se)
        # range_std^2 along along^T + cross^2 across across^T, entry by entry (symmetric).
        range_var, cross_var = self.range_std_m**2, cross**2
        covariances: FloatArray = np.empty((rng.shape[0], 2, 2))
        covariances[:, 0, 0] = range_var * se * se + cross_var * sn * sn
        covariances[:, 1, 1] = range_var * sn * sn + cross_var * se * se
        covariances[:, 0, 1] = (range_var - cross_var) * se * sn
        covariances[:, 1, 0] = covariances[:, 0, 1]
        return covariances


RADAR_NOISE: Mapping[str, RadarNoise] = {
    # ARS408-21 datasheet: distance 0.4 m far / 0.1 m near range, azimuth 0.1-0.3 deg at
    # boresight widening to +-1 deg at the near field's edge; the object list's box reference
    # point wanders over a car's extent, hence the wider figures.
    "ars408": RadarNoise(
        range_std_m=0.4,
        azimuth_std_rad=math.radians(1.0),
        min_cross_range_std_m=0.3,
        velocity_std_mps=0.3,
    ),
    # Delphi ESR 2.5 datasheet: range +-0.5 m, azimuth +-0.5 deg (mid range) to +-1 deg.
    "delphi_esr": RadarNoise(
        range_std_m=0.5,
        azimuth_std_rad=math.radians(1.0),
        min_cross_range_std_m=0.4,
        velocity_std_mps=0.25,
    ),
}
"""The default noise of each radar kind the box config accepts; ``[[radar]] noise`` overrides."""
