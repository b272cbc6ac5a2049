"""The ``[world]`` section of a scenario file: the origin, and the actors with their phases or a
named scene (``firmware_py.simulation.scenes.SCENES``) with its objects and radar mounts."""

from __future__ import annotations

from types import MappingProxyType

from firmware_py.config.reader import Table
from firmware_py.simulation.scenes import SCENES
from firmware_py.simulation.world import INTERSECTION, STEP_S, Actor, Phase
from hil.scenario_engine.parse_state import (
    MAX_DURATION_S,
    MAX_OFFSET_M,
    MAX_SETTLE_S,
    ParseState,
)
from hil.scenario_engine.scenario_values import checked_name, geo_point, one_of
from hil.world import GroundTruth

ACTOR_KINDS = ("car", "truck", "pedestrian", "motorcycle", "bicycle")
TURN_SIGNALS = ("off", "left", "right")


def parse_world(state: ParseState, w: Table) -> GroundTruth:
    """The ``[world]`` table: its origin and actors (added to ``state``) or its scene; the
    ground truth."""
    origin = INTERSECTION
    if w.has("origin"):
        o = w.table("origin")
        origin = geo_point(o)
        o.reject_unknown()
    if w.has("scene"):
        name = one_of(w, "scene", tuple(SCENES), "scenes")
        if w.has("actor"):
            raise w.error("actor", "...", "no actors in a world with a scene (it has its own)")
        scene = SCENES[name]()
        if scene.duration_s < state.duration_s:
            # Scene time is scenario time: past its end the scene is empty.
            limit = f"a scene lasting the scenario's duration_s = {state.duration_s:g} s"
            raise w.error("scene", name, f"{limit} ({name} lasts {scene.duration_s:g} s)")
        w.reject_unknown()
        state.truth = GroundTruth(origin, MappingProxyType({}), scene)
        return state.truth
    for t in w.tables("actor"):
        name = checked_name(t, "name")
        if name in state.actors:
            raise t.error("name", name, "actor names must be unique")
        state.actors[name] = _actor(state, t, name)
    w.reject_unknown()
    state.truth = GroundTruth(origin, MappingProxyType(dict(state.actors)))
    return state.truth


def _actor(state: ParseState, t: Table, name: str) -> Actor:
    speed = t.number("speed_mps", 0.0, low=0.0, high=100.0)
    phases = (
        tuple(_phase(p) for p in t.tables("phases"))
        if t.has("phases")
        else (Phase(state.end_s),)  # constant speed for the whole run
    )
    if not phases:
        raise t.error("phases", [], "at least one phase")
    if sum(p.duration_s for p in phases) > MAX_DURATION_S + MAX_SETTLE_S:
        limit = MAX_DURATION_S + MAX_SETTLE_S
        raise t.error("phases", "...", f"phases lasting {limit:g} s in all at most")
    actor = Actor(
        name,
        t.string("kind", "car", choices=ACTOR_KINDS),
        start_east_m=t.number("start_east_m", low=-MAX_OFFSET_M, high=MAX_OFFSET_M),
        start_north_m=t.number("start_north_m", low=-MAX_OFFSET_M, high=MAX_OFFSET_M),
        heading_deg=t.number("heading_deg", 0.0, low=-360.0, high=360.0),
        speed_mps=speed,
        phases=phases,
        length_m=t.number("length_m", 4.5, high=50.0, above=0.0),
        width_m=t.number("width_m", 1.8, high=10.0, above=0.0),
        rcs_dbsm=t.number("rcs_dbsm", 10.0, low=-50.0, high=60.0),
    )
    t.reject_unknown()
    return actor


def _phase(t: Table) -> Phase:
    phase = Phase(
        duration_s=t.number("duration_s", low=STEP_S, high=MAX_DURATION_S + MAX_SETTLE_S),
        accel_mps2=t.number("accel_mps2", 0.0, low=-20.0, high=20.0),
        brake=t.boolean("brake", False),
        turn_signal=t.string("turn_signal", "off", choices=TURN_SIGNALS),
        hazard=t.boolean("hazard", False),
    )
    t.reject_unknown()
    return phase
