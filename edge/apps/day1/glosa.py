"""Green light optimal speed advisory (GLOSA, a T/CSAE 53-2017 Day-1 application): a speed
at which the ego vehicle reaches its stop line while its movement's signal is green.

The ego must be on a MAP lane before its stop line with a fresh SPAT of that intersection;
its movement's signal group is RLVW's (``movement_signal_group``). The green to reach is the
current one, before its earliest end, or after a red the next one, from the red's likely end
(else its latest) for ``next_green_s``: a SPAT says only the current state, so how long the
next green lasts is not known. The ego should arrive ``margin_s`` inside that window.

The advice is the speed nearest the current one that arrives in the window, between
``min_speed_mps`` and the lane's MAP speed limit (else ``max_speed_mps``). There is none when
the current speed already arrives in the window, and none when no speed in that range does:
no "stop" advice, because a fixed plan's red may end early at an actuated signal, and the
red light is RLVW's to warn of. One episode per approach: the key is (intersection, signal
group).
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.apps.day1.ego import Ego
from edge.apps.day1.findings import Finding
from edge.apps.day1.picture import Phase, Picture
from edge.apps.day1.registry import AppSpec
from edge.apps.day1.rlvw import RED_STATES, movement_signal_group
from protocols.schema.v1 import roadgate_pb2 as pb


@dataclass(frozen=True)
class GlosaSettings:
    """``min_speed_mps`` 5.6 (20 km/h): slower advice would hold up the traffic behind
    (engineering choice). ``max_speed_mps`` 13.9 (50 km/h): the limit where the MAP gives
    none, the common urban limit (engineering choice; a MAP limit always wins).
    ``margin_s`` 1.0: arrive this long after a green starts and before it ends, for the
    speed the driver holds not being exact (engineering choice). ``next_green_s`` 5.0: the
    part of the next green counted on, which the SPAT does not say (a short green for a
    through movement; engineering choice). ``moving_mps`` 2.8 (10 km/h): slower, the ego is
    in a queue and needs no advice (as FCW's minimum)."""

    min_speed_mps: float = 20 / 3.6
    max_speed_mps: float = 50 / 3.6
    margin_s: float = 1.0
    next_green_s: float = 5.0
    moving_mps: float = 2.8


def green_window(phase: Phase, next_green_s: float) -> tuple[float, float] | None:
    """(start, end) of the green to aim for, in s from now: the current green to its earliest
    end, or the green after a red; None for other states or a state without its end."""

    def first(*values: float | None) -> float | None:
        return next((v for v in values if v is not None), None)

    if phase.state == pb.SIGNAL_STATE_GREEN:
        end = first(phase.min_end_s, phase.likely_end_s, phase.max_end_s)
        return None if end is None else (0.0, end)
    if phase.state in RED_STATES:
        start = first(phase.likely_end_s, phase.max_end_s)
        return None if start is None else (start, start + next_green_s)
    return None


def advised_speed(
    distance_m: float,
    speed_mps: float,
    window: tuple[float, float],
    min_speed_mps: float,
    max_speed_mps: float,
    margin_s: float,
) -> float | None:
    """The speed nearest ``speed_mps`` covering ``distance_m`` within ``window`` (less
    ``margin_s`` at a start in the future and at the end), between the limits; None when the
    current speed already does, or no speed between the limits does."""
    start, end = window
    earliest = start + margin_s if start > 0 else 0.0
    latest = end - margin_s
    if latest <= earliest or distance_m <= 0:
        return None
    if speed_mps > 0 and earliest <= distance_m / speed_mps <= latest:
        return None
    low = max(min_speed_mps, distance_m / latest)
    high = min(max_speed_mps, distance_m / earliest) if earliest > 0 else max_speed_mps
    if low > high:
        return None
    return min(max(speed_mps, low), high)


class Glosa:
    """See the module docstring."""

    code = "GLOSA"

    def __init__(self, settings: GlosaSettings | None = None) -> None:
        self.settings = settings or GlosaSettings()

    def evaluate(self, ego: Ego, picture: Picture) -> list[Finding]:
        s = self.settings
        match = ego.lane
        if match is None or ego.speed < s.moving_mps or match.distance_to_stop_m <= 0:
            return []
        lane = match.lane
        group = movement_signal_group(lane, ego.turn_signal, picture.lanes)
        phase = None if group is None else picture.phase(lane.node_id, group)
        if phase is None:  # unsignalised, or no fresh SPAT: nothing to time
            return []
        window = green_window(phase, s.next_green_s)
        if window is None:
            return []
        distance = match.distance_to_stop_m
        limit = lane.speed_limit_mps or s.max_speed_mps
        speed = advised_speed(distance, ego.speed, window, s.min_speed_mps, limit, s.margin_s)
        if speed is None:
            return []
        east, north = lane.stop_line
        which = "this green" if window[0] == 0 else "the next green"
        return [
            Finding(
                app=self.code,
                key=f"{lane.node_id}:{group}",
                event_type=pb.EVENT_TYPE_SPEED_ADVISORY,
                severity=pb.SEVERITY_INFO,
                description=(
                    f"{speed * 3.6:.0f} km/h reaches {which} at the stop line in {distance:.0f} m"
                ),
                east=east,
                north=north,
                distance_m=distance,
                advised_speed_mps=speed,
            )
        ]


SPEC = AppSpec("GLOSA", "green light optimal speed advisory", GlosaSettings, Glosa)
