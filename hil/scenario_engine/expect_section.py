"""The ``[[expect]]`` sections of a scenario file: one parser per expectation kind (``kind``),
each reading the kind's keys (see ``hil.scenario_engine.expectations``)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any, TypedDict

from firmware_py.config.reader import Table
from hil.emulators.hmi_display import HMI_CHANGES
from hil.scenario_engine import expectations as basic
from hil.scenario_engine.expectations import EVENT_PREFIX, Expectation
from hil.scenario_engine.expectations_hmi import ExpectHmi
from hil.scenario_engine.expectations_motion import LATENCY_S, ExpectTracks, ExpectVehicleState
from hil.scenario_engine.expectations_objects import ExpectObjectsNear
from hil.scenario_engine.expectations_replay import (
    REPLAY_STREAMS,
    ExpectReplayEqual,
    ExpectReplayRerunEqual,
)
from hil.scenario_engine.expectations_spat import END_TOLERANCE_S, ExpectSpat
from hil.scenario_engine.expectations_tracking import ExpectFusedTracks
from hil.scenario_engine.expectations_v2x import END_TOLERANCE_S as V2X_END_TOLERANCE_S
from hil.scenario_engine.expectations_v2x import MESSAGES as V2X_MESSAGES
from hil.scenario_engine.expectations_v2x import ExpectV2x
from hil.scenario_engine.model import CV2xRadioSpec, GnssSpec, HmiSpec
from hil.scenario_engine.parse_state import ParseState
from hil.scenario_engine.scenario_values import checked_name, one_of
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import Stream

UPLINK_STREAMS = tuple(s.value for s in Stream if s is not Stream.CMD)
EVENT_TYPES = tuple(
    name.removeprefix(EVENT_PREFIX)
    for name in pb.EventType.keys()  # noqa: SIM118 (an EnumTypeWrapper, not a dict)
    if not name.endswith("_UNSPECIFIED")
)
APP_CODE = re.compile(r"^[A-Z]{2,8}$")  # a Day-1 application's code: FCW, GLOSA, ...


def parse_expectation(state: ParseState, t: Table, can_channels: tuple[str, ...]) -> Expectation:
    """One ``[[expect]]`` table, checked against the sections before it (actors, emulators,
    faults) and the CAN emulators' ``can_channels``."""
    kind = t.string("kind", choices=tuple(_KINDS))
    name: str = t.string("name", "")
    expectation = _KINDS[kind](state, t, name, can_channels)
    t.reject_unknown()
    return expectation


class _Window(TypedDict):
    """The part of the run an expectation looks at, as its ``after_s`` and ``until_s``."""

    after_s: float
    until_s: float


def _window(state: ParseState, t: Table) -> _Window:
    after_s = t.number("after_s", 0.0, low=0.0, high=state.end_s)
    until_s = t.number("until_s", state.duration_s, low=0.0, high=state.end_s)
    if until_s <= after_s:
        raise t.error("until_s", until_s, f"a time after after_s = {after_s:g}")
    return {"after_s": after_s, "until_s": until_s}


def _fraction(t: Table) -> float:
    return t.number("min_fraction", 0.95, low=0.0, high=1.0)


def _latency(t: Table) -> float:
    return t.number("latency_s", LATENCY_S, low=0.0, high=5.0)


