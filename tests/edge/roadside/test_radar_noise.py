"""A radar detection's east-north covariance: the range variance along the line of sight and
the cross-range variance across it, rotated into east-north."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from edge.roadside.radar_noise import RADAR_NOISE


@given(
    st.sampled_from(sorted(RADAR_NOISE)),
    st.floats(-math.pi, math.pi),
    st.lists(st.tuples(st.floats(0.5, 250), st.floats(-100, 100)), min_size=1, max_size=20),
)
def test_the_covariance_is_the_polar_one_rotated_into_east_north(
    kind: str, yaw_rad: float, points: list[tuple[float, float]]
) -> None:
    noise = RADAR_NOISE[kind]
    x, y = np.array(points).T
    got = noise.position_covariances(x, y, yaw_rad)
    for (xi, yi), c in zip(points, got, strict=True):
        r, bearing = math.hypot(xi, yi), math.atan2(yi, xi)
        cross_std = max(r * noise.azimuth_std_rad, noise.min_cross_range_std_m)
        heading = yaw_rad - bearing  # of the line of sight, clockwise from north
        along = np.array([math.sin(heading), math.cos(heading)])
        across = np.array([-along[1], along[0]])
        rotation = np.column_stack((along, across))
        polar = np.diag([noise.range_std_m**2, cross_std**2])
        np.testing.assert_allclose(c, rotation @ polar @ rotation.T, rtol=1e-12, atol=1e-15)
        assert c[0, 1] == c[1, 0]
