"""Intersection description files: one intersection's lanes, connections, signal groups and
static signs, in TOML, read into what the roadside unit broadcasts (MAP and RSI) and publishes.

Lane and sign positions are metres east (x) and north (y) of the intersection's reference
point. The format::

    [intersection]
    id = 101                        # MAP node id, 0-65535
    name = "Keji Rd / Tangyan Rd"   # optional: 1-63 printable ASCII characters
    region = 1                      # optional: MAP region id, 0-65535
    reference = { latitude_deg = 34.2235, longitude_deg = 108.8905, altitude_m = 410.0 }
    speed_limit_kph = 50            # optional: the limit of every approach without its own

    [[approach]]                    # 1-32: one arm, the lanes of one MAP link
    name = "south"                  # optional, as the intersection's
    upstream_node_id = 1003         # the node this approach comes from, 0-65535
    speed_limit_kph = 40            # optional, 5-200

    [[approach.lane]]               # 1-32 per approach
    id = 32                         # 0-255, unique in the intersection
    width_m = 3.5                   # (0, 327.67]
    type = "vehicle"                # optional (default "vehicle"): vehicle, crosswalk,
                                    # bikeLane, sidewalk, median, striping, trackedVehicle,
                                    # parking
    maneuvers = ["straight"]        # optional: straight, left, right, u_turn, ...
    speed_limit_kph = 40            # optional, 5-200
    points = [[5.25, -162.0], [5.25, -12.0]]   # 2-31 [east_m, north_m], within 10 km
    connections = [{ lane = 16, signal_group = 1 }]   # optional, 0-16

    [[sign]]                        # 0-16 static signs, sent as RSI
    kind = "school_zone"            # roadworks, speed_limit or school_zone
    id = 1                          # 0-255, unique
    east_m = 12.0                   # where: east_m and north_m, or latitude_deg and
    north_m = -100.0                #   longitude_deg
    speed_limit_kph = 30            # a speed_limit sign's limit (required there, only there)

Points run in the direction of travel: an approach's ingress lane from upstream to its stop
line, an egress lane (no maneuvers or connections) from the intersection outwards; lanes
leaving the intersection along an arm are described in that arm's approach, so that
connections can name them. A connection goes to ``lane`` of node ``node`` (default: this
intersection, where that lane must exist), controlled by SPAT ``signal_group`` (1-255;
absent: unsignalised). Every count, id and range is checked against what a T/CSAE 53-2017
MAP and RSI can carry; an error (``IntersectionFileError``) names the file, the table and
key, the value and what would be valid.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocols.errors import IntersectionFileError, V2xError
from protocols.toml_table import TomlTable
from protocols.v2x.map import (
    LANE_TYPES,
    MANEUVERS,
    IntersectionMap,
    LaneConnection,
    MapLane,
    MapLink,
    encode_map,
)
from protocols.v2x.rsi import MAX_SIGNS, SignKind, StaticSign, encode_rsi
from protocols.v2x.units import LATLON_UNIT_DEG, GeoPoint, metres_per_unit

MAX_OFFSET_M = 10_000.0
"""Lane points and signs lie within this many metres east and north of the reference."""
MIN_POINT_SPACING_M = 0.1
"""Consecutive points of a lane closer than this are a typo (MAP resolution is ~1 cm)."""
MAX_NAME = 63  # DescriptiveName: IA5String (SIZE(1..63))
SPEED_LIMIT_KPH = (5.0, 200.0)
MAX_LANE_WIDTH_M = 327.67  # LaneWidth: 0..32767 cm


@dataclass(frozen=True)
class IntersectionDescription:
    """An intersection's MAP node and its static signs (sent as RSI about its reference)."""

    map: IntersectionMap
    signs: tuple[StaticSign, ...]


class _Table(TomlTable):
    error_type = IntersectionFileError


def read_intersection_file(path: Path) -> IntersectionDescription:
    """Read and check the description at ``path``. Raises ``IntersectionFileError`` naming the
    file, the table and key, the value and what would be valid."""
    root = _Table.read(path, "intersection file")
    return _description(root)


def parse_intersection(table: Mapping[str, Any], source: str) -> IntersectionDescription:
    """The description in an already parsed TOML document; ``source`` names it in errors.
    Raises ``IntersectionFileError`` as ``read_intersection_file`` does."""
    return _description(_Table.document(table, source))


