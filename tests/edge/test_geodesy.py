"""edge.geodesy against pyproj (the reference), round trips, vectorisation and bad input."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TypeVar

import numpy as np
import pyproj
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from numpy.typing import ArrayLike

from edge.errors import EdgeError
from edge.geo import GeoPoint
from edge.geodesy import (
    WGS84_A_M,
    WGS84_F,
    FloatArray,
    GeodesyError,
    LocalFrame,
    ecef_to_enu,
    ecef_to_geodetic,
    enu_to_ecef,
    enu_to_geodetic,
    geodetic_to_ecef,
    geodetic_to_enu,
)

MM = 1e-3
ROUND_TRIP_M = 1e-6

TO_ECEF = pyproj.Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
FROM_ECEF = pyproj.Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)

latitudes = st.floats(-90.0, 90.0)
longitudes = st.floats(-180.0, 180.0)
altitudes = st.floats(-500.0, 9000.0)
origin_altitudes = st.floats(-500.0, 4000.0)
# A point within 10 km horizontally of an origin: bearing (rad), distance (m), altitude (m).
offsets = st.tuples(st.floats(0.0, math.tau), st.floats(0.0, 10_000.0), altitudes)
offset_lists = st.lists(offsets, min_size=1, max_size=12)

# Poles, the antimeridian from both sides, and the equator at the prime meridian.
SPECIAL_ORIGINS = [(90.0, 0.0), (-90.0, 123.0), (89.95, 179.999), (-0.01, -180.0), (0.0, 180.0)]


@lru_cache(maxsize=64)
def topocentric(lat0: float, lon0: float, h0: float) -> pyproj.Transformer:
    """pyproj's own geodetic (degrees, lon first) -> ENU about an origin, the reference."""
    return pyproj.Transformer.from_pipeline(
        "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
        "+step +proj=cart +ellps=WGS84 "
        f"+step +proj=topocentric +ellps=WGS84 +lat_0={lat0!r} +lon_0={lon0!r} +h_0={h0!r}"
    )


