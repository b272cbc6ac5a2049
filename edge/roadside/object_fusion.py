"""Radar object lists, in the sensor frame, into WGS84 object lists.

Each radar's own objects placed on the map from the radar's surveyed mounting pose: the raw
lists a roadside unit publishes for debugging (``[perception] raw_object_lists``); its tracks,
fusing all radars, come from ``edge.roadside.fused_objects``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge.geo import GeoPoint, heading_of, sensor_to_east_north
from protocols.radar.ars408 import RadarObjectList
from protocols.schema.v1 import roadgate_pb2 as pb

ARS408_CLASS: dict[int, pb.ObjectClass.ValueType] = {
    0: pb.OBJECT_CLASS_POINT,
    1: pb.OBJECT_CLASS_CAR,
    2: pb.OBJECT_CLASS_TRUCK,
    3: pb.OBJECT_CLASS_PEDESTRIAN,
    4: pb.OBJECT_CLASS_MOTORCYCLE,
    5: pb.OBJECT_CLASS_BICYCLE,
    6: pb.OBJECT_CLASS_WIDE,
}
"""Obj_Class codes of the ARS408 object list (Continental ARS408-21 technical documentation)."""

ARS408_EXISTENCE = (0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0)
"""Upper bounds of the Obj_ProbOfExist code ranges (0 = invalid)."""


@dataclass(frozen=True)
class SensorPose:
    """Where a radar is mounted: its position and boresight (rad clockwise from north)."""

    sensor_id: str
    position: GeoPoint
    heading_rad: float


def to_object_list(radar: RadarObjectList, pose: SensorPose) -> pb.ObjectList:
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
        kind=pb.OBJECT_LIST_KIND_SENSOR,
    )
    for obj in radar.objects:
        east, north = sensor_to_east_north(obj.dist_long_m, obj.dist_lat_m, pose.heading_rad)
        v_east, v_north = sensor_to_east_north(
            obj.vrel_long_mps, obj.vrel_lat_mps, pose.heading_rad
        )
        existence = obj.prob_of_exist_code
        point = position.offset(east, north)
        out.objects.append(
            pb.PerceivedObject(
                object_id=obj.object_id,
                object_class=ARS408_CLASS.get(
                    obj.obj_class if obj.obj_class is not None else -1, pb.OBJECT_CLASS_UNKNOWN
                ),
                x_m=obj.dist_long_m,
                y_m=obj.dist_lat_m,
                vx_mps=obj.vrel_long_mps,
                vy_mps=obj.vrel_lat_mps,
                position=pb.Position(
                    latitude_deg=point.latitude_deg,
                    longitude_deg=point.longitude_deg,
                    altitude_m=point.altitude_m,
                ),
                speed_mps=math.hypot(v_east, v_north),
                heading_rad=heading_of(v_east, v_north),
                length_m=obj.length_m or 0.0,
                width_m=obj.width_m or 0.0,
                existence_probability=ARS408_EXISTENCE[existence] if existence else 0.0,
                rcs_dbsm=obj.rcs_dbsm if obj.rcs_dbsm is not None else 0.0,  # none reported
            )
        )
    return out