def _description(root: _Table) -> IntersectionDescription:
    node = root.table("intersection", required=True)
    node_id = node.integer("id", low=0, high=0xFFFF)
    name = _name(node, "name")
    region = node.integer("region", None, low=0, high=0xFFFF)
    reference = _reference(node.table("reference", required=True))
    speed_limit = _speed_limit_mps(node, "speed_limit_kph")
    node.reject_unknown()
    approaches = root.tables("approach")
    _count(root, "approach", len(approaches), 1, 32, "[[approach]] tables")
    lanes_seen: dict[int, str] = {}
    connections: list[tuple[_Table, LaneConnection]] = []
    links = tuple(_link(t, speed_limit, node_id, lanes_seen, connections) for t in approaches)
    for table, connection in connections:
        if connection.node_id == node_id and connection.lane_id not in lanes_seen:
            raise table.error(
                "lane",
                connection.lane_id,
                f"a lane of intersection {node_id} (its lanes: {sorted(lanes_seen)}), "
                "or set node to the downstream intersection's id",
            )
    intersection = IntersectionMap(
        node_id=node_id, reference=reference, links=links, region=region, name=name
    )
    signs = root.tables("sign")
    _count(root, "sign", len(signs), 0, MAX_SIGNS, "[[sign]] tables")
    sign_ids: set[int] = set()
    description = IntersectionDescription(
        map=intersection, signs=tuple(_sign(t, reference, sign_ids) for t in signs)
    )
    root.reject_unknown()
    _check_encodes(description, root.source)
    return description


def _count(table: _Table, key: str, count: int, low: int, high: int, what: str) -> None:
    if not low <= count <= high:
        where = f"{table.path}.{key}" if table.path else key
        raise IntersectionFileError(
            f"{table.source}: {where}: {count} {what}, a MAP or RSI takes {low}-{high}"
        )


def _name(table: _Table, key: str) -> str | None:
    value = table.string(key, None)
    if value is None:
        return None
    if not 1 <= len(value) <= MAX_NAME or not all(32 <= ord(c) < 127 for c in value):
        raise table.error(key, value, f"1-{MAX_NAME} printable ASCII characters (MAP names)")
    return value


def _reference(t: _Table) -> GeoPoint:
    point = GeoPoint(
        t.number("latitude_deg", low=-90, high=90),
        t.number("longitude_deg", low=-180, high=180),
        t.number("altitude_m", None, low=-1000, high=10_000),
    )
    t.reject_unknown()
    return point


def _speed_limit_mps(t: _Table, key: str) -> float | None:
    kph = t.number(key, None, low=SPEED_LIMIT_KPH[0], high=SPEED_LIMIT_KPH[1])
    return None if kph is None else kph / 3.6


def _link(
    t: _Table,
    default_limit: float | None,
    node_id: int,
    lanes_seen: dict[int, str],
    connections: list[tuple[_Table, LaneConnection]],
) -> MapLink:
    name = _name(t, "name")
    upstream = t.integer("upstream_node_id", low=0, high=0xFFFF)
    limit = _speed_limit_mps(t, "speed_limit_kph")
    lane_tables = t.tables("lane")
    _count(t, "lane", len(lane_tables), 1, 32, "[[approach.lane]] tables")
    lanes = tuple(_lane(lane_t, node_id, lanes_seen, connections) for lane_t in lane_tables)
    t.reject_unknown()
    return MapLink(
        upstream_node_id=upstream,
        lanes=lanes,
        name=name,
        speed_limit_mps=default_limit if limit is None else limit,
    )


def _lane(
    t: _Table,
    node_id: int,
    lanes_seen: dict[int, str],
    connections: list[tuple[_Table, LaneConnection]],
) -> MapLane:
    lane_id = t.integer("id", low=0, high=255)
    if lane_id in lanes_seen:
        raise t.error("id", lane_id, f"a lane id not used before (also {lanes_seen[lane_id]})")
    lanes_seen[lane_id] = f"{t.path}.id"
    maneuvers = t.strings("maneuvers", ())
    for maneuver in maneuvers:
        if maneuver not in MANEUVERS:
            raise t.error("maneuvers", list(maneuvers), f"each one of {list(MANEUVERS)}")
    connection_tables = t.tables("connections")
    _count(t, "connections", len(connection_tables), 0, 16, "connections")
    lane_connections = []
    for c in connection_tables:
        connection = LaneConnection(
            node_id=c.integer("node", node_id, low=0, high=0xFFFF),
            lane_id=c.integer("lane", low=0, high=255),
            signal_group=c.integer("signal_group", None, low=1, high=255),
        )
        c.reject_unknown()
        connections.append((c, connection))
        lane_connections.append(connection)
    lane = MapLane(
        lane_id=lane_id,
        points=t.convert("points", _points, "2-31 [east_m, north_m] pairs"),
        width_m=t.number("width_m", above=0, high=MAX_LANE_WIDTH_M),
        maneuvers=frozenset(maneuvers),
        connections=tuple(lane_connections),
        speed_limit_mps=_speed_limit_mps(t, "speed_limit_kph"),
        lane_type=t.string("type", "vehicle", choices=LANE_TYPES),
    )
    t.reject_unknown()
    return lane


