"""An intersection description (MAP node and static signs) as the ``IntersectionGeometry`` the
roadside unit publishes to the cloud: the same lanes, points in metres east/north of the
reference, connections with their signal groups, speed limits in m/s, and signs."""

from __future__ import annotations

import math

from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x.intersection_file import IntersectionDescription
from protocols.v2x.map import MANEUVERS, MapLane
from protocols.v2x.rsi import SignKind, StaticSign
from protocols.v2x.units import GeoPoint, metres_of

LANE_TYPES: dict[str, pb.LaneType.ValueType] = {
    "vehicle": pb.LANE_TYPE_VEHICLE,
    "crosswalk": pb.LANE_TYPE_CROSSWALK,
    "bikeLane": pb.LANE_TYPE_BIKE_LANE,
    "sidewalk": pb.LANE_TYPE_SIDEWALK,
    "median": pb.LANE_TYPE_MEDIAN,
    "striping": pb.LANE_TYPE_STRIPING,
    "trackedVehicle": pb.LANE_TYPE_TRACKED_VEHICLE,
    "parking": pb.LANE_TYPE_PARKING,
}
"""``protocols.v2x.map.LANE_TYPES`` names -> pb ``LaneType``."""
SIGN_KINDS: dict[SignKind, pb.StaticSignKind.ValueType] = {
    SignKind.ROADWORKS: pb.STATIC_SIGN_KIND_ROADWORKS,
    SignKind.SPEED_LIMIT: pb.STATIC_SIGN_KIND_SPEED_LIMIT,
    SignKind.SCHOOL_ZONE: pb.STATIC_SIGN_KIND_SCHOOL_ZONE,
}


def _maneuver(name: str) -> pb.Maneuver.ValueType:
    # pb Maneuver values follow AllowedManeuvers' bits: MANEUVERS[i] is value i + 1.
    return pb.Maneuver.ValueType(MANEUVERS.index(name) + 1)


def to_intersection_geometry(description: IntersectionDescription) -> pb.IntersectionGeometry:
    """The description as a ``pb.IntersectionGeometry`` (0 for what it does not give)."""
    node = description.map
    reference = node.reference
    message = pb.IntersectionGeometry(
        intersection_id=node.node_id,
        region=node.region or 0,
        name=node.name or "",
        reference=_position(reference),
    )
    for link in node.links:
        approach = message.approaches.add(
            name=link.name or "",
            upstream_node_id=link.upstream_node_id,
            speed_limit_mps=link.speed_limit_mps or 0.0,
        )
        for lane in link.lanes:
            _add_lane(approach, lane)
    for sign in description.signs:
        _add_sign(message, sign, reference)
    return message


def _position(point: GeoPoint) -> pb.Position:
    altitude = point.altitude_m
    return pb.Position(
        latitude_deg=point.latitude_deg,
        longitude_deg=point.longitude_deg,
        altitude_m=0.0 if altitude is None or not math.isfinite(altitude) else altitude,
    )


def _add_lane(approach: pb.IntersectionGeometry.Approach, lane: MapLane) -> None:
    added = approach.lanes.add(
        lane_id=lane.lane_id,
        type=LANE_TYPES.get(lane.lane_type or "", pb.LANE_TYPE_UNSPECIFIED),
        width_m=lane.width_m or 0.0,
        maneuvers=sorted(_maneuver(name) for name in lane.maneuvers),
        speed_limit_mps=lane.speed_limit_mps or 0.0,
    )
    for east, north in lane.points:
        added.points.add(east_m=east, north_m=north)
    for connection in lane.connections:
        added.connections.add(
            intersection_id=connection.node_id,
            lane_id=connection.lane_id,
            signal_group=connection.signal_group or 0,
        )


def _add_sign(message: pb.IntersectionGeometry, sign: StaticSign, reference: GeoPoint) -> None:
    east, north = metres_of(sign.position, reference)
    kph = sign.speed_limit_kph
    where = sign.position
    if where.altitude_m is None:  # a sign stands about as high as the junction
        where = GeoPoint(where.latitude_deg, where.longitude_deg, reference.altitude_m)
    message.signs.add(
        sign_id=sign.sign_id,
        kind=SIGN_KINDS[sign.kind],
        position=_position(where),
        east_m=east,
        north_m=north,
        speed_limit_mps=0.0 if kph is None else kph / 3.6,
    )
