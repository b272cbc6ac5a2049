"""WGS84 geodesy: geodetic <-> ECEF <-> local east-north-up (ENU), vectorised over numpy arrays.

Every function takes scalars or arrays of any shape (broadcast together) and returns float64
arrays of the broadcast shape (0-d arrays for scalar input). Angles are degrees at the API and
radians inside; lengths are metres. ``edge.geo`` keeps its flat-earth helpers for the callers that
use them today; this module is exact on the ellipsoid and is what the tracker builds on.

ECEF to geodetic uses Vermeille's closed form (H. Vermeille, "Direct transformation from
geocentric coordinates to geodetic coordinates", J. Geodesy 76, 2002): no iteration count or
convergence test to choose and no branches, so it vectorises as straight-line numpy, and it is
exact to rounding (micrometres and better) for any point outside the ellipsoid's evolute, a region
within about 43 km of the Earth's centre, poles and equatorial plane included. Bowring's method
needs one or two iterations for the same accuracy and Heikkinen's closed form costs as much
without Vermeille's well-stated domain of validity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from edge.errors import EdgeError
from edge.geo import GeoPoint

FloatArray = NDArray[np.float64]

WGS84_A_M = 6_378_137.0
"""Semi-major axis, metres."""
WGS84_F = 1.0 / 298.257_223_563
"""Flattening."""
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)
"""First eccentricity squared."""
_E4 = WGS84_E2 * WGS84_E2

MIN_ECEF_RADIUS_M = 100_000.0
"""ECEF points closer than this to the Earth's centre are refused: Vermeille's formula does not
hold inside the evolute (within about 43 km of the centre), and no road is down there."""


class GeodesyError(EdgeError, ValueError):
    """Coordinates that cannot be transformed: non-finite, |latitude| > 90, or the Earth's centre.

    A ``ValueError`` too, since that is what bad input is.
    """


class Geodetic(NamedTuple):
    """WGS84 geodetic coordinates: degrees, degrees, metres above the ellipsoid."""

    latitude_deg: FloatArray
    longitude_deg: FloatArray
    altitude_m: FloatArray


class Ecef(NamedTuple):
    """Earth-centred, Earth-fixed WGS84 coordinates (EPSG:4978), metres."""

    x_m: FloatArray
    y_m: FloatArray
    z_m: FloatArray


class Enu(NamedTuple):
    """Local east, north, up about an origin, metres."""

    east_m: FloatArray
    north_m: FloatArray
    up_m: FloatArray


def _finite3(a: ArrayLike, b: ArrayLike, c: ArrayLike, what: str) -> tuple[FloatArray, ...]:
    """The three inputs as broadcast float64 arrays; raises GeodesyError if any is not finite."""
    if (
        type(a) is np.ndarray
        and type(b) is np.ndarray
        and type(c) is np.ndarray
        and a.dtype == b.dtype == c.dtype == np.float64
        and a.shape == b.shape == c.shape
    ):
        # Already three float64 arrays of one shape (a batch of tracks, say): the conversion
        # and broadcast would return them unchanged and cost more than the arithmetic.
        if not (np.isfinite(a).all() and np.isfinite(b).all() and np.isfinite(c).all()):
            raise GeodesyError(f"{what}: non-finite value")
        return a, b, c
    try:
        arrays = np.broadcast_arrays(
            np.asarray(a, dtype=np.float64),
            np.asarray(b, dtype=np.float64),
            np.asarray(c, dtype=np.float64),
        )
    except (TypeError, ValueError) as exc:
        raise GeodesyError(f"{what}: not three broadcastable numeric arrays ({exc})") from exc
    for arr in arrays:
        if not np.all(np.isfinite(arr)):
            raise GeodesyError(f"{what}: non-finite value")
    return tuple(arrays)


def _check_latitude(latitude_deg: FloatArray) -> None:
    if np.any(np.abs(latitude_deg) > 90.0):
        raise GeodesyError("latitude outside [-90, 90] degrees")


def geodetic_to_ecef(
    latitude_deg: ArrayLike, longitude_deg: ArrayLike, altitude_m: ArrayLike
) -> Ecef:
    """WGS84 latitude/longitude (degrees) and ellipsoidal height (m) to ECEF (m).

    Any longitude is accepted (it wraps). Raises GeodesyError (a ValueError) on a non-finite
    input or |latitude| > 90.
    """
    lat_deg, lon_deg, h = _finite3(latitude_deg, longitude_deg, altitude_m, "geodetic_to_ecef")
    _check_latitude(lat_deg)
    lat = np.radians(lat_deg)
    lon = np.radians(lon_deg)
    sin_lat, cos_lat = np.sin(lat), np.cos(lat)
    n = WGS84_A_M / np.sqrt(1.0 - WGS84_E2 * sin_lat * sin_lat)  # prime vertical radius
    return Ecef(
        np.asarray((n + h) * cos_lat * np.cos(lon)),
        np.asarray((n + h) * cos_lat * np.sin(lon)),
        np.asarray((n * (1.0 - WGS84_E2) + h) * sin_lat),
    )


def ecef_to_geodetic(x_m: ArrayLike, y_m: ArrayLike, z_m: ArrayLike) -> Geodetic:
    """ECEF (m) to WGS84 latitude, longitude in (-180, 180] (degrees) and ellipsoidal height (m).

    Vermeille's closed form (see the module docstring). On the polar axis the longitude is 0.
    Raises GeodesyError (a ValueError) on a non-finite input or a point within
    ``MIN_ECEF_RADIUS_M`` of the Earth's centre.
    """
    x, y, z = _finite3(x_m, y_m, z_m, "ecef_to_geodetic")
    rho2 = x * x + y * y
    if np.any(rho2 + z * z < MIN_ECEF_RADIUS_M * MIN_ECEF_RADIUS_M):
        raise GeodesyError(f"ECEF point within {MIN_ECEF_RADIUS_M:.0f} m of the Earth's centre")
    rho = np.sqrt(rho2)
    p = rho2 / (WGS84_A_M * WGS84_A_M)
    q = (1.0 - WGS84_E2) * z * z / (WGS84_A_M * WGS84_A_M)
    r = (p + q - _E4) / 6.0
    s = _E4 * p * q / (4.0 * r * r * r)
    t = np.cbrt(1.0 + s + np.sqrt(s * (2.0 + s)))
    u = r * (1.0 + t + 1.0 / t)
    v = np.sqrt(u * u + _E4 * q)
    w = WGS84_E2 * (u + v - q) / (2.0 * v)
    k = np.sqrt(u + v + w * w) - w
    d = k * rho / (k + WGS84_E2)
    hyp = np.sqrt(d * d + z * z)
    # Half-angle forms: stable at the poles (d = 0) and on the equator (z = 0) alike.
    lat = 2.0 * np.arctan2(z, d + hyp)
    lon_deg = np.degrees(np.arctan2(y, x))
    # atan2 gives -180 for y = -0.0 and a sign-of-zero answer on the axis: keep one convention.
    lon_deg = np.where(lon_deg == -180.0, 180.0, lon_deg)
    lon_deg = np.where(rho2 == 0.0, 0.0, lon_deg)
    h = (k + WGS84_E2 - 1.0) / k * hyp
    return Geodetic(
        np.asarray(np.degrees(lat)), np.asarray(lon_deg), np.asarray(h, dtype=np.float64)
    )


def _rotation(latitude_deg: float, longitude_deg: float) -> FloatArray:
    """The ECEF -> ENU rotation at a geodetic latitude/longitude (rows: east, north, up)."""
    lat, lon = np.radians(latitude_deg), np.radians(longitude_deg)
    sl, cl = np.sin(lat), np.cos(lat)
    so, co = np.sin(lon), np.cos(lon)
    rot = np.array(
        [
            [-so, co, 0.0],
            [-sl * co, -sl * so, cl],
            [cl * co, cl * so, sl],
        ],
        dtype=np.float64,
    )
    rot.setflags(write=False)
    return rot


@dataclass(frozen=True, slots=True)
class LocalFrame:
    """A local east-north-up frame tangent to the WGS84 ellipsoid at an origin.

    Build it with ``LocalFrame.at`` or ``LocalFrame.of``; it holds the origin (degrees, metres),
    the origin in ECEF and the ECEF -> ENU rotation, so converting a batch of points costs only
    the arithmetic on the points. Frames compare equal when their origins are equal.
    """

    latitude_deg: float
    longitude_deg: float
    altitude_m: float
    origin_ecef_m: tuple[float, float, float] = field(repr=False, compare=False)
    rotation: FloatArray = field(repr=False, compare=False)
    """ECEF -> ENU rotation matrix (rows: east, north, up); read-only."""

    @classmethod
    def at(cls, latitude_deg: float, longitude_deg: float, altitude_m: float = 0.0) -> LocalFrame:
        """The frame at an origin in degrees and metres above the ellipsoid.

        Raises GeodesyError (a ValueError) on a non-finite origin or |latitude| > 90.
        """
        x, y, z = geodetic_to_ecef(latitude_deg, longitude_deg, altitude_m)
        lat, lon, h = float(latitude_deg), float(longitude_deg), float(altitude_m)
        return cls(lat, lon, h, (float(x), float(y), float(z)), _rotation(lat, lon))

    @classmethod
    def of(cls, origin: GeoPoint) -> LocalFrame:
        """The frame at a ``GeoPoint`` (its altitude taken as height above the ellipsoid)."""
        return cls.at(origin.latitude_deg, origin.longitude_deg, origin.altitude_m)

    def ecef_to_enu(self, x_m: ArrayLike, y_m: ArrayLike, z_m: ArrayLike) -> Enu:
        """ECEF points (m) to east/north/up (m) in this frame. Raises GeodesyError if non-finite."""
        x, y, z = _finite3(x_m, y_m, z_m, "ecef_to_enu")
        x0, y0, z0 = self.origin_ecef_m
        dx, dy, dz = x - x0, y - y0, z - z0
        r = self.rotation
        return Enu(
            np.asarray(r[0, 0] * dx + r[0, 1] * dy),  # r[0, 2] is exactly 0
            np.asarray(r[1, 0] * dx + r[1, 1] * dy + r[1, 2] * dz),
            np.asarray(r[2, 0] * dx + r[2, 1] * dy + r[2, 2] * dz),
        )

    def enu_to_ecef(self, east_m: ArrayLike, north_m: ArrayLike, up_m: ArrayLike) -> Ecef:
        """East/north/up (m) in this frame to ECEF (m). Raises GeodesyError if non-finite."""
        e, n, u = _finite3(east_m, north_m, up_m, "enu_to_ecef")
        x0, y0, z0 = self.origin_ecef_m
        r = self.rotation  # orthonormal: its inverse is its transpose
        return Ecef(
            np.asarray(x0 + (r[0, 0] * e + r[1, 0] * n + r[2, 0] * u)),
            np.asarray(y0 + (r[0, 1] * e + r[1, 1] * n + r[2, 1] * u)),
            np.asarray(z0 + (r[1, 2] * n + r[2, 2] * u)),
        )

    def geodetic_to_enu(
        self, latitude_deg: ArrayLike, longitude_deg: ArrayLike, altitude_m: ArrayLike
    ) -> Enu:
        """WGS84 points (degrees, m) to east/north/up (m) in this frame.

        Raises GeodesyError (a ValueError) on a non-finite input or |latitude| > 90.
        """
        return self.ecef_to_enu(*geodetic_to_ecef(latitude_deg, longitude_deg, altitude_m))

    def enu_to_geodetic(self, east_m: ArrayLike, north_m: ArrayLike, up_m: ArrayLike) -> Geodetic:
        """East/north/up (m) in this frame to WGS84 (degrees, m).

        Raises GeodesyError (a ValueError) on a non-finite input.
        """
        return ecef_to_geodetic(*self.enu_to_ecef(east_m, north_m, up_m))


def ecef_to_enu(
    x_m: ArrayLike,
    y_m: ArrayLike,
    z_m: ArrayLike,
    origin_latitude_deg: float,
    origin_longitude_deg: float,
    origin_altitude_m: float = 0.0,
) -> Enu:
    """ECEF points (m) to east/north/up (m) about a WGS84 origin (degrees, m).

    Raises GeodesyError (a ValueError) on non-finite input or an origin with |latitude| > 90.
    For many calls about one origin, build a ``LocalFrame`` once.
    """
    frame = LocalFrame.at(origin_latitude_deg, origin_longitude_deg, origin_altitude_m)
    return frame.ecef_to_enu(x_m, y_m, z_m)


def enu_to_ecef(
    east_m: ArrayLike,
    north_m: ArrayLike,
    up_m: ArrayLike,
    origin_latitude_deg: float,
    origin_longitude_deg: float,
    origin_altitude_m: float = 0.0,
) -> Ecef:
    """East/north/up (m) about a WGS84 origin (degrees, m) to ECEF (m).

    Raises GeodesyError (a ValueError) on non-finite input or an origin with |latitude| > 90.
    """
    frame = LocalFrame.at(origin_latitude_deg, origin_longitude_deg, origin_altitude_m)
    return frame.enu_to_ecef(east_m, north_m, up_m)


def geodetic_to_enu(
    latitude_deg: ArrayLike,
    longitude_deg: ArrayLike,
    altitude_m: ArrayLike,
    origin_latitude_deg: float,
    origin_longitude_deg: float,
    origin_altitude_m: float = 0.0,
) -> Enu:
    """WGS84 points (degrees, m) to east/north/up (m) about a WGS84 origin (degrees, m).

    Raises GeodesyError (a ValueError) on non-finite input or |latitude| > 90.
    """
    frame = LocalFrame.at(origin_latitude_deg, origin_longitude_deg, origin_altitude_m)
    return frame.geodetic_to_enu(latitude_deg, longitude_deg, altitude_m)


def enu_to_geodetic(
    east_m: ArrayLike,
    north_m: ArrayLike,
    up_m: ArrayLike,
    origin_latitude_deg: float,
    origin_longitude_deg: float,
    origin_altitude_m: float = 0.0,
) -> Geodetic:
    """East/north/up (m) about a WGS84 origin (degrees, m) to WGS84 points (degrees, m).

    Raises GeodesyError (a ValueError) on non-finite input, an origin with |latitude| > 90, or
    points within ``MIN_ECEF_RADIUS_M`` of the Earth's centre.
    """
    frame = LocalFrame.at(origin_latitude_deg, origin_longitude_deg, origin_altitude_m)
    return frame.enu_to_geodetic(east_m, north_m, up_m)