def points_around(
    lat0: float, lon0: float, h0: float, offs: list[tuple[float, float, float]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Geodetic points (lat, lon, h) within 10 km horizontally of the origin, placed by pyproj."""
    bearing = np.array([o[0] for o in offs])
    dist = np.array([o[1] for o in offs])
    alt = np.array([o[2] for o in offs])
    lon, lat, _ = topocentric(lat0, lon0, h0).transform(
        dist * np.sin(bearing), dist * np.cos(bearing), np.zeros_like(dist), direction="INVERSE"
    )
    return np.asarray(lat), np.asarray(lon), alt


def ecef_distance(a: Sequence[FloatArray], b: Sequence[FloatArray]) -> FloatArray:
    """Metric distance (m) between two sets of geodetic points, placed in ECEF by pyproj.

    Longitude is meaningless at a pole and wraps at the antimeridian; distance is not fooled.
    """
    xa = np.array(TO_ECEF.transform(a[1], a[0], a[2]))
    xb = np.array(TO_ECEF.transform(b[1], b[0], b[2]))
    return np.asarray(np.linalg.norm(xa - xb, axis=0))


def pyproj_enu(
    lat0: float, lon0: float, h0: float, lat: np.ndarray, lon: np.ndarray, h: np.ndarray
) -> np.ndarray:
    return np.array(topocentric(lat0, lon0, h0).transform(lon, lat, h))


Transform = Callable[[ArrayLike, ArrayLike, ArrayLike], tuple[FloatArray, FloatArray, FloatArray]]
Test = TypeVar("Test", bound=Callable[..., None])


def origin_examples(test: Test) -> Test:
    """Add the special origins, with a point 10 km away and one at the origin, as examples."""
    for lat0, lon0 in SPECIAL_ORIGINS:
        offs = [
            (0.3, 10_000.0, 9000.0),
            (0.0, 0.0, -500.0),
            (4.0, 7_000.0, 0.0),
            (math.pi / 2, 10_000.0, 250.0),  # due east: across the antimeridian from 179.999
            (math.pi, 10_000.0, 5000.0),  # due south
            (0.0, 10_000.0, 100.0),  # due north: across the pole from 89.95
        ]
        test = example(lat0, lon0, 100.0, offs)(test)
    return test


# --- against pyproj ---------------------------------------------------------------------------


@given(st.lists(st.tuples(latitudes, longitudes, altitudes), min_size=1, max_size=20))
@example([(90.0, 0.0, 0.0), (-90.0, 180.0, 9000.0), (0.0, -180.0, -500.0)])
def test_geodetic_to_ecef_agrees_with_pyproj(points: list[tuple[float, float, float]]) -> None:
    lat, lon, h = (np.array(c) for c in zip(*points, strict=True))
    ours = np.array(geodetic_to_ecef(lat, lon, h))
    ref = np.array(TO_ECEF.transform(lon, lat, h))
    assert np.max(np.linalg.norm(ours - ref, axis=0)) < MM


@given(st.lists(st.tuples(latitudes, longitudes, altitudes), min_size=1, max_size=20))
@example([(90.0, 0.0, 0.0), (-90.0, 180.0, 9000.0), (0.0, -180.0, -500.0), (1e-9, 0.0, 0.0)])
def test_ecef_to_geodetic_agrees_with_pyproj(points: list[tuple[float, float, float]]) -> None:
    lat, lon, h = (np.array(c) for c in zip(*points, strict=True))
    x, y, z = TO_ECEF.transform(lon, lat, h)
    ours = ecef_to_geodetic(x, y, z)
    ref_lon, ref_lat, ref_h = FROM_ECEF.transform(x, y, z)
    ref = (np.asarray(ref_lat), np.asarray(ref_lon), np.asarray(ref_h))
    assert np.max(ecef_distance(tuple(ours), ref)) < MM
    assert np.max(np.abs(ours.altitude_m - ref_h)) < MM
    assert np.all(np.abs(ours.latitude_deg) <= 90.0)
    assert np.all((ours.longitude_deg > -180.0) & (ours.longitude_deg <= 180.0))


@given(latitudes, longitudes, origin_altitudes, offset_lists)
@origin_examples
def test_geodetic_to_enu_agrees_with_pyproj_topocentric(
    lat0: float, lon0: float, h0: float, offs: list[tuple[float, float, float]]
) -> None:
    lat, lon, h = points_around(lat0, lon0, h0, offs)
    ours = np.array(geodetic_to_enu(lat, lon, h, lat0, lon0, h0))
    ref = pyproj_enu(lat0, lon0, h0, lat, lon, h)
    assert np.max(np.linalg.norm(ours - ref, axis=0)) < MM


@given(latitudes, longitudes, origin_altitudes, offset_lists)
@origin_examples
def test_enu_to_geodetic_agrees_with_pyproj_topocentric(
    lat0: float, lon0: float, h0: float, offs: list[tuple[float, float, float]]
) -> None:
    lat, lon, h = points_around(lat0, lon0, h0, offs)
    east, north, up = pyproj_enu(lat0, lon0, h0, lat, lon, h)
    ours = enu_to_geodetic(east, north, up, lat0, lon0, h0)
    assert np.max(ecef_distance(tuple(ours), (lat, lon, h))) < MM
    assert np.max(np.abs(ours.altitude_m - h)) < MM


@given(latitudes, longitudes, origin_altitudes, offset_lists)
@origin_examples
def test_ecef_enu_agree_with_pyproj_topocentric(
    lat0: float, lon0: float, h0: float, offs: list[tuple[float, float, float]]
) -> None:
    lat, lon, h = points_around(lat0, lon0, h0, offs)
    x, y, z = TO_ECEF.transform(lon, lat, h)
    ref = pyproj_enu(lat0, lon0, h0, lat, lon, h)
    ours = np.array(ecef_to_enu(x, y, z, lat0, lon0, h0))
    assert np.max(np.linalg.norm(ours - ref, axis=0)) < MM
    back = np.array(enu_to_ecef(ref[0], ref[1], ref[2], lat0, lon0, h0))
    assert np.max(np.linalg.norm(back - np.array([x, y, z]), axis=0)) < MM


# --- independent known values -------------------------------------------------------------------


def test_known_ecef_points_on_the_axes() -> None:
    b = WGS84_A_M * (1.0 - WGS84_F)
    cases = [
        ((0.0, 0.0, 0.0), (WGS84_A_M, 0.0, 0.0)),
        ((0.0, 90.0, 10.0), (0.0, WGS84_A_M + 10.0, 0.0)),
        ((0.0, 180.0, 0.0), (-WGS84_A_M, 0.0, 0.0)),
        ((90.0, 0.0, 0.0), (0.0, 0.0, b)),
        ((-90.0, 45.0, -20.0), (0.0, 0.0, -b + 20.0)),
    ]
    for (lat, lon, h), expected in cases:
        assert np.allclose(geodetic_to_ecef(lat, lon, h), expected, rtol=0.0, atol=1e-8)
        back = ecef_to_geodetic(*expected)
        assert math.isclose(float(back.latitude_deg), lat, abs_tol=1e-12)
        assert math.isclose(float(back.altitude_m), h, abs_tol=1e-8)
        if abs(lat) < 90.0:  # longitude is undefined on the polar axis
            assert math.isclose(float(back.longitude_deg), lon, abs_tol=1e-12)
    assert float(ecef_to_geodetic(0.0, 0.0, b).longitude_deg) == 0.0


def test_enu_axes_at_the_equator_and_prime_meridian() -> None:
    frame = LocalFrame.at(0.0, 0.0, 0.0)
    # East is +Y, north is +Z, up is +X in ECEF there.
    assert np.allclose(frame.enu_to_ecef(1.0, 0.0, 0.0), (WGS84_A_M, 1.0, 0.0), atol=1e-9)
    assert np.allclose(frame.enu_to_ecef(0.0, 1.0, 0.0), (WGS84_A_M, 0.0, 1.0), atol=1e-9)
    assert np.allclose(frame.enu_to_ecef(0.0, 0.0, 1.0), (WGS84_A_M + 1.0, 0.0, 0.0), atol=1e-9)
    assert np.allclose(frame.geodetic_to_enu(0.0, 0.0, 0.0), 0.0, atol=1e-9)


# --- round trips --------------------------------------------------------------------------------


@given(st.lists(st.tuples(latitudes, longitudes, altitudes), min_size=1, max_size=20))
@example([(90.0, 0.0, 0.0), (-90.0, 180.0, 9000.0), (0.0, -180.0, -500.0)])
def test_geodetic_ecef_round_trip(points: list[tuple[float, float, float]]) -> None:
    lat, lon, h = (np.array(c) for c in zip(*points, strict=True))
    ecef = geodetic_to_ecef(lat, lon, h)
    back = ecef_to_geodetic(*ecef)
    assert np.max(np.abs(back.altitude_m - h)) < ROUND_TRIP_M
    again = np.array(geodetic_to_ecef(*back))
    assert np.max(np.linalg.norm(again - np.array(ecef), axis=0)) < ROUND_TRIP_M


@given(latitudes, longitudes, origin_altitudes, offset_lists)
@origin_examples
def test_enu_round_trips(
    lat0: float, lon0: float, h0: float, offs: list[tuple[float, float, float]]
) -> None:
    frame = LocalFrame.at(lat0, lon0, h0)
    lat, lon, h = points_around(lat0, lon0, h0, offs)
    enu = frame.geodetic_to_enu(lat, lon, h)
    back = frame.enu_to_geodetic(*enu)
    assert np.max(np.abs(back.altitude_m - h)) < ROUND_TRIP_M
    assert np.max(np.linalg.norm(np.array(frame.geodetic_to_enu(*back)) - enu, axis=0)) < (
        ROUND_TRIP_M
    )
    ecef = frame.enu_to_ecef(*enu)
    assert np.max(np.linalg.norm(np.array(frame.ecef_to_enu(*ecef)) - enu, axis=0)) < (ROUND_TRIP_M)


# --- vectorisation ------------------------------------------------------------------------------


@given(latitudes, longitudes, origin_altitudes, st.lists(offsets, min_size=6, max_size=6))
@origin_examples
def test_vectorised_results_equal_the_scalar_loop(
    lat0: float, lon0: float, h0: float, offs: list[tuple[float, float, float]]
) -> None:
    lat, lon, h = (a.reshape(2, 3) for a in points_around(lat0, lon0, h0, offs))
    frame = LocalFrame.at(lat0, lon0, h0)
    ecef = geodetic_to_ecef(lat, lon, h)
    enu = frame.ecef_to_enu(*ecef)
    functions: list[tuple[Transform, Sequence[FloatArray]]] = [
        (geodetic_to_ecef, (lat, lon, h)),
        (ecef_to_geodetic, ecef),
        (frame.ecef_to_enu, ecef),
        (frame.enu_to_ecef, enu),
        (frame.geodetic_to_enu, (lat, lon, h)),
        (frame.enu_to_geodetic, enu),
    ]
    for function, args in functions:
        batch = function(*args)
        for out in batch:
            assert out.shape == (2, 3)
            assert out.dtype == np.float64
        for index in np.ndindex(2, 3):
            single = function(*(float(a[index]) for a in args))
            for out, one in zip(batch, single, strict=True):
                assert one.shape == ()
                assert out[index] == one, (function, index)


def test_scalars_broadcast_against_arrays() -> None:
    lat = np.array([[10.0], [20.0]])
    lon = np.array([1.0, 2.0, 3.0])
    x, y, z = geodetic_to_ecef(lat, lon, 5.0)
    assert x.shape == y.shape == z.shape == (2, 3)
    assert z[1, 2] == geodetic_to_ecef(20.0, 3.0, 5.0).z_m


# --- frames and bad input -----------------------------------------------------------------------


@given(latitudes, longitudes, origin_altitudes)
def test_frame_rotation_is_orthonormal_and_read_only(lat0: float, lon0: float, h0: float) -> None:
    frame = LocalFrame.at(lat0, lon0, h0)
    assert np.allclose(frame.rotation @ frame.rotation.T, np.eye(3), atol=1e-15)
    assert math.isclose(float(np.linalg.det(frame.rotation)), 1.0, abs_tol=1e-15)
    with pytest.raises(ValueError, match="read-only"):
        frame.rotation[0, 0] = 1.0


def test_frame_of_a_geo_point_equals_the_frame_at_its_coordinates() -> None:
    point = GeoPoint(34.2235, 108.8905, 410.0)
    assert LocalFrame.of(point) == LocalFrame.at(34.2235, 108.8905, 410.0)
    assert LocalFrame.of(point) != LocalFrame.at(34.2235, 108.8905, 411.0)


BAD = [math.nan, math.inf, -math.inf]


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("position", [0, 1, 2])
def test_non_finite_input_raises(bad: float, position: int) -> None:
    frame = LocalFrame.at(45.0, 7.0, 200.0)
    good_geodetic = [45.0, 7.0, 200.0]
    good_ecef = [float(c) for c in geodetic_to_ecef(*good_geodetic)]
    good_enu = [10.0, -20.0, 3.0]
    functions: list[tuple[Transform, Sequence[float]]] = [
        (geodetic_to_ecef, good_geodetic),
        (ecef_to_geodetic, good_ecef),
        (frame.ecef_to_enu, good_ecef),
        (frame.enu_to_ecef, good_enu),
        (frame.geodetic_to_enu, good_geodetic),
        (frame.enu_to_geodetic, good_enu),
    ]
    for function, good in functions:
        args = [np.array([float(g), float(g)]) for g in good]
        args[position][1] = bad
        with pytest.raises(GeodesyError, match="non-finite"):
            function(*args)
        with pytest.raises(GeodesyError, match="non-finite"):
            function(*[bad if i == position else float(g) for i, g in enumerate(good)])
    origin = [45.0, 7.0, 200.0]
    origin[position] = bad
    with pytest.raises(GeodesyError, match="non-finite"):
        LocalFrame.at(*origin)
    with pytest.raises(GeodesyError, match="non-finite"):
        geodetic_to_enu(45.0, 7.0, 0.0, *origin)


@pytest.mark.parametrize("latitude", [90.000001, -90.5, 180.0, -1e9])
def test_latitude_beyond_the_poles_raises(latitude: float) -> None:
    with pytest.raises(GeodesyError, match="latitude"):
        geodetic_to_ecef(np.array([0.0, latitude]), 0.0, 0.0)
    with pytest.raises(GeodesyError, match="latitude"):
        LocalFrame.at(latitude, 0.0)
    with pytest.raises(GeodesyError, match="latitude"):
        enu_to_geodetic(0.0, 0.0, 0.0, latitude, 0.0)


def test_a_point_at_the_earths_centre_raises() -> None:
    with pytest.raises(GeodesyError, match="centre"):
        ecef_to_geodetic(np.array([WGS84_A_M, 1_000.0]), 0.0, 0.0)
    with pytest.raises(GeodesyError, match="centre"):
        enu_to_geodetic(0.0, 0.0, -WGS84_A_M, 0.0, 0.0)


def test_unbroadcastable_input_raises() -> None:
    with pytest.raises(GeodesyError, match="broadcastable"):
        geodetic_to_ecef(np.zeros(2), np.zeros(3), 0.0)


def test_geodesy_error_is_a_value_error_and_an_edge_error() -> None:
    assert issubclass(GeodesyError, ValueError)
    assert issubclass(GeodesyError, EdgeError)
