"""Load scenario files (TOML) for the HIL bench; see ``hil/scenarios/README.md``.

A scenario file has six parts; relative paths are relative to the scenario file, times are
scenario seconds (0 = the emulators start), unknown keys are errors::

    [scenario]   name (default: file stem), description, duration_s (emulators run this long),
                 box (the daemon's config template), settle_s (keep watching after the
                 emulators stop; default 3), vcan (interfaces to create; default: the CAN
                 emulators' channels)
    [world]      origin = {latitude_deg, longitude_deg, altitude_m} (default: the demo
                 intersection); [[world.actor]]: name, kind (car, truck, pedestrian,
                 motorcycle, bicycle), start_east_m, start_north_m, heading_deg, speed_mps,
                 length_m, width_m, rcs_dbsm, phases = [{duration_s, accel_mps2, brake,
                 turn_signal (off/left/right), hazard}] (repeating; default: constant speed);
                 or scene = a name of ``firmware_py.simulation.scenes.SCENES`` (ground truth
                 on paths, its radar mounts; excludes actors)
    [[emulator]] kind = "can_replay": name, channel, log, speed (1), start_s (0), loop (false)
                 kind = "ars408": name, channel, sensor_id (0-7), latitude_deg,
                     longitude_deg, altitude_m, heading_deg, cycle_s (0.072); or, with a
                     scene, mount (its radar's sensor id: the pose), model ("ideal" or
                     "realistic": noise, misses, clutter, splits, merges, occlusion), seed
                 kind = "gnss": name, actor or latitude_deg/longitude_deg/altitude_m,
                     rate_hz (5), quality (gnss, dgnss, rtk_float, rtk_fixed)
                 kind = "signal_controller": name, port (default: a free one the bench
                     picks), rate_hz (10), intersection_id, cycle_s, groups = [{signal_group
                     (1-16), green_start_s, green_s, amber_s (3)}]
                 kind = "cv2x_radio": name, remote_actors ([]), rate_hz (10),
                     emergency_actors ([]; some of remote_actors), and as a roadside unit
                     intersection (an intersection file: MAP, RSI), signal_plan =
                     {intersection_id, cycle_s, groups} (SPAT), rsm_actors ([]; RSM)
                 kind = "vehicle_can": name, channel, actor, dbc (the Toyota DBC)
                 kind = "hmi": name (the box template gets $hmi_port_<name>)
    [[fault]]    kind, target, at_s, duration_s; interface_down and bus_off target a CAN
                 emulator's channel; gnss_unplug, gnss_no_fix and gnss_garbage (bytes = 2000)
                 a GNSS emulator; controller_silent a signal controller; broker_outage and
                 daemon_kill (duration_s: until the restart) take no target. A fault must end
                 by duration_s.
    [replay]     speed (1), settle_s (2): after the run, play its flight log back into a fresh
                 daemon with the same config (no faults, no cv2x_radio then)
    [[expect]]   kind (messages, tracks, fused_tracks, vehicle_state, event, no_loss,
                 can_received, gnss_received, recovery, counter, spat, v2x, hmi,
                 replay_equal, replay_rerun_equal (both need [replay])), an optional name,
                 and the kind's keys
                 (see ``hil.scenario_engine.expectations``); after_s/until_s default to 0 and
                 duration_s, and may reach up to duration_s + settle_s.

This module reads ``[scenario]`` and puts the file together; each other section has a parser
of its own beside it (``world_section``, ``emulator_section``, ``fault_section``,
``expect_section``), which checks it against the sections before it (``parse_state``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from firmware_py.config.reader import Table, read_toml
from firmware_py.errors import ConfigError
from hil.errors import ScenarioError
from hil.scenario_engine.emulator_section import parse_emulator
from hil.scenario_engine.expect_section import parse_expectation
from hil.scenario_engine.fault_section import parse_fault
from hil.scenario_engine.model import CAN_EMULATORS, Scenario
from hil.scenario_engine.parse_state import MAX_DURATION_S, MAX_SETTLE_S, ParseState
from hil.scenario_engine.replay_section import parse_replay
from hil.scenario_engine.scenario_values import IFNAME, checked_name, existing_file
from hil.scenario_engine.world_section import parse_world


def scenario_files(directory: Path) -> list[Path]:
    """The ``*.toml`` files directly in ``directory``, sorted by name."""
    return sorted(p for p in directory.glob("*.toml") if p.is_file())


def load_scenario(path: Path) -> Scenario:
    """Load and validate ``path``. Raises ``ScenarioError`` naming the file and the key."""
    try:
        root = read_toml(path, "scenario file")
        return _scenario(ParseState(path), root)
    except ConfigError as err:
        raise ScenarioError(str(err)) from err


def parse_scenario(data: Mapping[str, Any], path: Path) -> Scenario:
    """Build a ``Scenario`` from parsed TOML; relative paths resolve against ``path``'s folder."""
    try:
        return _scenario(ParseState(path), Table.document(data, str(path)))
    except ConfigError as err:
        raise ScenarioError(str(err)) from err


def _scenario(state: ParseState, root: Table) -> Scenario:
    """The whole file: ``[scenario]`` here, each other section by its own parser, in order."""
    s = root.table("scenario", required=True)
    name = checked_name(s, "name") if s.has("name") else state.path.stem
    description: str = s.string("description", "")
    state.duration_s = s.number("duration_s", above=0.0, high=MAX_DURATION_S)
    settle_s = s.number("settle_s", 3.0, low=0.0, high=MAX_SETTLE_S)
    state.end_s = state.duration_s + settle_s
    box = existing_file(s, "box", state.base_dir)
    truth = parse_world(state, root.table("world"))
    for t in root.tables("emulator"):
        state.emulators.append(parse_emulator(state, t))
    can_channels = tuple(
        dict.fromkeys(e.channel for e in state.emulators if isinstance(e, CAN_EMULATORS))
    )
    vcan = _vcan(s, can_channels) if s.has("vcan") else can_channels
    s.reject_unknown()
    for t in root.tables("fault"):
        state.faults.append(parse_fault(state, t, can_channels))
    if root.has("replay"):
        state.replay = parse_replay(state, root.table("replay"))
    expectations = tuple(parse_expectation(state, t, can_channels) for t in root.tables("expect"))
    root.reject_unknown()
    return Scenario(
        name=name,
        description=description,
        path=state.path,
        duration_s=state.duration_s,
        settle_s=settle_s,
        box_template=box,
        vcan=vcan,
        truth=truth,
        emulators=tuple(state.emulators),
        faults=tuple(state.faults),
        expectations=expectations,
        replay=state.replay,
    )


def _vcan(s: Table, can_channels: tuple[str, ...]) -> tuple[str, ...]:
    def names(value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("not a list of strings")
        if len(set(value)) != len(value):
            raise ValueError("names repeat")
        bad = [v for v in value if not IFNAME.match(v)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not an interface name")
        missing = [c for c in can_channels if c not in value]
        if missing:
            raise ValueError(f"CAN emulators use {missing}, which are not listed")
        return tuple(value)

    return s.convert("vcan", names, "a list of vcan interfaces to create")
