"""Red light violation warning (RLVW, a T/CSAE 53-2017 Day-1 application): at its current
speed the ego vehicle would cross its stop line while its movement's signal is red.

The ego must be on a MAP lane before its stop line, and the SPAT of that lane's intersection
(MAP node id = SPAT intersection id) must be fresh: without it the application is silent, it
never assumes a signal. The movement is the lane's connection matching the turn signal (left,
right, else straight; see ``movement_signal_group``). The light at arrival is red when the ego
arrives before a red ends, after an amber ends, or after a green and the ``amber_s`` that
follows it end. Arriving on amber is left to the driver (the dilemma zone: a warning there
would urge hard braking).

The warning fires when the time to the line falls to the lead time a driver needs to stop
comfortably: ``reaction_s + v / (2 comfortable_decel) + latency_s``; it is critical once even
braking at once would need more than ``comfortable_decel_mps2``. A driver already braking to
a stop before the line is not warned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.apps.day1.ego import Ego
from edge.apps.day1.findings import Finding
from edge.apps.day1.geometry import time_to_cover, wrap
from edge.apps.day1.lanes import Lane, LaneIndex
from edge.apps.day1.picture import Phase, Picture
from edge.apps.day1.registry import AppSpec
from protocols.schema.v1 import roadgate_pb2 as pb

TURN_DEG = 45.0
"""A connection turns when its downstream lane leaves more than this from the lane's heading
at the stop line (a straight movement across a skewed junction stays within it)."""
RED_STATES = frozenset({pb.SIGNAL_STATE_RED, pb.SIGNAL_STATE_RED_AMBER})


def connection_maneuver(lane: Lane, downstream: Lane | None) -> str | None:
    """``"left"``, ``"right"`` or ``"straight"``: where a connection from ``lane`` to
    ``downstream`` goes, from the downstream lane's first direction (None: not in the MAP;
    then a lane with a single maneuver says it)."""
    if downstream is None:
        turns = lane.maneuvers & {"left", "right", "straight"}
        return next(iter(turns)) if len(turns) == 1 else None
    (e0, n0), (e1, n1) = downstream.points[0], downstream.points[1]
    turn = float(wrap(math.atan2(float(e1 - e0), float(n1 - n0)) - lane.heading_at_stop_rad))
    if turn > math.radians(TURN_DEG):
        return "right"  # headings grow clockwise
    if turn < -math.radians(TURN_DEG):
        return "left"
    return "straight"


def movement_signal_group(
    lane: Lane, turn_signal: pb.TurnSignal.ValueType, lanes: LaneIndex
) -> int | None:
    """The signal group of the movement the ego makes from ``lane``: its only one, else the
    connection going the way the turn signal says (no signal: straight). None: unsignalised,
    or no connection goes that way (the movement is unknown, so nothing is warned)."""
    groups = lane.signal_groups
    if len(groups) <= 1:
        return groups[0] if groups else None
    wanted = {pb.TURN_SIGNAL_LEFT: "left", pb.TURN_SIGNAL_RIGHT: "right"}.get(
        turn_signal, "straight"
    )
    for connection in lane.connections:
        if connection.signal_group is None:
            continue
        downstream = lanes.lane(connection.node_id, connection.lane_id)
        if connection_maneuver(lane, downstream) == wanted:
            return connection.signal_group
    return None


def red_at(phase: Phase, arrival_s: float, amber_s: float) -> bool:
    """Whether ``phase`` is red ``arrival_s`` from now. A red (or red-amber) lasts to its
    likely end (else its latest; no time said: it lasts); an amber's red starts at its
    earliest end; a green's after its earliest end and ``amber_s``. Other states (dark,
    flashing) are not a red to warn of."""

    def first(*values: float | None) -> float | None:
        return next((v for v in values if v is not None), None)

    if phase.state in RED_STATES:
        end = first(phase.likely_end_s, phase.max_end_s)
        return end is None or arrival_s < end
    if phase.state == pb.SIGNAL_STATE_AMBER:
        end = first(phase.min_end_s, phase.likely_end_s, phase.max_end_s)
        return arrival_s > (end or 0.0)
    if phase.state == pb.SIGNAL_STATE_GREEN:
        end = first(phase.min_end_s, phase.likely_end_s, phase.max_end_s)
        return end is not None and arrival_s > end + amber_s
    return False


@dataclass(frozen=True)
class RlvwSettings:
    """``reaction_s`` 1.5: the driver's perception and reaction (engineering choice between
    the 1.0 s of ITE's yellow change interval formula and the 2.5 s AASHTO designs stopping
    sight distance for). ``comfortable_decel_mps2`` 3.0: a comfortable stop at a signal (ITE's
    yellow change interval formula assumes 10 ft/s^2, 3.0 m/s^2). ``latency_s`` 0.5: the V2X
    link (T/CSAE 53 allows 0.1 s), the 10 Hz cycle, the engine's two-cycle confirmation
    (0.2 s) and a margin (as FCW). ``amber_s`` 3.0: the amber after a green, which a SPAT does
    not say (it sends the current state only); 3 s is the common urban amber (engineering
    choice); 0 also warns of arriving on the amber after a green. ``min_speed_mps`` 2.8
    (10 km/h): slower, the ego is creeping in a queue (as FCW)."""

    reaction_s: float = 1.5
    comfortable_decel_mps2: float = 3.0
    latency_s: float = 0.5
    amber_s: float = 3.0
    min_speed_mps: float = 2.8


class Rlvw:
    """See the module docstring."""

    code = "RLVW"

    def __init__(self, settings: RlvwSettings | None = None) -> None:
        self.settings = settings or RlvwSettings()

    def lead_time_s(self, speed_mps: float) -> float:
        """Time to the line at which a driver reacting now stops comfortably at it."""
        s = self.settings
        return s.reaction_s + speed_mps / (2 * s.comfortable_decel_mps2) + s.latency_s

    def evaluate(self, ego: Ego, picture: Picture) -> list[Finding]:
        s = self.settings
        match = ego.lane
        if match is None or ego.speed < s.min_speed_mps or match.distance_to_stop_m <= 0:
            return []
        lane = match.lane
        group = movement_signal_group(lane, ego.turn_signal, picture.lanes)
        if group is None:
            return []
        phase = picture.phase(lane.node_id, group)
        if phase is None:  # no fresh SPAT: the signal is unknown, never assumed
            return []
        distance = match.distance_to_stop_m
        # At its current acceleration: a driver braking to a stop before the line is inf.
        arrival = float(
            time_to_cover(np.array([distance]), np.array([ego.speed]), np.array([ego.accel]))[0]
        )
        if arrival > self.lead_time_s(ego.speed) or not red_at(phase, arrival, s.amber_s):
            return []
        needed = ego.speed * ego.speed / (2 * distance)
        critical = needed > s.comfortable_decel_mps2
        east, north = lane.stop_line
        return [
            Finding(
                app=self.code,
                key=f"{lane.node_id}:{group}",
                event_type=pb.EVENT_TYPE_RED_LIGHT_VIOLATION,
                severity=pb.SEVERITY_CRITICAL if critical else pb.SEVERITY_WARNING,
                description=(
                    f"red light: stop line {distance:.0f} m, reached in {arrival:.1f} s "
                    f"(stopping needs {needed:.1f} m/s^2)"
                ),
                east=east,
                north=north,
                time_to_collision_s=arrival,
                distance_m=distance,
            )
        ]


SPEC = AppSpec("RLVW", "red light violation warning", RlvwSettings, Rlvw)
