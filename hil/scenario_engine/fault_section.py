"""The ``[[fault]]`` sections of a scenario file: what goes wrong, where, when, how long."""

from __future__ import annotations

from firmware_py.config.reader import Table
from hil.scenario_engine.model import (
    CAN_FAULTS,
    CONTROLLER_FAULTS,
    FAULT_KINDS,
    GNSS_FAULTS,
    FaultSpec,
    GnssSpec,
)
from hil.scenario_engine.parse_state import ParseState
from hil.scenario_engine.scenario_values import one_of


def parse_fault(state: ParseState, t: Table, can_channels: tuple[str, ...]) -> FaultSpec:
    """One ``[[fault]]`` table, checked against the emulators and the faults before it."""
    kind = t.string("kind", choices=FAULT_KINDS)
    gnss_names = tuple(e.name for e in state.emulators if isinstance(e, GnssSpec))
    if kind in CAN_FAULTS:
        target = one_of(t, "target", can_channels, "CAN emulators' channels")
    elif kind in GNSS_FAULTS:
        target = one_of(t, "target", gnss_names, "GNSS emulators")
    elif kind in CONTROLLER_FAULTS:
        target = one_of(t, "target", tuple(state.controllers()), "signal controllers")
    else:
        target = t.string("target", "", choices=("",))
    at_s = t.number("at_s", low=0.0, high=state.duration_s)
    duration_s = t.number("duration_s", above=0.0, high=state.duration_s)
    if at_s + duration_s > state.duration_s + 1e-9:
        raise t.error(
            "duration_s", duration_s, f"the fault must end by duration_s = {state.duration_s:g}"
        )
    # The bench injects faults one after another, in file order (= recording.faults order).
    if state.faults and at_s < state.faults[-1].end_s - 1e-9:
        previous = state.faults[-1].end_s
        raise t.error(
            "at_s", at_s, f"faults run in turn: not before the last ends ({previous:g} s)"
        )
    size = t.integer("bytes", 2000, low=1, high=10_000_000) if kind == "gnss_garbage" else 0
    t.reject_unknown()
    return FaultSpec(kind, target, at_s, duration_s, size)
