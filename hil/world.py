"""A scenario's ground truth: actors whose motion is a pure function of scenario time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from edge.geo import GeoPoint
from firmware_py.simulation.world import Actor, ActorState


@dataclass(frozen=True)
class GroundTruth:
    """Where every actor is at scenario time ``t_s``, in metres east/north of ``origin``."""

    origin: GeoPoint
    actors: Mapping[str, Actor]

    def state(self, actor: str, t_s: float) -> ActorState:
        return self.actors[actor].state_at(t_s)

    def position(self, actor: str, t_s: float) -> GeoPoint:
        state = self.state(actor, t_s)
        return self.origin.offset(state.east_m, state.north_m)
