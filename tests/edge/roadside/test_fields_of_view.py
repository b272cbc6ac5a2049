"""Which radar covers which point: the slope-and-square test agrees with the polar definition
(range within the reach, bearing within the half angle, well ahead of the radar)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from edge.roadside.radar_noise import RADAR_NOISE
from edge.roadside.radar_site import (
    COVERAGE_MARGIN_M,
    COVERAGE_MARGIN_RAD,
    Beam,
    FieldsOfView,
    RadarSite,
)

beams = st.lists(
    st.builds(Beam, st.floats(0.0, 300.0), st.floats(0.0, math.radians(120))),
    min_size=1,
    max_size=3,
).map(tuple)
sites = st.builds(
    RadarSite,
    sensor_id=st.just("r"),
    east_m=st.floats(-50, 50),
    north_m=st.floats(-50, 50),
    height_m=st.just(5.0),
    yaw_rad=st.floats(-math.pi, math.pi),
    noise=st.just(RADAR_NOISE["ars408"]),
    beams=beams,
)


def polar_covers(site: RadarSite, points: np.ndarray) -> np.ndarray:
    """The definition, point by point; None where a point is within rounding of an edge."""
    out: list[bool | None] = []
    s, c = math.sin(site.yaw_rad), math.cos(site.yaw_rad)
    for east, north in points - (site.east_m, site.north_m):
        x, y = east * s + north * c, -east * c + north * s
        r, bearing = math.hypot(x, y), abs(math.atan2(y, x))
        edges = [x - COVERAGE_MARGIN_M]
        for beam in site.beams:
            edges += [beam.max_range_m - COVERAGE_MARGIN_M - r]
            edges += [beam.half_angle_rad - COVERAGE_MARGIN_RAD - bearing]
        if min(abs(e) for e in edges) < 1e-6:
            out.append(None)
            continue
        inside = any(
            r <= b.max_range_m - COVERAGE_MARGIN_M
            and bearing <= b.half_angle_rad - COVERAGE_MARGIN_RAD
            for b in site.beams
        )
        out.append(inside and x > COVERAGE_MARGIN_M)
    return np.array(out, dtype=object)


@given(st.lists(sites, min_size=1, max_size=4), st.integers(0, 2**32 - 1))
def test_each_site_covers_what_its_beams_reach(chosen: list[RadarSite], seed: int) -> None:
    points = np.random.default_rng(seed).uniform(-350, 350, (200, 2))
    covered = FieldsOfView(chosen).covers(points)
    assert covered.shape == (len(chosen), len(points))
    for row, site in zip(covered, chosen, strict=True):
        expected = polar_covers(site, points)
        sure = expected != None  # noqa: E711 (an object array: element-wise)
        assert (row[sure] == expected[sure].astype(bool)).all()


def test_a_point_straight_ahead_within_reach_is_covered_and_one_behind_is_not() -> None:
    site = RadarSite("r", 0.0, 0.0, 5.0, 0.0, RADAR_NOISE["ars408"], (Beam(70.0, 0.5),))
    ahead, behind, beyond = (0.0, 40.0), (0.0, -40.0), (0.0, 80.0)
    assert site.covers(np.array([ahead, behind, beyond])).tolist() == [True, False, False]
