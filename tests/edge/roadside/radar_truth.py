"""Straight-line targets seen by radars at known poses, with the noise the tracker assumes:
ground truth for the intersection tracker's tests."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.roadside.intersection_tracker import RadarScan
from edge.roadside.radar_noise import RADAR_NOISE
from edge.roadside.radar_site import RADAR_BEAMS, RadarSite
from edge.tracking.track_set import FloatArray
from protocols.schema.v1 import roadgate_pb2 as pb


def site(sensor_id: str, east_m: float, north_m: float, yaw_deg: float) -> RadarSite:
    return RadarSite(
        sensor_id,
        east_m,
        north_m,
        5.0,
        math.radians(yaw_deg),
        RADAR_NOISE["ars408"],
        RADAR_BEAMS["ars408"],
    )


@dataclass
class Targets:
    """Targets moving in straight lines: ``start`` (K, 2) at t = 0, ``velocity`` (K, 2)."""

    start: FloatArray
    velocity: FloatArray
    object_class: int = pb.OBJECT_CLASS_CAR

    def at(self, t_s: float) -> FloatArray:
        positions: FloatArray = self.start + self.velocity * t_s
        return positions

    def scan(
        self, radar: RadarSite, t_s: float, rng: np.random.Generator, p_detect: float = 1.0
    ) -> RadarScan:
        """What ``radar`` reports at ``t_s``: each target in its beams (with probability
        ``p_detect``), with the position noise its type has."""
        truth = self.at(t_s)
        seen = radar.covers(truth) & (rng.random(truth.shape[0]) < p_detect)
        s, c = math.sin(radar.yaw_rad), math.cos(radar.yaw_rad)
        de, dn = truth[seen, 0] - radar.east_m, truth[seen, 1] - radar.north_m
        x, y = de * s + dn * c, -de * c + dn * s
        cov = radar.noise.position_covariances(x, y, radar.yaw_rad)
        noise = np.array([rng.multivariate_normal(np.zeros(2), m) for m in cov]).reshape(-1, 2)
        x = x + noise[:, 0] * s + noise[:, 1] * c
        y = y - noise[:, 0] * c + noise[:, 1] * s
        v = self.velocity[seen]
        vx, vy = v[:, 0] * s + v[:, 1] * c, -v[:, 0] * c + v[:, 1] * s
        m = int(seen.sum())
        return RadarScan(
            radar.sensor_id,
            t_s,
            x,
            y,
            vx,
            vy,
            np.full(m, self.object_class, np.int64),
            np.full(m, 4.5),
            np.full(m, 1.8),
        )