def _points(value: Any) -> tuple[tuple[float, float], ...]:
    """Raises ``ValueError``/``TypeError`` (made a file error by ``convert``)."""
    if not isinstance(value, list) or not 2 <= len(value) <= 31:
        raise ValueError("a MAP lane has 2-31 points")
    points: list[tuple[float, float]] = []
    for i, point in enumerate(value):
        if not (
            isinstance(point, list)
            and len(point) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in point)
        ):
            raise TypeError(f"point {i} is not [east_m, north_m]")
        east, north = float(point[0]), float(point[1])
        if not (abs(east) <= MAX_OFFSET_M and abs(north) <= MAX_OFFSET_M):
            raise ValueError(f"point {i} is more than {MAX_OFFSET_M:g} m from the reference")
        if points and math.dist(points[-1], (east, north)) < MIN_POINT_SPACING_M:
            raise ValueError(f"point {i} is within {MIN_POINT_SPACING_M} m of the one before")
        points.append((east, north))
    return tuple(points)


def _sign(t: _Table, reference: GeoPoint, sign_ids: set[int]) -> StaticSign:
    kind = SignKind(t.string("kind", choices=tuple(SignKind)))
    sign_id = t.integer("id", low=0, high=255)
    if sign_id in sign_ids:
        raise t.error("id", sign_id, "a sign id not used by another sign")
    sign_ids.add(sign_id)
    speed_limit = t.number("speed_limit_kph", None, low=SPEED_LIMIT_KPH[0], high=SPEED_LIMIT_KPH[1])
    if kind is SignKind.SPEED_LIMIT and speed_limit is None:
        t.number("speed_limit_kph")  # raises: required
    if kind is not SignKind.SPEED_LIMIT and speed_limit is not None:
        raise t.error("speed_limit_kph", speed_limit, "only a speed_limit sign takes a limit")
    sign = StaticSign(
        kind=kind,
        position=_sign_position(t, reference),
        speed_limit_kph=speed_limit,
        sign_id=sign_id,
    )
    t.reject_unknown()
    return sign


def _sign_position(t: _Table, reference: GeoPoint) -> GeoPoint:
    metres, degrees = t.has("east_m") or t.has("north_m"), t.has("latitude_deg")
    if metres == (degrees or t.has("longitude_deg")):
        raise IntersectionFileError(
            f"{t.source}: {t.path}: give east_m and north_m, or latitude_deg and longitude_deg"
        )
    if degrees or t.has("longitude_deg"):
        return GeoPoint(
            t.number("latitude_deg", low=-90, high=90),
            t.number("longitude_deg", low=-180, high=180),
        )
    east = t.number("east_m", low=-MAX_OFFSET_M, high=MAX_OFFSET_M)
    north = t.number("north_m", low=-MAX_OFFSET_M, high=MAX_OFFSET_M)
    return point_of_metres(east, north, reference)


def point_of_metres(east_m: float, north_m: float, reference: GeoPoint) -> GeoPoint:
    """The point ``east_m``/``north_m`` of ``reference``, as MAP and RSI offsets convert it
    (``protocols.v2x.units.metres_of`` inverts it)."""
    east_unit, north_unit = metres_per_unit(reference.latitude_deg)
    return GeoPoint(
        reference.latitude_deg + north_m / north_unit * LATLON_UNIT_DEG,
        reference.longitude_deg + east_m / east_unit * LATLON_UNIT_DEG,
    )


def _check_encodes(description: IntersectionDescription, source: str) -> None:
    """The checks above cover what the standard refuses; encoding once proves it."""
    try:
        encode_map([description.map], msg_cnt=0, unix_s=0.0)
        encode_rsi(
            [],
            description.signs,
            reference=description.map.reference,
            rsu_id=bytes(8),
            msg_cnt=0,
            unix_s=0.0,
        )
    except (V2xError, ValueError) as err:
        raise IntersectionFileError(
            f"{source}: not a MAP or RSI the standard can carry: {err}"
        ) from err