def _messages(state: ParseState, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
    return basic.ExpectMessages(
        name=name,
        stream=t.string("stream", choices=UPLINK_STREAMS),
        min_count=t.integer("min_count", 1, low=0),
        min_rate_hz=t.number("min_rate_hz", None, low=0.0),
        max_gap_s=t.number("max_gap_s", None, low=0.0),
        **_window(state, t),
    )


def _tracks(state: ParseState, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
    return ExpectTracks(
        name=name,
        sensor=t.string("sensor"),
        **_window(state, t),
        count=t.integer("count", low=0, high=1000),
        position_tolerance_m=t.number("position_tolerance_m", 2.0, above=0.0),
        min_fraction=_fraction(t),
        latency_s=_latency(t),
    )


def _objects_near(state: ParseState, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
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

    window = _window(state, t)
    return ExpectObjectsNear(
        name=name,
        sensor=sensor,
        points=t.convert("points", points, "a list of [forward_m, left_m] points"),
        **window,
        tolerance_m=t.number("tolerance_m", 0.5, above=0.0),
        min_fraction=t.number("min_fraction", 0.8, low=0.0, high=1.0),
    )


def _fused_tracks(state: ParseState, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
    if state.truth is None or state.truth.scene is None:
        raise t.error("kind", "fused_tracks", "a world with a scene ([world] scene)")
    return ExpectFusedTracks(
        name=name,
        **_window(state, t),
        position_tolerance_m=t.number("position_tolerance_m", 2.0, above=0.0, high=100.0),
        min_coverage=t.number("min_coverage", 0.9, low=0.0, high=1.0),
        max_id_switches=t.integer("max_id_switches", 0, low=0),
        max_gospa=t.number("max_gospa", None, low=0.0),
        max_false_mean=t.number("max_false_mean", 0.2, low=0.0),
    )


def _vehicle_state(state: ParseState, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
    return ExpectVehicleState(
        name=name,
        actor=one_of(t, "actor", tuple(state.actors), "actors"),
        **_window(state, t),
        speed_tolerance_mps=t.number("speed_tolerance_mps", 0.5, above=0.0),
        position_tolerance_m=t.number("position_tolerance_m", 3.0, above=0.0),
        min_fraction=_fraction(t),
        latency_s=_latency(t),
    )


def _within(state: ParseState, t: Table) -> tuple[float, float] | None:
    """``within_s = [from, to]``, in the run and its settling time; None when absent."""
    end_s = state.end_s

    def window(value: Any) -> tuple[float, float]:
        if not isinstance(value, list) or len(value) != 2:
            raise ValueError("not a list of two numbers")
        if any(isinstance(v, bool) or not isinstance(v, int | float) for v in value):
            raise ValueError("not a list of two numbers")
        a, b = float(value[0]), float(value[1])
        if not (0.0 <= a <= b <= end_s):
            raise ValueError(f"expected 0 <= from <= to <= {end_s:g}")
        return a, b

    return t.convert("within_s", window, "[from_s, to_s]") if t.has("within_s") else None


def _event(state: ParseState, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
    event_type = t.string("event_type", choices=EVENT_TYPES)
    within_s = _within(state, t)
    if t.boolean("absent", False):
        # A min_count or max_count makes no sense then; left unread, they are unknown keys.
        return basic.ExpectEvent(name=name, event_type=event_type, within_s=within_s, absent=True)
    min_count = t.integer("min_count", 1, low=1)
    return basic.ExpectEvent(
        name=name,
        event_type=event_type,
        within_s=within_s,
        min_count=min_count,
        max_count=t.integer("max_count", None, low=min_count),
    )


def _hmi(state: ParseState, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
    displays = tuple(e.name for e in state.emulators if isinstance(e, HmiSpec))
    emulator = _emulator(t, displays, "HMI emulators")
    app: str = t.string("app")
    if not APP_CODE.match(app):
        raise t.error("app", app, "an application's code: 2-8 capital letters, e.g. FCW")
    change = t.string("change", "start", choices=HMI_CHANGES)
    within_s = _within(state, t)
    if t.boolean("absent", False):
        # min_count makes no sense then; left unread, it is an unknown key.
        return ExpectHmi(
            name=name, emulator=emulator, app=app, change=change, within_s=within_s, absent=True
        )
    return ExpectHmi(
        name=name,
        emulator=emulator,
        app=app,
        change=change,
        within_s=within_s,
        min_count=t.integer("min_count", 1, low=1),
    )


def _no_loss(state: ParseState, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
    return basic.ExpectNoLoss(name=name)


def _can_received(
    state: ParseState, t: Table, name: str, can_channels: tuple[str, ...]
) -> Expectation:
    return basic.ExpectCanReceived(
        name=name,
        channel=one_of(t, "channel", can_channels, "CAN emulators' channels"),
        bus=checked_name(t, "bus"),
        max_lost=t.integer("max_lost", 0, low=0),
    )


def _gnss_received(state: ParseState, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
    gnss_names = tuple(e.name for e in state.emulators if isinstance(e, GnssSpec))
    return basic.ExpectGnssReceived(
        name=name,
        emulator=one_of(t, "emulator", gnss_names, "GNSS emulators"),
        counter=checked_name(t, "counter") if t.has("counter") else "pipeline.gnss_fixes",
        max_lost=t.integer("max_lost", 0, low=0),
    )


def _recovery(state: ParseState, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
    if not state.faults:
        value = t.integer("fault", None)
        raise t.error("fault", value, "an index into [[fault]], but there is none")
    index = t.integer("fault", low=0, high=len(state.faults) - 1)
    fault = state.faults[index]
    within_s = t.number("within_s", above=0.0, high=state.end_s)
    if t.has("counter") == t.has("stream"):
        raise t.error("counter", t.string("counter", None), "exactly one of counter, stream")
    counter = checked_name(t, "counter") if t.has("counter") else None
    stream = t.string("stream", None, choices=UPLINK_STREAMS)
    return basic.ExpectRecovery(
        name=name,
        fault=index,
        within_s=within_s,
        counter=counter,
        stream=stream,
        fault_label=" ".join(filter(None, (fault.kind, fault.target, f"at {fault.at_s:g} s"))),
    )


def _spat(state: ParseState, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
    controllers = state.controllers()
    emulator = _emulator(t, tuple(controllers), "signal controllers")
    return ExpectSpat(
        name=name,
        emulator=emulator,
        plan=controllers[emulator].plan,
        **_window(state, t),
        min_fraction=_fraction(t),
        latency_s=_latency(t),
        end_tolerance_s=t.number("end_tolerance_s", END_TOLERANCE_S, low=0.05, high=60.0),
    )


def _v2x(state: ParseState, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
    radios = tuple(e.name for e in state.emulators if isinstance(e, CV2xRadioSpec))
    emulator = _emulator(t, radios, "C-V2X radios")
    message = one_of(t, "message", V2X_MESSAGES, "message types")
    window = _window(state, t)
    actor = None
    if message == "bsm":
        actor = one_of(t, "actor", tuple(state.actors), "actors") if t.has("actor") else None
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
        **window,
        min_rate_hz=t.number("min_rate_hz", None, low=0.0),
        actor=actor,
        position_tolerance_m=position_tolerance_m,
        speed_tolerance_mps=speed_tolerance_mps,
        end_tolerance_s=end_tolerance_s,
        min_fraction=_fraction(t),
        latency_s=_latency(t),
    )


def _counter(state: ParseState, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
    counter = checked_name(t, "counter")
    low = t.integer("min", None, low=0)
    high = t.integer("max", None, low=0)
    if low is None and high is None:
        raise t.error("min", None, "min, max or both")
    if low is not None and high is not None and low > high:
        raise t.error("max", high, f"at least min = {low}")
    return basic.ExpectCounter(name=name, counter=counter, min_value=low, max_value=high)


def _replay_equal(state: ParseState, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
    if state.replay is None:
        raise t.error("kind", "replay_equal", "a scenario with [replay]")
    stream = t.string("stream", choices=REPLAY_STREAMS)
    # Object lists name a sensor, events a type; left unread, the other is an unknown key.
    sensor = t.string("sensor", None) if stream == "objects" else None
    event_type = t.string("event_type", None, choices=EVENT_TYPES) if stream == "events" else None
    return ExpectReplayEqual(
        name=name,
        stream=stream,
        sensor=sensor,
        event_type=event_type,
        position_tolerance_m=t.number("position_tolerance_m", None, above=0.0, high=100.0),
    )


def _replay_rerun_equal(state: ParseState, t: Table, name: str, _: tuple[str, ...]) -> Expectation:
    if state.replay is None:
        raise t.error("kind", "replay_rerun_equal", "a scenario with [replay]")
    stream = t.string("stream", choices=REPLAY_STREAMS)
    # Object lists name a sensor, events a type; left unread, the other is an unknown key.
    sensor = t.string("sensor", None) if stream == "objects" else None
    event_type = t.string("event_type", None, choices=EVENT_TYPES) if stream == "events" else None
    return ExpectReplayRerunEqual(name=name, stream=stream, sensor=sensor, event_type=event_type)


_KINDS: Mapping[str, Callable[[ParseState, Table, str, tuple[str, ...]], Expectation]] = {
    "messages": _messages,
    "tracks": _tracks,
    "fused_tracks": _fused_tracks,
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
    "hmi": _hmi,
    "replay_equal": _replay_equal,
    "replay_rerun_equal": _replay_rerun_equal,
}


def _emulator(t: Table, names: tuple[str, ...], what: str) -> str:
    """``emulator``: one of ``names``; it may be left out when there is only one."""
    if t.has("emulator") or len(names) != 1:
        return one_of(t, "emulator", names, what)
    (only,) = names  # the only one: no need to name it
    return only
