"""Unit conversions shared by the T/CSAE 53-2017 messages (units from ``asn/Def*.asn``).

Every function here turns one of our SI values into the standard's integer code (clamped to
the range the ASN.1 allows, NaN going to "unavailable" where the standard has such a code)
or back (``None`` for "unavailable"). Positions relative to a reference point go as
``PositionOffsetLL`` in 1e-7 degree units; metres east/north convert through the local
radii of curvature of the WGS84 ellipsoid at the reference latitude, which is within a
millimetre of a proper ENU transform over the few hundred metres of an intersection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

LATLON_UNIT_DEG = 1e-7
ELEVATION_UNIT_M = 0.1
SPEED_UNIT_MPS = 0.02
HEADING_UNIT_DEG = 0.0125
SIZE_UNIT_M = 0.01
HEIGHT_UNIT_M = 0.05
LANE_WIDTH_UNIT_M = 0.01
RADIUS_UNIT_M = 0.1

LATITUDE_MIN, LATITUDE_MAX, LATITUDE_UNAVAILABLE = -900000000, 900000000, 900000001
LONGITUDE_MIN, LONGITUDE_MAX, LONGITUDE_UNAVAILABLE = -1799999999, 1800000000, 1800000001
ELEVATION_MIN, ELEVATION_MAX, ELEVATION_UNAVAILABLE = -4095, 61439, -4096
SPEED_MAX, SPEED_UNAVAILABLE = 8190, 8191
HEADING_MAX = 28799  # 28800 (360 degrees) is the same direction as 0
MINUTE_OF_YEAR_INVALID = 527040

# PositionOffsetLL alternatives: (name, largest magnitude in 1e-7 degree units).
_OFFSET_LL = (
    ("position-LL1", 2047),
    ("position-LL2", 8191),
    ("position-LL3", 32767),
    ("position-LL4", 131071),
    ("position-LL5", 2097151),
    ("position-LL6", 8388607),
)
_WGS84_A = 6378137.0
_WGS84_E2 = 6.69437999014e-3


def clamp(value: float, low: int, high: int) -> int:
    """``value`` rounded into ``low..high``; NaN goes to ``low``, infinities to their end."""
    if math.isnan(value):
        return low
    if math.isinf(value):
        return high if value > 0 else low
    return max(low, min(high, round(value)))


def finite_or(value: float, default: float) -> float:
    """``value`` unless it is NaN or infinite."""
    return value if math.isfinite(value) else default


@dataclass(frozen=True)
class GeoPoint:
    """A WGS84 point: degrees, and metres above the ellipsoid (``None``: unknown)."""

    latitude_deg: float
    longitude_deg: float
    altitude_m: float | None = None


def position3d(point: GeoPoint) -> dict[str, Any]:
    """The ``Position3D`` of ``point`` (clamped; a NaN latitude or longitude is unavailable)."""
    lat, lon = point.latitude_deg, point.longitude_deg
    value: dict[str, Any] = {
        "lat": (
            LATITUDE_UNAVAILABLE
            if math.isnan(lat)
            else clamp(lat / LATLON_UNIT_DEG, LATITUDE_MIN, LATITUDE_MAX)
        ),
        "long": (
            LONGITUDE_UNAVAILABLE
            if math.isnan(lon)
            else clamp(lon / LATLON_UNIT_DEG, LONGITUDE_MIN, LONGITUDE_MAX)
        ),
    }
    if point.altitude_m is not None and not math.isnan(point.altitude_m):
        value["elevation"] = clamp(
            point.altitude_m / ELEVATION_UNIT_M, ELEVATION_MIN, ELEVATION_MAX
        )
    return value


def geo_point(value: dict[str, Any]) -> GeoPoint:
    """A decoded ``Position3D``; unavailable latitude or longitude come back as NaN (a point
    needs both), unavailable elevation as ``None``."""
    lat, lon = value["lat"], value["long"]
    elevation = value.get("elevation", ELEVATION_UNAVAILABLE)
    return GeoPoint(
        math.nan if lat == LATITUDE_UNAVAILABLE else lat * LATLON_UNIT_DEG,
        math.nan if lon == LONGITUDE_UNAVAILABLE else lon * LATLON_UNIT_DEG,
        None if elevation == ELEVATION_UNAVAILABLE else elevation * ELEVATION_UNIT_M,
    )


def metres_per_unit(latitude_deg: float) -> tuple[float, float]:
    """(metres east per 1e-7 degree of longitude, metres north per 1e-7 degree of latitude)
    at ``latitude_deg`` (WGS84 prime-vertical and meridian radii)."""
    phi = math.radians(latitude_deg)
    w2 = 1.0 - _WGS84_E2 * math.sin(phi) ** 2
    prime_vertical = _WGS84_A / math.sqrt(w2)
    meridian = _WGS84_A * (1.0 - _WGS84_E2) / w2**1.5
    unit_rad = math.radians(LATLON_UNIT_DEG)
    return prime_vertical * math.cos(phi) * unit_rad, meridian * unit_rad


def offset_ll(d_lon_units: float, d_lat_units: float, reference: GeoPoint) -> tuple[str, Any]:
    """The ``PositionOffsetLL`` of an offset in 1e-7 degree units: the smallest alternative
    that holds it, or the absolute ``position-LatLon`` beyond ±0.84 degrees."""
    d_lon, d_lat = clamp(d_lon_units, -(1 << 40), 1 << 40), clamp(d_lat_units, -(1 << 40), 1 << 40)
    for name, largest in _OFFSET_LL:
        if abs(d_lon) <= largest and abs(d_lat) <= largest:
            return name, {"lon": d_lon, "lat": d_lat}
    absolute = position3d(
        GeoPoint(
            reference.latitude_deg + d_lat * LATLON_UNIT_DEG,
            reference.longitude_deg + d_lon * LATLON_UNIT_DEG,
        )
    )
    return "position-LatLon", {"lon": absolute["long"], "lat": absolute["lat"]}


def offset_of(point: GeoPoint, reference: GeoPoint) -> tuple[str, Any]:
    """The ``PositionOffsetLL`` of ``point`` from ``reference`` (both in degrees)."""
    return offset_ll(
        (point.longitude_deg - reference.longitude_deg) / LATLON_UNIT_DEG,
        (point.latitude_deg - reference.latitude_deg) / LATLON_UNIT_DEG,
        reference,
    )


def offset_of_metres(east_m: float, north_m: float, reference: GeoPoint) -> tuple[str, Any]:
    """The ``PositionOffsetLL`` of a point ``east_m``/``north_m`` of ``reference``."""
    east_unit, north_unit = metres_per_unit(reference.latitude_deg)
    return offset_ll(east_m / east_unit, north_m / north_unit, reference)


def point_of(offset: tuple[str, Any], reference: GeoPoint) -> GeoPoint:
    """The point a decoded ``PositionOffsetLL`` names (absolute for ``position-LatLon``)."""
    name, value = offset
    if name == "position-LatLon":
        absolute = geo_point({"lat": value["lat"], "long": value["lon"]})
        return GeoPoint(absolute.latitude_deg, absolute.longitude_deg)
    return GeoPoint(
        reference.latitude_deg + value["lat"] * LATLON_UNIT_DEG,
        reference.longitude_deg + value["lon"] * LATLON_UNIT_DEG,
    )


def metres_of(point: GeoPoint, reference: GeoPoint) -> tuple[float, float]:
    """(east, north) metres of ``point`` from ``reference``."""
    east_unit, north_unit = metres_per_unit(reference.latitude_deg)
    return (
        (point.longitude_deg - reference.longitude_deg) / LATLON_UNIT_DEG * east_unit,
        (point.latitude_deg - reference.latitude_deg) / LATLON_UNIT_DEG * north_unit,
    )


def speed_code(speed_mps: float) -> int:
    """``Speed`` in 0.02 m/s (NaN: unavailable; negative speeds are 0)."""
    return (
        SPEED_UNAVAILABLE
        if math.isnan(speed_mps)
        else clamp(speed_mps / SPEED_UNIT_MPS, 0, SPEED_MAX)
    )


def speed_of(code: int) -> float | None:
    return None if code == SPEED_UNAVAILABLE else code * SPEED_UNIT_MPS


def heading_code(heading_rad: float) -> int:
    """``Heading`` in 0.0125 degrees clockwise from north (NaN goes to north: the standard
    has no unavailable heading)."""
    degrees = math.degrees(finite_or(heading_rad, 0.0)) % 360.0
    return clamp(degrees / HEADING_UNIT_DEG, 0, 28800) % 28800


def heading_of(code: int) -> float:
    return math.radians(code * HEADING_UNIT_DEG)


def minute_of_year_of(code: int | None) -> int | None:
    return None if code is None or code == MINUTE_OF_YEAR_INVALID else code


def confidence_code(accuracy: float, levels: tuple[tuple[float, str], ...]) -> str:
    """The finest enumerated confidence whose bound covers ``accuracy`` (1-sigma, our unit);
    ``unavailable`` for 0 (unknown), NaN or beyond the coarsest level: say less, never more."""
    if not accuracy > 0 or math.isinf(accuracy):
        return "unavailable"
    for bound, name in levels:
        if accuracy <= bound * (1 + 1e-9):
            return name
    return "unavailable"


def confidence_of(name: str | None, levels: tuple[tuple[float, str], ...]) -> float | None:
    """The bound of an enumerated confidence; ``None`` for ``unavailable`` or absent."""
    return next((bound for bound, level in levels if level == name), None)


POSITION_CONFIDENCE = (
    (0.01, "a1cm"),
    (0.02, "a2cm"),
    (0.05, "a5cm"),
    (0.1, "a10cm"),
    (0.2, "a20cm"),
    (0.5, "a50cm"),
    (1.0, "a1m"),
    (2.0, "a2m"),
    (5.0, "a5m"),
    (10.0, "a10m"),
    (20.0, "a20m"),
    (50.0, "a50m"),
    (100.0, "a100m"),
    (200.0, "a200m"),
    (500.0, "a500m"),
)
"""PositionConfidence: (bound in m, enumerated name), finest first."""
SPEED_CONFIDENCE = (
    (0.01, "prec0-01ms"),
    (0.05, "prec0-05ms"),
    (0.1, "prec0-1ms"),
    (1.0, "prec1ms"),
    (5.0, "prec5ms"),
    (10.0, "prec10ms"),
    (100.0, "prec100ms"),
)
"""SpeedConfidence: (bound in m/s, enumerated name), finest first."""
HEADING_CONFIDENCE = tuple(
    (math.radians(deg), name)
    for deg, name in (
        (0.01, "prec0-01deg"),
        (0.0125, "prec0-0125deg"),
        (0.05, "prec0-05deg"),
        (0.1, "prec0-1deg"),
        (1.0, "prec01deg"),
        (5.0, "prec05deg"),
        (10.0, "prec10deg"),
    )
)
"""HeadingConfidence: (bound in rad, enumerated name), finest first."""
