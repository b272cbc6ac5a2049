"""Radar object lists, in the sensor frame, into WGS84 object lists.

A first, simple fusion: each radar's objects are placed on the map from the radar's surveyed
mounting pose. Associating objects seen by several radars is the tracker's job, later.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from edge.geo import GeoPoint, heading_of, sensor_to_east_north
from protocols.schema.v1 import roadgate_pb2 as pb

OBJECT_CLASS: dict[str, pb.ObjectClass.ValueType] = {
    "point": pb.OBJECT_CLASS_POINT,
    "car": pb.OBJECT_CLASS_CAR,
    "truck": pb.OBJECT_CLASS_TRUCK,
    "motorcycle": pb.OBJECT_CLASS_MOTORCYCLE,
    "bicycle": pb.OBJECT_CLASS_BICYCLE,
    "pedestrian": pb.OBJECT_CLASS_PEDESTRIAN,
    "wide": pb.OBJECT_CLASS_WIDE,
}


class RadarObjectLike(Protocol):
    """The per-object fields of a radar object list (sensor frame, SI units)."""

    @property
    def object_id(self) -> int: ...
    @property
    def x_m(self) -> float: ...
    @property
    def y_m(self) -> float: ...
    @property
    def vx_mps(self) -> float: ...
    @property
    def vy_mps(self) -> float: ...
    @property
    def rcs_dbsm(self) -> float: ...
    @property
    def object_class(self) -> str: ...
    @property
    def length_m(self) -> float: ...
    @property
    def width_m(self) -> float: ...
    @property
    def existence_probability(self) -> float: ...


class RadarObjectListLike(Protocol):
    @property
    def cycle_counter(self) -> int: ...
    @property
    def objects(self) -> Sequence[RadarObjectLike]: ...


@dataclass(frozen=True)
class SensorPose:
    """Where a radar is mounted: its position and boresight (rad clockwise from north)."""

    sensor_id: str
    position: GeoPoint
    heading_rad: float


def to_object_list(radar: RadarObjectListLike, pose: SensorPose) -> pb.ObjectList:
    """Place one radar cycle's objects on the map."""
    position = pose.position
    out = pb.ObjectList(
        sensor_id=pose.sensor_id,
        cycle_counter=radar.cycle_counter % 2**32,
        sensor_position=pb.Position(
            latitude_deg=position.latitude_deg,
            longitude_deg=position.longitude_deg,
            altitude_m=position.altitude_m,
            fix_quality=pb.FIX_QUALITY_RTK_FIXED,  # a surveyed mounting position
        ),
        sensor_heading_rad=pose.heading_rad,
    )
    for obj in radar.objects:
        east, north = sensor_to_east_north(obj.x_m, obj.y_m, pose.heading_rad)
        v_east, v_north = sensor_to_east_north(obj.vx_mps, obj.vy_mps, pose.heading_rad)
        point = position.offset(east, north)
        out.objects.append(
            pb.PerceivedObject(
                object_id=obj.object_id,
                object_class=OBJECT_CLASS.get(obj.object_class, pb.OBJECT_CLASS_UNKNOWN),
                x_m=obj.x_m,
                y_m=obj.y_m,
                vx_mps=obj.vx_mps,
                vy_mps=obj.vy_mps,
                position=pb.Position(
                    latitude_deg=point.latitude_deg,
                    longitude_deg=point.longitude_deg,
                    altitude_m=point.altitude_m,
                ),
                speed_mps=math.hypot(v_east, v_north),
                heading_rad=heading_of(v_east, v_north),
                length_m=obj.length_m,
                width_m=obj.width_m,
                existence_probability=obj.existence_probability,
                rcs_dbsm=obj.rcs_dbsm,
            )
        )
    return out
