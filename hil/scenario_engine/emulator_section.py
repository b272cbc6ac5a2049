"""The ``[[emulator]]`` sections of a scenario file: CAN replay, ARS408 radar, GNSS, signal
controller, C-V2X radio (and the roadside unit it may play), vehicle CAN and HMI emulators."""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

from edge.roadside.signal_plan import FixedTimePlan, SignalGroupPlan
from firmware_py.config.loader import SHIPPED_DBC_DIR
from firmware_py.config.reader import Table
from hil.emulators.vehicle_can import missing_messages
from hil.scenario_engine.model import (
    ARS408_MODELS,
    GNSS_QUALITIES,
    Ars408Spec,
    CanReplaySpec,
    CV2xRadioSpec,
    EmulatorSpec,
    GnssSpec,
    HmiSpec,
    SignalControllerSpec,
    VehicleCanSpec,
)
from hil.scenario_engine.parse_state import MAX_DURATION_S, ParseState
from hil.scenario_engine.scenario_values import (
    PLACEHOLDER,
    checked_name,
    existing_file,
    geo_point,
    interface_name,
    one_of,
)
from protocols.dbc import load_dbc
from protocols.errors import ProtocolError
from protocols.v2x.intersection_file import IntersectionDescription, read_intersection_file

EMULATOR_KINDS = (
    "can_replay",
    "ars408",
    "gnss",
    "signal_controller",
    "cv2x_radio",
    "vehicle_can",
    "hmi",
)
TSCBM_PHASES = 16  # a signal controller's signal groups are its phases: 1-16
SPAT_SIGNAL_GROUPS = 255  # a T/CSAE 53 SPAT's SignalGroupID: 0-255 (0 unknown)
VEHICLE_DBC = "toyota_nodsu_pt_generated.dbc"
"""The vehicle CAN emulator's default DBC: the one the vehicle box configs read."""


def parse_emulator(state: ParseState, t: Table) -> EmulatorSpec:
    """One ``[[emulator]]`` table, checked against the emulators before it (not added)."""
    kind = t.string("kind", choices=EMULATOR_KINDS)
    name = checked_name(t, "name")
    if any(e.name == name for e in state.emulators):
        raise t.error("name", name, "emulator names must be unique")
    spec: EmulatorSpec
    if kind == "can_replay":
        spec = CanReplaySpec(
            name=name,
            channel=interface_name(t, "channel"),
            log=existing_file(t, "log", state.base_dir),
            speed=t.number("speed", 1.0, high=1000.0, above=0.0),
            start_s=t.number("start_s", 0.0, low=0.0, high=state.duration_s),
            loop=t.boolean("loop", False),
        )
    elif kind == "ars408":
        spec = _ars408(state, t, name)
        for other in state.emulators:
            if isinstance(other, Ars408Spec) and (other.channel, other.sensor_id) == (
                spec.channel,
                spec.sensor_id,
            ):
                raise t.error("sensor_id", spec.sensor_id, f"unique on {spec.channel}")
    elif kind == "gnss":
        spec = _gnss(state, t, name)
    elif kind == "cv2x_radio":
        spec = _cv2x_radio(state, t, name)
    elif kind == "vehicle_can":
        spec = _vehicle_can(state, t, name)
    elif kind == "hmi":
        if not PLACEHOLDER.match(name):
            # The box template refers to its port as $hmi_port_<name>.
            raise t.error("name", name, "letters, digits and _, starting with a letter")
        spec = HmiSpec(name=name)
    else:
        spec = _signal_controller(state, t, name)
    t.reject_unknown()
    return spec


def _ars408(state: ParseState, t: Table, name: str) -> Ars408Spec:
    channel = interface_name(t, "channel")
    sensor_id = t.integer("sensor_id", low=0, high=7)
    cycle_s = t.number("cycle_s", 0.072, low=0.01, high=10.0)
    truth = state.truth
    if truth is None or truth.scene is None:
        if t.has("mount"):
            raise t.error("mount", t.string("mount"), "no mount: the world has no scene")
        return Ars408Spec(
            name=name,
            channel=channel,
            sensor_id=sensor_id,
            position=geo_point(t),
            heading_deg=t.number("heading_deg", low=-360.0, high=360.0),
            cycle_s=cycle_s,
        )
    # In a scene the radar stands where the scene mounts it: a pose of its own would disagree.
    for key in ("latitude_deg", "longitude_deg", "altitude_m", "heading_deg"):
        if t.has(key):
            raise t.error(key, "...", "no pose of its own: the scene's mount gives it")
    scene = truth.scene
    mount = truth.mount(
        one_of(t, "mount", tuple(m.sensor_id for m in scene.radars), f"{scene.name} radars")
    )
    return Ars408Spec(
        name=name,
        channel=channel,
        sensor_id=sensor_id,
        position=truth.mount_position(mount),
        heading_deg=math.degrees(mount.yaw_rad),
        cycle_s=cycle_s,
        mount=mount.sensor_id,
        model=t.string("model", "ideal", choices=ARS408_MODELS),
        seed=t.integer("seed", 0, low=0, high=2**32 - 1),
    )


