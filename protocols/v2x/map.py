"""T/CSAE 53-2017 MAP: an intersection description (our values) to and from ``MapData``.

The description is in metres: lane points are east/north of the intersection's reference
point (the ENU frame of ``edge.geodesy.LocalFrame``); they go out as ``PositionOffsetLL``
(1e-7 degrees, ~1 cm) and come back within 6 mm. One ``MapLink`` is one approach: the lanes
entering the node from ``upstream_node_id``, each with its connections to downstream lanes
and the SPAT signal group (``PhaseID``) that controls each movement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from protocols.errors import V2xError
from protocols.v2x.csae53 import decode_message, encode_frame, time_fields
from protocols.v2x.units import (
    LANE_WIDTH_UNIT_M,
    GeoPoint,
    clamp,
    geo_point,
    metres_of,
    minute_of_year_of,
    offset_of_metres,
    point_of,
    position3d,
    speed_code,
    speed_of,
)

MANEUVERS = (
    "straight",
    "left",
    "right",
    "u_turn",
    "left_turn_on_red",
    "right_turn_on_red",
    "lane_change",
    "no_stopping",
    "yield_always",
    "go_with_halt",
    "caution",
)
"""``AllowedManeuvers`` bits 0-10, in order."""
LANE_TYPES = {
    "vehicle": 8,
    "crosswalk": 16,
    "bikeLane": 16,
    "sidewalk": 16,
    "median": 16,
    "striping": 16,
    "trackedVehicle": 16,
    "parking": 16,
}
"""``LaneTypeAttributes`` alternatives and the size of their attribute bits (sent as zeros:
no attribute flags are described)."""


@dataclass(frozen=True)
class LaneConnection:
    """A movement from a lane to ``lane_id`` of node ``node_id`` (downstream), controlled by
    SPAT ``signal_group`` (``None``: unsignalised)."""

    node_id: int
    lane_id: int
    signal_group: int | None = None
    region: int | None = None


@dataclass(frozen=True)
class MapLane:
    """One lane: points (east, north) in metres from the reference, upstream to stop line."""

    lane_id: int
    points: tuple[tuple[float, float], ...]
    width_m: float | None = None
    maneuvers: frozenset[str] = frozenset()
    connections: tuple[LaneConnection, ...] = ()
    speed_limit_mps: float | None = None
    lane_type: str | None = None  # one of LANE_TYPES; None: not sent


@dataclass(frozen=True)
class MapLink:
    """One approach: the lanes entering the node from node ``upstream_node_id``."""

    upstream_node_id: int
    lanes: tuple[MapLane, ...]
    name: str | None = None
    speed_limit_mps: float | None = None


@dataclass(frozen=True)
class IntersectionMap:
    """An intersection (a MAP ``Node``): its id, reference point and approaches."""

    node_id: int
    reference: GeoPoint
    links: tuple[MapLink, ...]
    region: int | None = None
    name: str | None = None


@dataclass(frozen=True)
class DecodedMap:
    """A received MAP: its counter, ``MinuteOfTheYear`` (``None``: not sent) and nodes."""

    msg_cnt: int
    minute_of_year: int | None
    nodes: tuple[IntersectionMap, ...]


def encode_map(nodes: Sequence[IntersectionMap], *, msg_cnt: int, unix_s: float) -> bytes:
    """A ``MessageFrame`` holding a MAP of ``nodes`` at Unix time ``unix_s``.

    Raises ``V2xError`` (``unencodable``) for counts outside the standard's (1-63 nodes, 1-32
    links and lanes, 2-31 points, 0-16 connections) or ids outside their ranges;
    ``ValueError`` for a ``msg_cnt`` outside 0-127. Widths and speed limits are clamped.
    """
    if not 0 <= msg_cnt <= 127:
        raise ValueError(f"msgCnt must be 0-127, got {msg_cnt}")
    _count("nodes", len(nodes), 1, 63)
    value = {
        "msgCnt": msg_cnt,
        "timeStamp": time_fields(unix_s)[0],
        "nodes": [_node(node) for node in nodes],
    }
    return encode_frame(("mapFrame", value))


def _count(what: str, count: int, low: int, high: int) -> None:
    if not low <= count <= high:
        raise V2xError(f"a MAP has {low}-{high} {what}, got {count}", reason="unencodable")


def _id(what: str, value: int | None, high: int) -> None:
    if value is not None and not 0 <= value <= high:
        raise V2xError(f"a MAP {what} is 0-{high}, got {value}", reason="unencodable")


def _reference_id(node_id: int, region: int | None) -> dict[str, Any]:
    _id("node id", node_id, 0xFFFF)
    _id("region", region, 0xFFFF)
    value: dict[str, Any] = {"id": node_id}
    if region is not None:
        value["region"] = region
    return value


def _name(name: str | None) -> str | None:
    text = "".join(c for c in (name or "") if 32 <= ord(c) < 127)[:63]
    return text or None


def _node(node: IntersectionMap) -> dict[str, Any]:
    _count("links per node", len(node.links), 1, 32)
    value: dict[str, Any] = {
        "id": _reference_id(node.node_id, node.region),
        "refPos": position3d(node.reference),
        "inLinks": [_link(link, node) for link in node.links],
    }
    if name := _name(node.name):
        value["name"] = name
    return value


def _speed_limits(speed_mps: float | None) -> list[dict[str, Any]] | None:
    if speed_mps is None:
        return None
    return [{"type": "vehicleMaxSpeed", "speed": speed_code(speed_mps)}]


def _link(link: MapLink, node: IntersectionMap) -> dict[str, Any]:
    _count("lanes per link", len(link.lanes), 1, 32)
    value: dict[str, Any] = {
        "upstreamNodeId": _reference_id(link.upstream_node_id, node.region),
        "lanes": [_lane(lane, node) for lane in link.lanes],
    }
    if name := _name(link.name):
        value["name"] = name
    if limits := _speed_limits(link.speed_limit_mps):
        value["speedLimits"] = limits
    return value


def _maneuvers(names: frozenset[str]) -> tuple[bytes, int]:
    unknown = names - set(MANEUVERS)
    if unknown:
        raise ValueError(f"unknown maneuvers {sorted(unknown)}; known: {MANEUVERS}")
    bits = sum(1 << (15 - MANEUVERS.index(name)) for name in names)  # bit 0 first
    return bits.to_bytes(2, "big"), 12


def _lane(lane: MapLane, node: IntersectionMap) -> dict[str, Any]:
    _id("lane id", lane.lane_id, 255)
    _count("points per lane", len(lane.points), 2, 31)
    _count("connections per lane", len(lane.connections), 0, 16)
    value: dict[str, Any] = {
        "laneID": lane.lane_id,
        "points": [
            {"posOffset": {"offsetLL": offset_of_metres(east, north, node.reference)}}
            for east, north in lane.points
        ],
    }
    if lane.width_m is not None:
        value["laneWidth"] = clamp(lane.width_m / LANE_WIDTH_UNIT_M, 0, 32767)
    if lane.maneuvers:
        value["maneuvers"] = _maneuvers(lane.maneuvers)
    if lane.lane_type is not None:
        bits = LANE_TYPES.get(lane.lane_type)
        if bits is None:
            raise ValueError(f"unknown lane type {lane.lane_type!r}; known: {sorted(LANE_TYPES)}")
        value["laneAttributes"] = {"laneType": (lane.lane_type, (bytes(bits // 8), bits))}
    if lane.connections:
        value["connectsTo"] = [_connection(c) for c in lane.connections]
    if limits := _speed_limits(lane.speed_limit_mps):
        value["speedLimits"] = limits
    return value


def _connection(connection: LaneConnection) -> dict[str, Any]:
    _id("connecting lane id", connection.lane_id, 255)
    _id("signal group", connection.signal_group, 255)
    value: dict[str, Any] = {
        "remoteIntersection": _reference_id(connection.node_id, connection.region),
        "connectingLane": {"lane": connection.lane_id},
    }
    if connection.signal_group is not None:
        value["phaseId"] = connection.signal_group
    return value


def decode_map(data: bytes) -> DecodedMap:
    """The MAP in a UPER ``MessageFrame``. Raises ``V2xDecodeError`` for bytes that are not
    a ``MessageFrame`` or hold another message (``detail`` ``wrong_kind``)."""
    value = decode_message(data, "mapFrame")
    return map_of(value)


def map_of(value: dict[str, Any]) -> DecodedMap:
    """Our values of an asn1tools-decoded ``MapData``."""
    return DecodedMap(
        msg_cnt=value["msgCnt"],
        minute_of_year=minute_of_year_of(value.get("timeStamp")),
        nodes=tuple(_node_of(node) for node in value["nodes"]),
    )


def _speed_limit_of(limits: list[dict[str, Any]] | None) -> float | None:
    for limit in limits or ():
        if limit["type"] == "vehicleMaxSpeed":
            return speed_of(limit["speed"])
    return None


def _node_of(node: dict[str, Any]) -> IntersectionMap:
    reference = geo_point(node["refPos"])
    return IntersectionMap(
        node_id=node["id"]["id"],
        region=node["id"].get("region"),
        reference=reference,
        name=node.get("name"),
        links=tuple(
            MapLink(
                upstream_node_id=link["upstreamNodeId"]["id"],
                name=link.get("name"),
                speed_limit_mps=_speed_limit_of(link.get("speedLimits")),
                lanes=tuple(_lane_of(lane, reference) for lane in link["lanes"]),
            )
            for link in node.get("inLinks", ())
        ),
    )


def _maneuvers_of(bits: tuple[bytes, int] | None) -> frozenset[str]:
    if bits is None:
        return frozenset()
    number = int.from_bytes(bits[0], "big") >> (len(bits[0]) * 8 - bits[1])
    return frozenset(name for i, name in enumerate(MANEUVERS) if number >> (bits[1] - 1 - i) & 1)


def _lane_of(lane: dict[str, Any], reference: GeoPoint) -> MapLane:
    width = lane.get("laneWidth")
    lane_type = lane.get("laneAttributes", {}).get("laneType", (None, None))[0]
    return MapLane(
        lane_type=lane_type if lane_type in LANE_TYPES else None,
        lane_id=lane["laneID"],
        width_m=None if width is None else width * LANE_WIDTH_UNIT_M,
        maneuvers=_maneuvers_of(lane.get("maneuvers")),
        speed_limit_mps=_speed_limit_of(lane.get("speedLimits")),
        points=tuple(
            metres_of(point_of(point["posOffset"]["offsetLL"], reference), reference)
            for point in lane.get("points", ())
        ),
        connections=tuple(
            LaneConnection(
                node_id=c["remoteIntersection"]["id"],
                region=c["remoteIntersection"].get("region"),
                lane_id=c.get("connectingLane", {}).get("lane", 0),
                signal_group=c.get("phaseId"),
            )
            for c in lane.get("connectsTo", ())
        ),
    )
