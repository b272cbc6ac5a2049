"""The simulated intersection: actors whose motion is a pure function of time.

Every box process computes its own sensors' view from the same deterministic world, so a
vehicle gateway and a roadside unit run as separate processes still agree on where things are.
Motion repeats with each actor's period so that the demo can run for as long as one likes.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from edge.geo import GeoPoint

INTERSECTION = GeoPoint(34.2235, 108.8905, 410.0)
"""The simulated intersection's centre, in Xi'an's high-tech zone (illustrative)."""

STEP_S = 0.01


@dataclass(frozen=True, slots=True)
class ActorState:
    """An actor at one instant, in metres east/north of the intersection."""

    east_m: float
    north_m: float
    speed_mps: float
    heading_rad: float  # clockwise from north
    yaw_rate_rad_s: float  # positive anticlockwise
    accel_mps2: float
    brake: bool
    turn_signal: str  # "off", "left", "right"
    hazard: bool

    @property
    def velocity(self) -> tuple[float, float]:
        """(east, north) velocity in m/s."""
        return (
            self.speed_mps * math.sin(self.heading_rad),
            self.speed_mps * math.cos(self.heading_rad),
        )


@dataclass(frozen=True)
class Phase:
    """A stretch of constant acceleration, optionally with the brake or a turn signal on."""

    duration_s: float
    accel_mps2: float = 0.0
    brake: bool = False
    turn_signal: str = "off"
    hazard: bool = False


class Actor:
    """A road user moving along a straight lane with a repeating speed profile."""

    def __init__(
        self,
        name: str,
        kind: str,
        *,
        start_east_m: float,
        start_north_m: float,
        heading_deg: float,
        speed_mps: float,
        phases: tuple[Phase, ...],
        length_m: float,
        width_m: float,
        rcs_dbsm: float,
    ) -> None:
        self.name = name
        self.kind = kind
        self.length_m = length_m
        self.width_m = width_m
        self.rcs_dbsm = rcs_dbsm
        self._heading = math.radians(heading_deg)
        self._start = (start_east_m, start_north_m)
        # Integrate the profile once at 100 Hz; lookups interpolate in the table.
        self._times: list[float] = []
        self._table: list[tuple[float, float, Phase]] = []  # (distance, speed, phase)
        t, distance, speed = 0.0, 0.0, speed_mps
        for phase in phases:
            end = t + phase.duration_s
            while t < end - 1e-9:
                self._times.append(t)
                self._table.append((distance, speed, phase))
                new_speed = max(0.0, speed + phase.accel_mps2 * STEP_S)
                distance += (speed + new_speed) / 2 * STEP_S
                speed, t = new_speed, t + STEP_S
        self.period_s = t

    def state_at(self, t: float) -> ActorState:
        """The actor's state at simulation time ``t`` seconds."""
        local = t % self.period_s
        i = max(0, bisect.bisect_right(self._times, local) - 1)
        distance, speed, phase = self._table[i]
        frac = local - self._times[i]
        distance += speed * frac
        accel = phase.accel_mps2 if speed > 0 or phase.accel_mps2 > 0 else 0.0
        return ActorState(
            east_m=self._start[0] + distance * math.sin(self._heading),
            north_m=self._start[1] + distance * math.cos(self._heading),
            speed_mps=speed,
            heading_rad=self._heading % math.tau,
            yaw_rate_rad_s=0.0,
            accel_mps2=accel,
            brake=phase.brake,
            turn_signal=phase.turn_signal,
            hazard=phase.hazard,
        )

    def position_at(self, t: float) -> GeoPoint:
        state = self.state_at(t)
        return INTERSECTION.offset(state.east_m, state.north_m)


def eebl_drive(name: str, *, cruise_before_s: float, cruise_after_s: float) -> Actor:
    """The one EEBL drive, shared by the demo's world and the HIL data generator.

    Northbound in the east lane at 48 km/h; after ``cruise_before_s`` it brakes hard
    (-6 m/s² for 1.2 s, an emergency electronic brake light event), waits 2 s with the left
    blinker on, pulls away at 2 m/s² for 3.5 s, then cruises ``cruise_after_s`` until the
    profile repeats.
    """
    return Actor(
        name,
        "car",
        start_east_m=1.75,
        start_north_m=-160.0,
        heading_deg=0.0,
        speed_mps=13.3,
        phases=(
            Phase(cruise_before_s),
            Phase(1.2, accel_mps2=-6.0, brake=True),
            Phase(2.0, turn_signal="left"),
            Phase(3.5, accel_mps2=2.0, turn_signal="left"),
            Phase(cruise_after_s),
        ),
        length_m=4.6,
        width_m=1.8,
        rcs_dbsm=10.0,
    )


def intersection_actors() -> dict[str, Actor]:
    """The demo intersection: two connected cars and a cyclist."""
    return {
        # Northbound at 48 km/h; brakes hard (EEBL) before the stop line, then goes on.
        "veh-001": eebl_drive("veh-001", cruise_before_s=6.0, cruise_after_s=11.3),
        # Southbound at 65 km/h through a 50 km/h zone: the roadside unit flags it.
        "veh-002": Actor(
            "veh-002",
            "car",
            start_east_m=-1.75,
            start_north_m=150.0,
            heading_deg=180.0,
            speed_mps=18.0,
            phases=(Phase(16.0), Phase(4.0, accel_mps2=-2.0, brake=True), Phase(5.0, 1.6)),
            length_m=4.9,
            width_m=1.9,
            rcs_dbsm=12.0,
        ),
        # A cyclist crossing west to east, 30 m south of the intersection.
        "cyclist-1": Actor(
            "cyclist-1",
            "bicycle",
            start_east_m=-40.0,
            start_north_m=-30.0,
            heading_deg=90.0,
            speed_mps=4.5,
            phases=(Phase(18.0),),
            length_m=1.8,
            width_m=0.6,
            rcs_dbsm=-5.0,
        ),
    }
