"""What an application finds in one cycle, and the ``Day1App`` role each application plays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from edge.apps.day1.ego import Ego
from edge.apps.day1.picture import Picture, Vehicles
from protocols.schema.v1 import roadgate_pb2 as pb


@dataclass(frozen=True, slots=True)
class Finding:
    """One hazard an application sees now. ``key`` names the episode within the application
    (the remote vehicle's id, the RSI event's key...): the same key on consecutive cycles is
    one warning. Position (east, north) is in the picture's frame; 0 means not applicable for
    the figures."""

    app: str
    key: str
    event_type: pb.EventType.ValueType
    severity: pb.Severity.ValueType
    description: str
    east: float
    north: float
    remote_id: str = ""
    time_to_collision_s: float = 0.0
    distance_m: float = 0.0
    advised_speed_mps: float = 0.0
    radius_m: float = 0.0


def vehicle_finding(
    app: str,
    vehicles: Vehicles,
    index: int,
    *,
    event_type: pb.EventType.ValueType,
    severity: pb.Severity.ValueType,
    description: str,
    time_to_collision_s: float = 0.0,
    distance_m: float = 0.0,
) -> Finding:
    """A finding about remote vehicle ``index``: its episode is the vehicle's, it is where
    the vehicle is, and names it."""
    remote_id = vehicles.remote_id(index)
    return Finding(
        app=app,
        key=remote_id,
        event_type=event_type,
        severity=severity,
        description=description,
        east=float(vehicles.east[index]),
        north=float(vehicles.north[index]),
        remote_id=remote_id,
        time_to_collision_s=time_to_collision_s,
        distance_m=distance_m,
    )


class Day1App(Protocol):
    """One application: ``code`` (``"FCW"``...) and what it finds in a cycle."""

    @property
    def code(self) -> str: ...

    def evaluate(self, ego: Ego, picture: Picture) -> list[Finding]: ...
