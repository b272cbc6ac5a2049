"""Speed limit warning (SLW, a T/CSAE 53-2017 Day-1 application): the ego vehicle is faster
than the limit that applies to it by more than a tolerance.

The limit that applies: the lowest of the RSI speed-limit signs ahead of the ego within
``sign_ahead_m`` (or at it, being passed), so that the driver is at the limit by the sign;
else the speed limit of the MAP lane the ego is on; else none, and nothing is said. Signs
carry no direction of travel in our RSI encoding: a sign is taken for the ego's by where it
stands, in the corridor ``edge.apps.day1.ivs.signs_ahead`` draws (ahead, on the ego's side
of the road); a sign behind the ego may be the other direction's, so it no longer counts
and the lane's limit takes over. One episode per limit exceeded: a new limit is a new
warning.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from edge.apps.day1.ego import Ego
from edge.apps.day1.findings import Finding
from edge.apps.day1.ivs import signs_ahead
from edge.apps.day1.picture import Picture
from edge.apps.day1.registry import AppSpec
from edge.apps.speeding import ENFORCEMENT_TOLERANCE_MPS
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import SignKind


@dataclass(frozen=True)
class SlwSettings:
    """``tolerance_mps`` 1.39 (5 km/h): the tolerance the roadside speeding detector forgives
    (``edge.apps.speeding.ENFORCEMENT_TOLERANCE_MPS``), so the vehicle is not warned of what
    enforcement would not report. ``sign_ahead_m`` 100 (engineering choice): slowing from 60
    to 40 km/h at a comfortable 1.5 m/s^2 takes 52 m, after 2.5 s (AASHTO's
    perception-reaction time, 42 m); the limit applies that far before its sign.
    ``corridor_left_m`` 5.25 and ``corridor_right_m`` 15: as IVS (which side of the road a
    sign is on, see ``edge.apps.day1.ivs``)."""

    tolerance_mps: float = ENFORCEMENT_TOLERANCE_MPS
    sign_ahead_m: float = 100.0
    corridor_left_m: float = 5.25
    corridor_right_m: float = 15.0

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite non-negative number, got {value}")


@dataclass(frozen=True, slots=True)
class AppliedLimit:
    """The limit in force (m/s), where it comes from (for the driver), where it stands in
    the picture's frame and how far ahead (m, 0: here)."""

    limit_mps: float
    source: str
    east: float
    north: float
    distance_m: float


class Slw:
    """See the module docstring. Counters: ``unplaced`` (signs without a position, per cycle)."""

    code = "SLW"

    def __init__(self, settings: SlwSettings | None = None) -> None:
        self.settings = settings or SlwSettings()
        self.counters: Counter[str] = Counter({"unplaced": 0})

    def applied_limit(self, ego: Ego, picture: Picture) -> AppliedLimit | None:
        """The limit that applies to the ego (None: no limit known)."""
        s = self.settings
        found, unplaced = signs_ahead(
            ego,
            [sign for sign in picture.signs if sign.kind == SignKind.SPEED_LIMIT],
            max_distance_m=s.sign_ahead_m,
            left_m=s.corridor_left_m,
            right_m=s.corridor_right_m,
        )
        self.counters["unplaced"] += unplaced
        limits = [
            AppliedLimit(
                limit,
                "sign" if item.distance_m <= 0 else f"sign {item.distance_m:.0f} m ahead",
                float(item.sign.east or 0.0),
                float(item.sign.north or 0.0),
                item.distance_m,
            )
            for item in found
            if (limit := item.sign.speed_limit_mps) is not None
        ]
        if limits:
            return min(limits, key=lambda applied: (applied.limit_mps, applied.distance_m))
        lane = ego.lane.lane if ego.lane is not None else None
        if lane is not None and lane.speed_limit_mps is not None:
            return AppliedLimit(lane.speed_limit_mps, "lane", ego.east, ego.north, 0.0)
        return None

    def evaluate(self, ego: Ego, picture: Picture) -> list[Finding]:
        applied = self.applied_limit(ego, picture)
        if applied is None or ego.speed <= applied.limit_mps + self.settings.tolerance_mps:
            return []
        limit_kph = applied.limit_mps * 3.6
        return [
            Finding(
                app=self.code,
                key=f"limit:{limit_kph:.0f}",
                event_type=pb.EVENT_TYPE_SPEED_LIMIT,
                severity=pb.SEVERITY_WARNING,
                description=(
                    f"{ego.speed * 3.6:.0f} km/h over the {limit_kph:.0f} km/h limit "
                    f"({applied.source})"
                ),
                east=applied.east,
                north=applied.north,
                distance_m=applied.distance_m,
            )
        ]


SPEC = AppSpec("SLW", "speed limit warning", SlwSettings, Slw)
