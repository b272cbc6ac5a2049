"""The intersection's fused tracks as the ``objects`` stream's RSM-like ``ObjectList``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from edge.geodesy import LocalFrame
from edge.roadside.intersection_tracker import FusedTracks
from protocols.schema.v1 import roadgate_pb2 as pb

FUSED_SENSOR_ID = "fused"
MIN_SPEED_SIGMAS_FOR_HEADING = 2.0
"""Below this many standard deviations of speed, the heading is reported unknown (0)."""


def fused_object_list(
    tracks: FusedTracks,
    frame: LocalFrame,
    *,
    intersection_id: int,
    sensor_ids: Sequence[str],
    cycle_counter: int,
) -> pb.ObjectList:
    """Return one ``OBJECT_LIST_KIND_FUSED`` list: the list's frame is the intersection's
    reference point looking east, so each object's ``x_m``/``y_m`` are metres east/north."""
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
    position_std = np.sqrt(np.maximum(np.linalg.eigvalsh(p[:, :2, :2])[:, -1], 0.0))
    rows = zip(
        tracks.ids.tolist(),
        tracks.object_class.tolist(),
        x.tolist(),
        p[:, :2, :2].reshape(n, 4).tolist(),
        p[:, 2:, 2:].reshape(n, 4).tolist(),
        geo.latitude_deg.tolist(),
        geo.longitude_deg.tolist(),
        geo.altitude_m.tolist(),
        position_std.tolist(),
        speed.tolist(),
        heading.tolist(),
        speed_std.tolist(),
        heading_std.tolist(),
        tracks.length_m.tolist(),
        tracks.width_m.tolist(),
        tracks.hit_ratio.tolist(),
        tracks.age_s.tolist(),
        tracks.coasting.tolist(),
        tracks.sources,
        tracks.cooperative_ids,
        strict=True,
    )
    add = out.objects.add
    for (
        track_id,
        cls,
        (e, nn, ve, vn),
        pp,
        pv,
        lat,
        lon,
        alt,
        pos_std,
        spd,
        hdg,
        spd_std,
        hdg_std,
        length,
        width,
        hit_ratio,
        age,
        coasting,
        sources,
        cooperative_id,
    ) in rows:
        obj = add()
        obj.object_id = track_id % 2**32
        obj.object_class = cls
        obj.x_m, obj.y_m, obj.vx_mps, obj.vy_mps = e, nn, ve, vn
        position = obj.position
        position.latitude_deg, position.longitude_deg, position.altitude_m = lat, lon, alt
        position.horizontal_accuracy_m = pos_std
        obj.speed_mps, obj.heading_rad = spd, hdg
        obj.speed_accuracy_mps, obj.heading_accuracy_rad = spd_std, hdg_std
        obj.length_m, obj.width_m = length, width
        obj.existence_probability = hit_ratio
        cov = obj.position_covariance
        cov.east_east, cov.east_north, cov.north_north = pp[0], pp[1], pp[3]
        cov = obj.velocity_covariance
        cov.east_east, cov.east_north, cov.north_north = pv[0], pv[1], pv[3]
        obj.age_s = age
        obj.source_sensors.extend(sources)
        obj.cooperative_id = cooperative_id
        obj.coasting = coasting
    return out


def _speed_heading(
    velocity: np.ndarray, covariance: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Speed, heading (clockwise from north), and their 1-sigma through the polar Jacobian;
    a heading too uncertain to mean anything is 0 with accuracy 0 (unknown)."""
    ve, vn = velocity[:, 0], velocity[:, 1]
    speed = np.hypot(ve, vn)
    safe = np.where(speed > 1e-9, speed, 1.0)
    u = np.stack((ve / safe, vn / safe), axis=-1)  # along the motion
    w = np.stack((vn / safe, -ve / safe), axis=-1)  # across it
    along_var = np.einsum("ni,nij,nj->n", u, covariance, u)
    across_var = np.einsum("ni,nij,nj->n", w, covariance, w)
    # At rest the direction is arbitrary: take the larger axis of the velocity's uncertainty.
    along_var = np.where(speed > 1e-9, along_var, np.linalg.eigvalsh(covariance)[:, -1])
    speed_std = np.sqrt(np.maximum(along_var, 0.0))
    known = speed > MIN_SPEED_SIGMAS_FOR_HEADING * speed_std
    heading = np.where(known, np.arctan2(ve, vn) % (2 * math.pi), 0.0)
    heading_std = np.where(known, np.sqrt(np.maximum(across_var, 0.0)) / safe, 0.0)
    return speed, heading, speed_std, heading_std
