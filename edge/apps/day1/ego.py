"""The ego vehicle as the applications see it: its own state in the picture's frame."""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge.apps.day1.lanes import LaneIndex, LaneMatch
from edge.geodesy import LocalFrame
from protocols.schema.v1 import roadgate_pb2 as pb


@dataclass(frozen=True, slots=True)
class Ego:
    """Position (m) in the picture's frame, motion, size, what the driver signals, and the
    MAP lane it is on (None: no MAP, or off every lane)."""

    east: float
    north: float
    speed: float
    heading: float  # rad clockwise from north
    accel: float  # longitudinal, m/s^2
    yaw_rate: float
    length: float
    width: float
    turn_signal: pb.TurnSignal.ValueType
    brake: bool
    lane: LaneMatch | None

    @property
    def velocity(self) -> tuple[float, float]:
        return self.speed * math.sin(self.heading), self.speed * math.cos(self.heading)


def ego_of(state: pb.VehicleState, frame: LocalFrame, lanes: LaneIndex) -> Ego:
    """``state`` placed in ``frame`` and matched to ``lanes``."""
    p = state.position
    e, n, _ = frame.geodetic_to_enu(p.latitude_deg, p.longitude_deg, p.altitude_m)
    east, north = float(e), float(n)
    (lane,) = lanes.match(east, north, state.heading_rad)
    return Ego(
        east=east,
        north=north,
        speed=max(state.speed_mps, 0.0),
        heading=state.heading_rad,
        accel=state.longitudinal_accel_mps2,
        yaw_rate=state.yaw_rate_rad_s,
        length=state.length_m or 4.5,
        width=state.width_m or 1.8,
        turn_signal=state.turn_signal,
        brake=state.brake_applied,
        lane=lane,
    )
