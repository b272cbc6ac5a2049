"""Hazardous location warning (HLW, a T/CSAE 53-2017 Day-1 application): a traffic event an
RSU announces (RSI ``RTEData``: roadworks, an accident, a hazard) lies ahead on the ego
vehicle's path.

An event is on the path when its centre is within its radius (plus ``path_margin_m``) of the
ego's straight path, and ahead when that centre lies beyond the ego's front by more than
``own_margin_m``: so an event behind the ego, or one at the ego's own place (an RSU's report
about this very vehicle, such as its speeding or hard braking), is never a hazard ahead.
It warns once the near edge of the event's zone is within the lead distance, the ego's speed
times ``lead_time_s`` but never less than ``min_lead_m``.

Every heard event counts except the reports about roadside equipment (sensor and clock
faults) and advice (speed advisory, signage, speed limits: IVS and SLW show those): events
whose code does not map back to one of ours (``EVENT_TYPE_UNSPECIFIED``) are hazards too,
named by their code. The severity is the RSI's priority where it gives one, else WARNING.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from edge.apps.day1.ego import Ego
from edge.apps.day1.findings import Finding
from edge.apps.day1.geometry import in_frame_of
from edge.apps.day1.picture import HeardEvent, Picture
from edge.apps.day1.registry import AppSpec
from protocols.schema.v1 import roadgate_pb2 as pb

NOT_HAZARDS = frozenset(
    {
        pb.EVENT_TYPE_SENSOR_FAULT,
        pb.EVENT_TYPE_CLOCK_FAULT,
        pb.EVENT_TYPE_SPEED_ADVISORY,
        pb.EVENT_TYPE_IN_VEHICLE_SIGNAGE,
        pb.EVENT_TYPE_SPEED_LIMIT,
    }
)
"""Heard event types that are no hazard on the road: equipment faults and advice."""


@dataclass(frozen=True)
class HlwSettings:
    """``lead_time_s`` 8: AASHTO's stopping sight distance allows 2.5 s to perceive and react
    and brakes at 3.4 m/s^2, about 5.4 s of travel at 72 km/h; 8 s (engineering choice) leaves
    room to slow down comfortably rather than stop. ``min_lead_m`` 50 (engineering choice):
    at low speed the lead time gives a few metres only, and a hazard 50 m ahead is still
    worth knowing before moving off. ``path_margin_m`` 3.5 (engineering choice): one lane
    width beyond the event's radius, so a hazard reported in the next lane still counts and
    one further off does not. ``own_margin_m`` 2.0: ahead means beyond the ego's front by
    more than a lane-level position error (the 1.5 m accuracy ``lanes.py`` assumes) plus
    0.5 m of the RSU's own error (engineering choice), so a report placed on the ego itself
    is never ahead. ``default_radius_m`` 0: an event without a radius is a point."""

    lead_time_s: float = 8.0
    min_lead_m: float = 50.0
    path_margin_m: float = 3.5
    own_margin_m: float = 2.0
    default_radius_m: float = 0.0

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite non-negative number, got {value}")


def event_label(event: HeardEvent) -> str:
    """What the event is, in words: our type's name, or the RSI code of one we do not know,
    followed by the RSU's own text."""
    if event.event_type == pb.EVENT_TYPE_UNSPECIFIED:
        label = f"hazard (RSI event type {event.event_code})"
    else:
        label = pb.EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        label = label.lower().replace("_", " ")
    return f"{label}: {event.description}" if event.description else label


class Hlw:
    """See the module docstring. Counters: ``unplaced`` (events without a position, per cycle)."""

    code = "HLW"

    def __init__(self, settings: HlwSettings | None = None) -> None:
        self.settings = settings or HlwSettings()
        self.counters: Counter[str] = Counter({"unplaced": 0})

    def evaluate(self, ego: Ego, picture: Picture) -> list[Finding]:
        s = self.settings
        events = [e for e in picture.events if e.event_type not in NOT_HAZARDS]
        placed = [e for e in events if e.east is not None and e.north is not None]
        self.counters["unplaced"] += len(events) - len(placed)
        if not placed:
            return []
        east = np.array([e.east for e in placed], dtype=np.float64)
        north = np.array([e.north for e in placed], dtype=np.float64)
        radius = np.array(
            [s.default_radius_m if e.radius_m is None else e.radius_m for e in placed],
            dtype=np.float64,
        )
        along, left = in_frame_of(ego.east, ego.north, ego.heading, east, north)
        ahead = along - ego.length / 2 > s.own_margin_m
        on_path = np.abs(left) <= radius + s.path_margin_m
        distance = np.maximum(along - ego.length / 2 - radius, 0.0)
        lead_m = max(ego.speed * s.lead_time_s, s.min_lead_m)
        findings = []
        for k in np.flatnonzero(ahead & on_path & (distance <= lead_m)):
            event = placed[int(k)]
            given = event.severity != pb.SEVERITY_UNSPECIFIED
            findings.append(
                Finding(
                    app=self.code,
                    key=event.key,
                    event_type=pb.EVENT_TYPE_HAZARDOUS_LOCATION,
                    severity=event.severity if given else pb.SEVERITY_WARNING,
                    description=f"{event_label(event)}, {distance[k]:.0f} m ahead",
                    east=float(east[k]),
                    north=float(north[k]),
                    remote_id=event.key,
                    distance_m=float(distance[k]),
                    radius_m=float(radius[k]),
                )
            )
        return findings


SPEC = AppSpec("HLW", "hazardous location warning", HlwSettings, Hlw)