def _gnss(state: ParseState, t: Table, name: str) -> GnssSpec:
    fixed = any(t.has(k) for k in ("latitude_deg", "longitude_deg", "altitude_m"))
    if t.has("actor") == fixed:
        raise t.error(
            "actor", t.string("actor", None), "either actor or latitude_deg/longitude_deg"
        )
    actor = one_of(t, "actor", tuple(state.actors), "actors") if t.has("actor") else None
    return GnssSpec(
        name=name,
        actor=actor,
        position=geo_point(t) if fixed else None,
        rate_hz=t.number("rate_hz", 5.0, high=50.0, above=0.0),
        quality=t.string("quality", "rtk_fixed", choices=GNSS_QUALITIES),
    )


def _cv2x_radio(state: ParseState, t: Table, name: str) -> CV2xRadioSpec:
    if not PLACEHOLDER.match(name):
        # The box template refers to its ports as $v2x_radio_port_<name>, ...
        raise t.error("name", name, "letters, digits and _, starting with a letter")
    actors = _actors(state, t, "remote_actors")
    emergency = _actors(state, t, "emergency_actors")
    silent = [a for a in emergency if a not in actors]
    if silent:
        raise t.error("emergency_actors", silent, f"some of remote_actors = {list(actors)}")
    intersection_file: Path | None = None
    intersection: IntersectionDescription | None = None
    if t.has("intersection"):
        intersection_file = existing_file(t, "intersection", state.base_dir)
        try:
            intersection = read_intersection_file(intersection_file)
        except ProtocolError as err:
            raise t.error("intersection", t.string("intersection"), str(err)) from err
    plan: FixedTimePlan | None = None
    if t.has("signal_plan"):
        p = t.table("signal_plan")
        plan = _plan(p, SPAT_SIGNAL_GROUPS)
        p.reject_unknown()
        if intersection is not None and plan.intersection_id != intersection.map.node_id:
            raise p.error(
                "intersection_id",
                plan.intersection_id,
                f"the intersection file's id, {intersection.map.node_id}",
            )
    return CV2xRadioSpec(
        name=name,
        remote_actors=actors,
        rate_hz=t.number("rate_hz", 10.0, high=100.0, above=0.0),
        emergency_actors=emergency,
        intersection_file=intersection_file,
        intersection=intersection,
        signal_plan=plan,
        rsm_actors=_actors(state, t, "rsm_actors"),
    )


def _actors(state: ParseState, t: Table, key: str) -> tuple[str, ...]:
    if not t.has(key):
        return ()
    names: tuple[str, ...] = t.convert(
        key, functools.partial(_actor_names, state), "a list of actors' names"
    )
    return names


def _vehicle_can(state: ParseState, t: Table, name: str) -> VehicleCanSpec:
    channel = interface_name(t, "channel")
    actor = one_of(t, "actor", tuple(state.actors), "actors")
    value: str = t.string("dbc", VEHICLE_DBC)
    # As in a box config: relative to this file, else one of the DBCs the project ships.
    local = (state.base_dir / value).resolve()
    dbc = local if local.is_file() else (SHIPPED_DBC_DIR / value).resolve()
    if not dbc.is_file():
        raise t.error("dbc", value, f"no such file (looked at {local} and {SHIPPED_DBC_DIR})")
    try:
        missing = missing_messages(load_dbc(dbc).database)
    except ProtocolError as err:
        raise t.error("dbc", value, f"a DBC cantools loads ({err})") from err
    if missing:
        raise t.error("dbc", value, f"a DBC with the car's messages (it lacks {missing})")
    return VehicleCanSpec(name=name, channel=channel, actor=actor, dbc=dbc)


def _actor_names(state: ParseState, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("not a list of strings")
    unknown = [v for v in value if v not in state.actors]
    if unknown:
        raise ValueError(f"no actors {unknown}; the world has {sorted(state.actors)}")
    if len(set(value)) != len(value):
        raise ValueError("each actor once")
    return tuple(value)


def _signal_controller(state: ParseState, t: Table, name: str) -> SignalControllerSpec:
    if not PLACEHOLDER.match(name):
        # The box template refers to its port as $spat_port_<name>.
        raise t.error("name", name, "letters, digits and _, starting with a letter")
    port = t.integer("port", 0, low=1, high=65535)
    if port and any(
        isinstance(e, SignalControllerSpec) and e.port == port for e in state.emulators
    ):
        raise t.error("port", port, "a port no other signal controller uses")
    return SignalControllerSpec(
        name=name,
        plan=_plan(t, TSCBM_PHASES),
        port=port,
        rate_hz=t.number("rate_hz", 10.0, high=100.0, above=0.0),
    )


def _plan(t: Table, max_group: int) -> FixedTimePlan:
    """A fixed-time plan: ``intersection_id``, ``cycle_s`` and ``groups`` of ``t``."""
    groups = []
    for g in t.tables("groups"):
        groups.append(
            SignalGroupPlan(
                signal_group=g.integer("signal_group", low=1, high=max_group),
                green_start_s=g.number("green_start_s", low=0.0, high=MAX_DURATION_S),
                green_s=g.number("green_s", above=0.0, high=MAX_DURATION_S),
                amber_s=g.number("amber_s", 3.0, low=0.0, high=60.0),
            )
        )
        g.reject_unknown()
    numbers = [g.signal_group for g in groups]
    if not numbers or len(set(numbers)) != len(numbers):
        raise t.error("groups", numbers, "one or more groups, each signal_group once")
    intersection_id = t.integer("intersection_id", low=0, high=65535)
    cycle_s = t.number("cycle_s", above=0.0, high=MAX_DURATION_S)
    try:
        return FixedTimePlan(intersection_id, cycle_s, tuple(groups))
    except ValueError as err:
        raise t.error("groups", numbers, str(err)) from err
