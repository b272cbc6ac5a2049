"""In-vehicle signage (IVS, a T/CSAE 53-2017 Day-1 application): the static signs an RSU
announces (RSI ``RTSData``: school zone, roadworks, speed limit, text signs) that concern
the ego vehicle are shown in it, one episode per sign.

Which direction a sign is for, honestly: a T/CSAE 53-2017 ``RTSData`` as we encode it carries
a position, a type and a text, no direction of travel. So a sign concerns the ego when it
stands ahead of it (from the ego's centre to ``max_distance_m`` beyond its front) within a
corridor along its heading that is wider on the right than on the left: with right-hand
traffic a direction's signs stand on its right verge (or above its lanes), so the other
direction's signs lie well to the ego's left. A sign the ego has passed is no longer shown.
A left-hand traffic deployment swaps ``corridor_left_m`` and ``corridor_right_m``. The
corridor is straight: a sign beyond a bend may be missed or taken for the ego's.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.apps.day1.ego import Ego
from edge.apps.day1.findings import Finding
from edge.apps.day1.geometry import in_frame_of
from edge.apps.day1.picture import HeardSign, Picture
from edge.apps.day1.registry import AppSpec
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import SignKind


@dataclass(frozen=True, slots=True)
class SignAhead:
    """A sign in the ego's corridor: metres from the ego's front to it (0: at the ego)."""

    sign: HeardSign
    distance_m: float


def signs_ahead(
    ego: Ego,
    signs: Sequence[HeardSign],
    *,
    max_distance_m: float,
    left_m: float,
    right_m: float,
) -> tuple[list[SignAhead], int]:
    """(the signs from the ego's centre to ``max_distance_m`` beyond its front, at most
    ``left_m`` left and ``right_m`` right of its heading line, nearest first; how many signs
    had no position)."""
    placed = [s for s in signs if s.east is not None and s.north is not None]
    if not placed:
        return [], len(signs)
    east = np.array([s.east for s in placed], dtype=np.float64)
    north = np.array([s.north for s in placed], dtype=np.float64)
    along, left = in_frame_of(ego.east, ego.north, ego.heading, east, north)
    distance = np.maximum(along - ego.length / 2, 0.0)
    inside = (along >= 0) & (distance <= max_distance_m) & (left <= left_m) & (-left <= right_m)
    chosen = np.flatnonzero(inside)
    chosen = chosen[np.argsort(distance[chosen], kind="stable")]
    found = [SignAhead(placed[int(k)], float(distance[k])) for k in chosen]
    return found, len(signs) - len(placed)


def sign_label(sign: HeardSign) -> str:
    """What the sign says, in words."""
    if sign.kind == SignKind.SPEED_LIMIT and sign.speed_limit_mps is not None:
        return f"speed limit {sign.speed_limit_mps * 3.6:.0f} km/h"
    if sign.kind is not None and sign.kind != SignKind.SPEED_LIMIT:
        return sign.kind.value.replace("_", " ")
    return sign.description or f"sign (RSI sign type {sign.sign_code})"


@dataclass(frozen=True)
class IvsSettings:
    """``max_distance_m`` 150 (engineering choice): 7.5 s ahead at 72 km/h, enough to read
    a sign before reaching it, and within what the radio hears reliably.
    ``corridor_right_m`` 15 (engineering choice): from the ego's lane centre across three
    more 3.5 m lanes to a sign on the right verge. ``corridor_left_m`` 5.25 (engineering
    choice): a sign above the lane to the left of the ego's or in a median beside it, short
    of the other direction's right verge (a lane and a half plus a verge away at the
    least)."""

    max_distance_m: float = 150.0
    corridor_left_m: float = 5.25
    corridor_right_m: float = 15.0

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite non-negative number, got {value}")


class Ivs:
    """See the module docstring. Counters: ``unplaced`` (signs without a position, per cycle)."""

    code = "IVS"

    def __init__(self, settings: IvsSettings | None = None) -> None:
        self.settings = settings or IvsSettings()
        self.counters: Counter[str] = Counter({"unplaced": 0})

    def evaluate(self, ego: Ego, picture: Picture) -> list[Finding]:
        s = self.settings
        found, unplaced = signs_ahead(
            ego,
            picture.signs,
            max_distance_m=s.max_distance_m,
            left_m=s.corridor_left_m,
            right_m=s.corridor_right_m,
        )
        self.counters["unplaced"] += unplaced
        findings = []
        for item in found:
            sign = item.sign
            where = f"{item.distance_m:.0f} m ahead" if item.distance_m > 0 else "here"
            findings.append(
                Finding(
                    app=self.code,
                    key=sign.key,
                    event_type=pb.EVENT_TYPE_IN_VEHICLE_SIGNAGE,
                    severity=pb.SEVERITY_INFO,
                    description=f"{sign_label(sign)}, {where}",
                    east=float(sign.east or 0.0),
                    north=float(sign.north or 0.0),
                    remote_id=sign.key,
                    distance_m=item.distance_m,
                )
            )
        return findings


SPEC = AppSpec("IVS", "in-vehicle signage", IvsSettings, Ivs)
