"""The fused list built object by object through protobuf's API, as ``track_list`` did before
it encoded the objects as columns: the tests' reference for it."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from edge.geodesy import LocalFrame
from edge.roadside.intersection_tracker import FusedTracks
from edge.roadside.track_list import (
    FUSED_SENSOR_ID,
    _speed_heading,
    largest_eigenvalue,
)
from protocols.schema.v1 import roadgate_pb2 as pb

_COVARIANCE_ENTRIES = (0, 1, 5, 10, 11, 15)
"""Of a flattened 4x4 covariance: east-east, east-north, north-north of the position, then of
the velocity (the entries the list carries)."""


def object_by_object(
    tracks: FusedTracks,
    frame: LocalFrame,
    *,
    intersection_id: int,
    sensor_ids: Sequence[str],
    cycle_counter: int,
) -> pb.ObjectList:
    """Return one ``OBJECT_LIST_KIND_FUSED`` list: the list's frame is the intersection's
    reference point looking east, so each object's ``x_m``/``y_m`` are metres east/north;
    ``sensor_ids`` name the bits of the tracks' ``source_mask``."""
    out = pb.ObjectList(
        sensor_id=FUSED_SENSOR_ID,
        cycle_counter=cycle_counter % 2**32,
        sensor_position=pb.Position(
            latitude_deg=frame.latitude_deg,
            longitude_deg=frame.longitude_deg,
            altitude_m=frame.altitude_m,
            fix_quality=pb.FIX_QUALITY_RTK_FIXED,  # a surveyed reference point
        ),
        sensor_heading_rad=math.pi / 2,
        kind=pb.OBJECT_LIST_KIND_FUSED,
        intersection_id=intersection_id,
        sensor_ids=sensor_ids,
    )
    n = len(tracks)
    if n == 0:
        return out
    x = tracks.states
    p = tracks.covariances
    geo = frame.enu_to_geodetic(x[:, 0], x[:, 1], np.zeros(n))
    speed, heading, speed_std, heading_std = _speed_heading(x[:, 2:], p[:, 2:, 2:])
    position_std = np.sqrt(np.maximum(largest_eigenvalue(p[:, :2, :2]), 0.0))
    # Every float of an object in one table row (one conversion to Python floats), in the
    # order of the fields the loop below unpacks it into.
    table = np.column_stack(
        (
            x,
            p.reshape(n, 16).take(_COVARIANCE_ENTRIES, axis=1),
            geo.latitude_deg,
            geo.longitude_deg,
            geo.altitude_m,
            position_std,
            speed,
            heading,
            speed_std,
            heading_std,
            tracks.length_m,
            tracks.width_m,
            tracks.hit_ratio,
            tracks.age_s,
        )
    ).tolist()
    rows = zip(
        (tracks.ids % 2**32).tolist(),
        tracks.object_class.tolist(),
        table,
        tracks.coasting.tolist(),
        tracks.source_mask.tolist(),
        tracks.cooperative_ids,
        strict=True,
    )
    add = out.objects.add
    for object_id, cls, floats, coasting, source_mask, cooperative_id in rows:
        obj = add()
        position = obj.position
        p_cov, v_cov = obj.position_covariance, obj.velocity_covariance
        (
            obj.x_m,
            obj.y_m,
            obj.vx_mps,
            obj.vy_mps,
            p_cov.east_east,
            p_cov.east_north,
            p_cov.north_north,
            v_cov.east_east,
            v_cov.east_north,
            v_cov.north_north,
            position.latitude_deg,
            position.longitude_deg,
            position.altitude_m,
            position.horizontal_accuracy_m,
            obj.speed_mps,
            obj.heading_rad,
            obj.speed_accuracy_mps,
            obj.heading_accuracy_rad,
            obj.length_m,
            obj.width_m,
            obj.existence_probability,
            obj.age_s,
        ) = floats
        obj.object_id = object_id
        obj.object_class = cls
        # Proto3 leaves these out at their defaults (most tracks): setting them costs time.
        if source_mask:
            obj.source_mask = source_mask
        if cooperative_id:
            obj.cooperative_id = cooperative_id
        if coasting:
            obj.coasting = True
    return out
