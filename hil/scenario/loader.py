"""Load scenario files (TOML) for the HIL bench; see ``hil/scenarios/README.md``.

A scenario file has five parts; relative paths are relative to the scenario file, times are
scenario seconds (0 = the emulators start), unknown keys are errors::

    [scenario]   name (default: file stem), description, duration_s (emulators run this long),
                 box (the daemon's config template), settle_s (keep watching after the
                 emulators stop; default 3), vcan (interfaces to create; default: the CAN
                 emulators' channels)
    [world]      origin = {latitude_deg, longitude_deg, altitude_m} (default: the demo
                 intersection); [[world.actor]]: name, kind (car, truck, pedestrian,
                 motorcycle, bicycle), start_east_m, start_north_m, heading_deg, speed_mps,
                 length_m, width_m, rcs_dbsm, phases = [{duration_s, accel_mps2, brake,
                 turn_signal (off/left/right), hazard}] (repeating; default: constant speed)
    [[emulator]] kind = "can_replay": name, channel, log, speed (1), start_s (0), loop (false)
                 kind = "ars408": name, channel, sensor_id (0-7), latitude_deg,
                     longitude_deg, altitude_m, heading_deg, cycle_s (0.072)
                 kind = "gnss": name, actor or latitude_deg/longitude_deg/altitude_m,
                     rate_hz (5), quality (gnss, dgnss, rtk_float, rtk_fixed)
                 kind = "signal_controller": name, port (default: a free one the bench
                     picks), rate_hz (10), intersection_id, cycle_s, groups = [{signal_group
                     (1-16), green_start_s, green_s, amber_s (3)}]
                 kind = "cv2x_radio": name, remote_actors ([]), rate_hz (10)
    [[fault]]    kind, target, at_s, duration_s; interface_down and bus_off target a CAN
                 emulator's channel; gnss_unplug, gnss_no_fix and gnss_garbage (bytes = 2000)
                 a GNSS emulator; controller_silent a signal controller; broker_outage and
                 daemon_kill (duration_s: until the restart) take no target. A fault must end
                 by duration_s.
    [[expect]]   kind (messages, tracks, vehicle_state, event, no_loss, can_received,
                 gnss_received, recovery, counter, spat, v2x), an optional name, and the kind's keys
                 (see ``hil.scenario.expectations``); after_s/until_s default to 0 and
                 duration_s, and may reach up to duration_s + settle_s.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from edge.geo import GeoPoint
from edge.roadside.signal_plan import FixedTimePlan, SignalGroupPlan
from firmware_py.config.reader import Table, read_toml
from firmware_py.errors import ConfigError
from firmware_py.simulation.world import INTERSECTION, STEP_S, Actor, Phase
from hil.errors import ScenarioError
from hil.scenario.expectations import (
    EVENT_PREFIX,
    Expectation,
    ExpectCanReceived,
    ExpectCounter,
    ExpectEvent,
    ExpectGnssReceived,
    ExpectMessages,
    ExpectNoLoss,
    ExpectRecovery,
)
from hil.scenario.expectations_motion import LATENCY_S, ExpectTracks, ExpectVehicleState
from hil.scenario.expectations_objects import ExpectObjectsNear
from hil.scenario.expectations_spat import END_TOLERANCE_S, ExpectSpat
from hil.scenario.expectations_v2x import END_TOLERANCE_S as V2X_END_TOLERANCE_S
from hil.scenario.expectations_v2x import MESSAGES as V2X_MESSAGES
from hil.scenario.expectations_v2x import ExpectV2x
from hil.scenario.model import (
    CAN_EMULATORS,
    CAN_FAULTS,
    CONTROLLER_FAULTS,
    FAULT_KINDS,
    GNSS_FAULTS,
    GNSS_QUALITIES,
    Ars408Spec,
    CanReplaySpec,
    CV2xRadioSpec,
    EmulatorSpec,
    FaultSpec,
    GnssSpec,
    Scenario,
    SignalControllerSpec,
)
from hil.world import GroundTruth
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import Stream

# Bounds keep the actors' 100 Hz motion tables small and every number physical.
MAX_DURATION_S = 3600.0
MAX_SETTLE_S = 600.0
MAX_OFFSET_M = 100_000.0
ACTOR_KINDS = ("car", "truck", "pedestrian", "motorcycle", "bicycle")
TURN_SIGNALS = ("off", "left", "right")
EMULATOR_KINDS = ("can_replay", "ars408", "gnss", "signal_controller", "cv2x_radio")
TSCBM_PHASES = 16  # a signal controller's signal groups are its phases: 1-16
UPLINK_STREAMS = tuple(s.value for s in Stream if s is not Stream.CMD)
EVENT_TYPES = tuple(
    name.removeprefix(EVENT_PREFIX)
    for name in pb.EventType.keys()  # noqa: SIM118 (an EnumTypeWrapper, not a dict)
    if not name.endswith("_UNSPECIFIED")
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_PLACEHOLDER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")  # string.Template's, in a box template
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")  # Linux: IFNAMSIZ - 1, no '/' or ':'


def scenario_files(directory: Path) -> list[Path]:
    """The ``*.toml`` files directly in ``directory``, sorted by name."""
    return sorted(p for p in directory.glob("*.toml") if p.is_file())


def load_scenario(path: Path) -> Scenario:
    """Load and validate ``path``. Raises ``ScenarioError`` naming the file and the key."""
    try:
        root = read_toml(path, "scenario file")
        return _Parser(path).scenario(root)
    except ConfigError as err:
        raise ScenarioError(str(err)) from err


def parse_scenario(data: Mapping[str, Any], path: Path) -> Scenario:
    """Build a ``Scenario`` from parsed TOML; relative paths resolve against ``path``'s folder."""
    try:
        return _Parser(path).scenario(Table.document(data, str(path)))
    except ConfigError as err:
        raise ScenarioError(str(err)) from err


# --- typed values with the checks Table lacks (names, interfaces, files) -------------------


def _name(t: Table, key: str) -> str:
    value: str = t.string(key)
    if not _NAME.match(value):
        raise t.error(key, value, "1-64 characters of A-Z a-z 0-9 _ . -, not starting with . _ -")
    return value


def _one_of(t: Table, key: str, choices: tuple[str, ...], what: str) -> str:
    """A string from ``choices``; unlike ``Table.string``, an empty ``choices`` allows nothing."""
    value: str = t.string(key)
    if value not in choices:
        raise t.error(key, value, f"one of the {what}: {list(choices)}")
    return value


def _ifname(t: Table, key: str) -> str:
    value: str = t.string(key)
    if not _IFNAME.match(value):
        raise t.error(key, value, "a network interface name: 1-15 of A-Z a-z 0-9 _ . -")
    return value


def _file(t: Table, key: str, base_dir: Path) -> Path:
    value: str = t.string(key)
    path = base_dir / value
    try:
        path = path.resolve()
        found = path.is_file()
    except (OSError, ValueError):  # a name too long, or with a NUL byte
        found = False
    if not found:
        raise t.error(key, value, f"no such file ({path})")
    return path


def _geo(t: Table) -> GeoPoint:
    return GeoPoint(
        t.number("latitude_deg", low=-90.0, high=90.0),
        t.number("longitude_deg", low=-180.0, high=180.0),
        t.number("altitude_m", 0.0, low=-1000.0, high=10_000.0),
    )


class _Parser:
    """Parses one file; later sections are checked against earlier ones (actors, targets)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.base_dir = path.parent
        self.duration_s = 0.0
        self.end_s = 0.0  # duration + settle: the last moment an expectation may look at
        self.actors: dict[str, Actor] = {}
        self.emulators: list[EmulatorSpec] = []
        self.faults: list[FaultSpec] = []

    def scenario(self, root: Table) -> Scenario:
        s = root.table("scenario", required=True)
        name = _name(s, "name") if s.has("name") else self.path.stem
        description: str = s.string("description", "")
        self.duration_s = s.number("duration_s", above=0.0, high=MAX_DURATION_S)
        settle_s = s.number("settle_s", 3.0, low=0.0, high=MAX_SETTLE_S)
        self.end_s = self.duration_s + settle_s
        box = _file(s, "box", self.base_dir)
        truth = self.world(root.table("world"))
        for t in root.tables("emulator"):
            self.emulators.append(self.emulator(t))
        can_channels = tuple(
            dict.fromkeys(e.channel for e in self.emulators if isinstance(e, CAN_EMULATORS))
        )
        vcan = self.vcan(s, can_channels) if s.has("vcan") else can_channels
        s.reject_unknown()
        for t in root.tables("fault"):
            self.faults.append(self.fault(t, can_channels))
        expectations = tuple(self.expectation(t, can_channels) for t in root.tables("expect"))
        root.reject_unknown()
        return Scenario(
            name=name,
            description=description,
            path=self.path,
            duration_s=self.duration_s,
            settle_s=settle_s,
            box_template=box,
            vcan=vcan,
            truth=truth,
            emulators=tuple(self.emulators),
            faults=tuple(self.faults),
            expectations=expectations,
        )

    def vcan(self, s: Table, can_channels: tuple[str, ...]) -> tuple[str, ...]:
        def names(value: Any) -> tuple[str, ...]:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError("not a list of strings")
            if len(set(value)) != len(value):
                raise ValueError("names repeat")
            bad = [v for v in value if not _IFNAME.match(v)]
            if bad:
                raise ValueError(f"{bad[0]!r} is not an interface name")
            missing = [c for c in can_channels if c not in value]
            if missing:
                raise ValueError(f"CAN emulators use {missing}, which are not listed")
            return tuple(value)

        return s.convert("vcan", names, "a list of vcan interfaces to create")

    # --- [world] ----------------------------------------------------------------------------

    def world(self, w: Table) -> GroundTruth:
        origin = INTERSECTION
        if w.has("origin"):
            o = w.table("origin")
            origin = _geo(o)
            o.reject_unknown()
        for t in w.tables("actor"):
            name = _name(t, "name")
            if name in self.actors:
                raise t.error("name", name, "actor names must be unique")
            self.actors[name] = self.actor(t, name)
        w.reject_unknown()
        return GroundTruth(origin, MappingProxyType(dict(self.actors)))

    def actor(self, t: Table, name: str) -> Actor:
        speed = t.number("speed_mps", 0.0, low=0.0, high=100.0)
        phases = (
            tuple(self.phase(p) for p in t.tables("phases"))
            if t.has("phases")
            else (Phase(self.end_s),)  # constant speed for the whole run
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

    def phase(self, t: Table) -> Phase:
        phase = Phase(
            duration_s=t.number("duration_s", low=STEP_S, high=MAX_DURATION_S + MAX_SETTLE_S),
            accel_mps2=t.number("accel_mps2", 0.0, low=-20.0, high=20.0),
            brake=t.boolean("brake", False),
            turn_signal=t.string("turn_signal", "off", choices=TURN_SIGNALS),
            hazard=t.boolean("hazard", False),
        )
        t.reject_unknown()
        return phase

    # --- [[emulator]] -----------------------------------------------------------------------

    def emulator(self, t: Table) -> EmulatorSpec:
        kind = t.string("kind", choices=EMULATOR_KINDS)
        name = _name(t, "name")
        if any(e.name == name for e in self.emulators):
            raise t.error("name", name, "emulator names must be unique")
        spec: EmulatorSpec
        if kind == "can_replay":
            spec = CanReplaySpec(
                name=name,
                channel=_ifname(t, "channel"),
                log=_file(t, "log", self.base_dir),
                speed=t.number("speed", 1.0, high=1000.0, above=0.0),
                start_s=t.number("start_s", 0.0, low=0.0, high=self.duration_s),
                loop=t.boolean("loop", False),
            )
        elif kind == "ars408":
            spec = Ars408Spec(
                name=name,
                channel=_ifname(t, "channel"),
                sensor_id=t.integer("sensor_id", low=0, high=7),
                position=_geo(t),
                heading_deg=t.number("heading_deg", low=-360.0, high=360.0),
                cycle_s=t.number("cycle_s", 0.072, low=0.01, high=10.0),
            )
            for other in self.emulators:
                if isinstance(other, Ars408Spec) and (other.channel, other.sensor_id) == (
                    spec.channel,
                    spec.sensor_id,
                ):
                    raise t.error("sensor_id", spec.sensor_id, f"unique on {spec.channel}")
        elif kind == "gnss":
            spec = self.gnss(t, name)
        elif kind == "cv2x_radio":
            spec = self.cv2x_radio(t, name)
        else:
            spec = self.signal_controller(t, name)
        t.reject_unknown()
        return spec

    def gnss(self, t: Table, name: str) -> GnssSpec:
        fixed = any(t.has(k) for k in ("latitude_deg", "longitude_deg", "altitude_m"))
        if t.has("actor") == fixed:
            raise t.error(
                "actor", t.string("actor", None), "either actor or latitude_deg/longitude_deg"
            )
        actor = _one_of(t, "actor", tuple(self.actors), "actors") if t.has("actor") else None
        return GnssSpec(
            name=name,
            actor=actor,
            position=_geo(t) if fixed else None,
            rate_hz=t.number("rate_hz", 5.0, high=50.0, above=0.0),
            quality=t.string("quality", "rtk_fixed", choices=GNSS_QUALITIES),
        )

    def cv2x_radio(self, t: Table, name: str) -> CV2xRadioSpec:
        if not _PLACEHOLDER.match(name):
            # The box template refers to its ports as $v2x_radio_port_<name>, ...
            raise t.error("name", name, "letters, digits and _, starting with a letter")
        actors = (
            t.convert("remote_actors", self._actor_names, "a list of actors' names")
            if t.has("remote_actors")
            else ()
        )
        return CV2xRadioSpec(
            name=name,
            remote_actors=actors,
            rate_hz=t.number("rate_hz", 10.0, high=100.0, above=0.0),
        )

    def _actor_names(self, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("not a list of strings")
        unknown = [v for v in value if v not in self.actors]
        if unknown:
            raise ValueError(f"no actors {unknown}; the world has {sorted(self.actors)}")
        if len(set(value)) != len(value):
            raise ValueError("each actor once")
        return tuple(value)

    def signal_controller(self, t: Table, name: str) -> SignalControllerSpec:
        if not _PLACEHOLDER.match(name):
            # The box template refers to its port as $spat_port_<name>.
            raise t.error("name", name, "letters, digits and _, starting with a letter")
        port = t.integer("port", 0, low=1, high=65535)
        if port and any(
            isinstance(e, SignalControllerSpec) and e.port == port for e in self.emulators
        ):
            raise t.error("port", port, "a port no other signal controller uses")
        groups = []
        for g in t.tables("groups"):
            groups.append(
                SignalGroupPlan(
                    signal_group=g.integer("signal_group", low=1, high=TSCBM_PHASES),
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
            plan = FixedTimePlan(intersection_id, cycle_s, tuple(groups))
        except ValueError as err:
            raise t.error("groups", numbers, str(err)) from err
        return SignalControllerSpec(
            name=name,
            plan=plan,
            port=port,
            rate_hz=t.number("rate_hz", 10.0, high=100.0, above=0.0),
        )

    # --- [[fault]] --------------------------------------------------------------------------

    def fault(self, t: Table, can_channels: tuple[str, ...]) -> FaultSpec:
        kind = t.string("kind", choices=FAULT_KINDS)
        gnss_names = tuple(e.name for e in self.emulators if isinstance(e, GnssSpec))
        if kind in CAN_FAULTS:
            target = _one_of(t, "target", can_channels, "CAN emulators' channels")
        elif kind in GNSS_FAULTS:
            target = _one_of(t, "target", gnss_names, "GNSS emulators")
        elif kind in CONTROLLER_FAULTS:
            target = _one_of(t, "target", tuple(self.controllers()), "signal controllers")
        else:
            target = t.string("target", "", choices=("",))
        at_s = t.number("at_s", low=0.0, high=self.duration_s)
        duration_s = t.number("duration_s", above=0.0, high=self.duration_s)
        if at_s + duration_s > self.duration_s + 1e-9:
            raise t.error(
                "duration_s", duration_s, f"the fault must end by duration_s = {self.duration_s:g}"
            )
        # The bench injects faults one after another, in file order (= recording.faults order).
        if self.faults and at_s < self.faults[-1].end_s - 1e-9:
            previous = self.faults[-1].end_s
            raise t.error(
                "at_s", at_s, f"faults run in turn: not before the last ends ({previous:g} s)"
            )
        size = t.integer("bytes", 2000, low=1, high=10_000_000) if kind == "gnss_garbage" else 0
        t.reject_unknown()
        return FaultSpec(kind, target, at_s, duration_s, size)

    # --- [[expect]] -------------------------------------------------------------------------

    def expectation(self, t: Table, can_channels: tuple[str, ...]) -> Expectation:
        kind = t.string("kind", choices=tuple(self._KINDS))
        name: str = t.string("name", "")
        expectation = self._KINDS[kind](self, t, name, can_channels)
        t.reject_unknown()
        return expectation

    def _window(self, t: Table) -> tuple[float, float]:
        after_s = t.number("after_s", 0.0, low=0.0, high=self.end_s)
        until_s = t.number("until_s", self.duration_s, low=0.0, high=self.end_s)
        if until_s <= after_s:
            raise t.error("until_s", until_s, f"a time after after_s = {after_s:g}")
        return after_s, until_s

    def _fraction(self, t: Table) -> float:
        return t.number("min_fraction", 0.95, low=0.0, high=1.0)

    def _latency(self, t: Table) -> float:
        return t.number("latency_s", LATENCY_S, low=0.0, high=5.0)

    def _messages(self, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
        stream = t.string("stream", choices=UPLINK_STREAMS)
        min_count = t.integer("min_count", 1, low=0)
        min_rate_hz = t.number("min_rate_hz", None, low=0.0)
        max_gap_s = t.number("max_gap_s", None, low=0.0)
        after_s, until_s = self._window(t)
        return ExpectMessages(
            name=name,
            stream=stream,
            min_count=min_count,
            min_rate_hz=min_rate_hz,
            after_s=after_s,
            until_s=until_s,
            max_gap_s=max_gap_s,
        )

    def _tracks(self, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
        sensor: str = t.string("sensor")
        after_s, until_s = self._window(t)
        return ExpectTracks(
            name=name,
            sensor=sensor,
            count=t.integer("count", low=0, high=1000),
            after_s=after_s,
            until_s=until_s,
            position_tolerance_m=t.number("position_tolerance_m", 2.0, above=0.0),
            min_fraction=self._fraction(t),
            latency_s=self._latency(t),
        )

    def _objects_near(self, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
        sensor: str = t.string("sensor")

        def points(value: object) -> tuple[tuple[float, float], ...]:
            if not isinstance(value, list) or not value:
                raise ValueError("not a non-empty list")
            out = []
            for point in value:
                if (
                    not isinstance(point, list)
                    or len(point) != 2
                    or any(isinstance(v, bool) or not isinstance(v, int | float) for v in point)
                    or not all(math.isfinite(v) for v in point)
                ):
                    raise ValueError("a point is not [forward_m, left_m]")
                out.append((float(point[0]), float(point[1])))
            return tuple(out)

        after_s, until_s = self._window(t)
        return ExpectObjectsNear(
            name=name,
            sensor=sensor,
            points=t.convert("points", points, "a list of [forward_m, left_m] points"),
            after_s=after_s,
            until_s=until_s,
            tolerance_m=t.number("tolerance_m", 0.5, above=0.0),
            min_fraction=t.number("min_fraction", 0.8, low=0.0, high=1.0),
        )

    def _vehicle_state(self, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
        actor = _one_of(t, "actor", tuple(self.actors), "actors")
        after_s, until_s = self._window(t)
        return ExpectVehicleState(
            name=name,
            actor=actor,
            after_s=after_s,
            until_s=until_s,
            speed_tolerance_mps=t.number("speed_tolerance_mps", 0.5, above=0.0),
            position_tolerance_m=t.number("position_tolerance_m", 3.0, above=0.0),
            min_fraction=self._fraction(t),
            latency_s=self._latency(t),
        )

    def _event(self, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
        event_type = t.string("event_type", choices=EVENT_TYPES)
        end_s = self.end_s

        def window(value: Any) -> tuple[float, float]:
            if not isinstance(value, list) or len(value) != 2:
                raise ValueError("not a list of two numbers")
            if any(isinstance(v, bool) or not isinstance(v, int | float) for v in value):
                raise ValueError("not a list of two numbers")
            a, b = float(value[0]), float(value[1])
            if not (0.0 <= a <= b <= end_s):
                raise ValueError(f"expected 0 <= from <= to <= {end_s:g}")
            return a, b

        within_s = t.convert("within_s", window, "[from_s, to_s]") if t.has("within_s") else None
        absent = t.boolean("absent", False)
        # With absent = true a min_count makes no sense; left unread, it is an unknown key.
        min_count = 1 if absent else t.integer("min_count", 1, low=1)
        max_count = None if absent else t.integer("max_count", None, low=min_count)
        return ExpectEvent(
            name=name,
            event_type=event_type,
            within_s=within_s,
            min_count=min_count,
            max_count=max_count,
            absent=absent,
        )

    def _no_loss(self, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
        return ExpectNoLoss(name=name)

    def _can_received(self, t: Table, name: str, can_channels: tuple[str, ...]) -> Expectation:
        return ExpectCanReceived(
            name=name,
            channel=_one_of(t, "channel", can_channels, "CAN emulators' channels"),
            bus=_name(t, "bus"),
            max_lost=t.integer("max_lost", 0, low=0),
        )

    def _gnss_received(self, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
        gnss_names = tuple(e.name for e in self.emulators if isinstance(e, GnssSpec))
        return ExpectGnssReceived(
            name=name,
            emulator=_one_of(t, "emulator", gnss_names, "GNSS emulators"),
            counter=_name(t, "counter") if t.has("counter") else "pipeline.gnss_fixes",
            max_lost=t.integer("max_lost", 0, low=0),
        )

    def _recovery(self, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
        if not self.faults:
            value = t.integer("fault", None)
            raise t.error("fault", value, "an index into [[fault]], but there is none")
        index = t.integer("fault", low=0, high=len(self.faults) - 1)
        fault = self.faults[index]
        within_s = t.number("within_s", above=0.0, high=self.end_s)
        if t.has("counter") == t.has("stream"):
            raise t.error("counter", t.string("counter", None), "exactly one of counter, stream")
        counter = _name(t, "counter") if t.has("counter") else None
        stream = t.string("stream", None, choices=UPLINK_STREAMS)
        return ExpectRecovery(
            name=name,
            fault=index,
            within_s=within_s,
            counter=counter,
            stream=stream,
            fault_label=" ".join(filter(None, (fault.kind, fault.target, f"at {fault.at_s:g} s"))),
        )

    def controllers(self) -> dict[str, SignalControllerSpec]:
        return {e.name: e for e in self.emulators if isinstance(e, SignalControllerSpec)}

    def _spat(self, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
        controllers = self.controllers()
        if t.has("emulator") or len(controllers) != 1:
            emulator = _one_of(t, "emulator", tuple(controllers), "signal controllers")
        else:
            (emulator,) = controllers  # the only one: no need to name it
        after_s, until_s = self._window(t)
        return ExpectSpat(
            name=name,
            emulator=emulator,
            plan=controllers[emulator].plan,
            after_s=after_s,
            until_s=until_s,
            min_fraction=self._fraction(t),
            latency_s=self._latency(t),
            end_tolerance_s=t.number("end_tolerance_s", END_TOLERANCE_S, low=0.05, high=60.0),
        )

    def _v2x(self, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
        radios = tuple(e.name for e in self.emulators if isinstance(e, CV2xRadioSpec))
        if t.has("emulator") or len(radios) != 1:
            emulator = _one_of(t, "emulator", radios, "C-V2X radios")
        else:
            (emulator,) = radios  # the only one: no need to name it
        message = _one_of(t, "message", V2X_MESSAGES, "message types")
        after_s, until_s = self._window(t)
        actor = None
        if message == "bsm":
            actor = _one_of(t, "actor", tuple(self.actors), "actors") if t.has("actor") else None
            position_tolerance_m = t.number("position_tolerance_m", 3.0, above=0.0)
            speed_tolerance_mps = t.number("speed_tolerance_mps", 0.5, above=0.0)
            end_tolerance_s = V2X_END_TOLERANCE_S
        else:  # spat: left unread, the BSM keys are unknown keys
            position_tolerance_m, speed_tolerance_mps = 3.0, 0.5
            end_tolerance_s = t.number("end_tolerance_s", V2X_END_TOLERANCE_S, low=0.05, high=60.0)
        return ExpectV2x(
            name=name,
            emulator=emulator,
            message=message,
            after_s=after_s,
            until_s=until_s,
            min_rate_hz=t.number("min_rate_hz", None, low=0.0),
            actor=actor,
            position_tolerance_m=position_tolerance_m,
            speed_tolerance_mps=speed_tolerance_mps,
            end_tolerance_s=end_tolerance_s,
            min_fraction=self._fraction(t),
            latency_s=self._latency(t),
        )

    def _counter(self, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
        counter = _name(t, "counter")
        low = t.integer("min", None, low=0)
        high = t.integer("max", None, low=0)
        if low is None and high is None:
            raise t.error("min", None, "min, max or both")
        if low is not None and high is not None and low > high:
            raise t.error("max", high, f"at least min = {low}")
        return ExpectCounter(name=name, counter=counter, min_value=low, max_value=high)

    _KINDS: Mapping[str, Callable[[_Parser, Table, str, tuple[str, ...]], Expectation]] = {
        "messages": _messages,
        "tracks": _tracks,
        "objects_near": _objects_near,
        "vehicle_state": _vehicle_state,
        "event": _event,
        "no_loss": _no_loss,
        "can_received": _can_received,
        "gnss_received": _gnss_received,
        "recovery": _recovery,
        "counter": _counter,
        "spat": _spat,
        "v2x": _v2x,
    }
