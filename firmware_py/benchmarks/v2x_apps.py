"""The cost of one Day-1 application cycle with 200 remote vehicles at 10 Hz (issue #13's
goal: under 5 ms on the reference machine).

The scene: the example intersection's MAP and a fixed-time SPAT, 200 BSM senders spread over
its four approaches (both directions, every lane, 3-20 m/s, some braking, some with hazard
lights, one emergency vehicle), 20 RSM pedestrians and cyclists, and RSI events and signs,
all encoded and decoded through the real codec and the reception filter (not timed). Timed:
``Day1Engine.cycle`` with all 16 applications for an ego driving north through it: the
picture of what was heard, lane matching, every application and the episodes. Reported: the
median and the 99th percentile over ``cycles`` cycles, and the time to take in one heard BSM
(reception filter + picture), which a 10 Hz cycle with 200 senders pays 200 times per cycle.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from edge.apps.day1.engine import Day1Engine
from edge.apps.day1.heard_world import HeardWorld
from edge.apps.day1.picture import frame_at
from edge.apps.day1.registry import app_specs, build_apps
from edge.roadside.signal_plan import FixedTimePlan, SignalGroupPlan
from edge.v2x.reception import ReceptionFilter
from firmware_py.simulation.v2x_scenes import (
    RATE_HZ,
    T0_UNIX,
    Mover,
    Segment,
    V2xScene,
    scene_frames,
    vehicle_state,
)
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import StaticSign, decode_message_frame
from protocols.v2x.bsm_extensions import BsmExtensions
from protocols.v2x.intersection_file import read_intersection_file
from protocols.v2x.rsi import SignKind

EXAMPLE_INTERSECTION = Path(__file__).parent.parent / "examples" / "intersection-101.toml"
REMOTES = 200
DEFAULT_CYCLES = 100
QUICK_CYCLES = 20


@dataclass(frozen=True)
class AppsCycleResult:
    """Milliseconds per cycle (median, 99th percentile) for ``remotes`` vehicles heard, and
    microseconds to take in one BSM."""

    remotes: int
    cycles: int
    apps: int
    median_ms: float
    p99_ms: float
    ingest_us_per_bsm: float
    warnings: int  # episodes started during the run (the scene is not quiet)
    errors: int  # applications that raised (must be 0)


def _remotes(rng: random.Random, count: int) -> list[Mover]:
    movers = []
    for i in range(count):
        heading = rng.choice((0.0, 90.0, 180.0, 270.0))
        lane = rng.choice((1.75, 5.25))  # right-hand traffic: lanes right of the centre line
        along = -rng.uniform(20.0, 250.0)
        rad = math.radians(heading)
        east = along * math.sin(rad) + lane * math.cos(rad)
        north = along * math.cos(rad) - lane * math.sin(rad)
        braking = rng.random() < 0.1
        movers.append(
            Mover(
                east_m=east,
                north_m=north,
                heading_deg=heading,
                speed_mps=rng.uniform(3.0, 20.0),
                station_id=0x1000 + i,
                segments=(Segment(60.0, accel_mps2=-3.0 if braking else 0.0, brake=braking),),
                extensions=BsmExtensions(
                    events=frozenset({"hazard_lights"}) if rng.random() < 0.05 else frozenset(),
                    emergency_response="emergency" if i == 0 else None,
                    siren_in_use=True if i == 0 else None,
                ),
            )
        )
    return movers


def _participants(rng: random.Random) -> list[Mover]:
    return [
        Mover(
            east_m=rng.uniform(-15.0, 15.0),
            north_m=rng.uniform(-15.0, 15.0),
            heading_deg=rng.uniform(0.0, 360.0),
            speed_mps=rng.uniform(0.5, 5.0),
            length_m=0.5,
            width_m=0.5,
            object_class=rng.choice((pb.OBJECT_CLASS_PEDESTRIAN, pb.OBJECT_CLASS_BICYCLE)),
        )
        for _ in range(20)
    ]


def bench_scene(remotes: int = REMOTES, seed: int = 0) -> V2xScene:
    """The benchmark's scene (see the module docstring)."""
    rng = random.Random(seed)
    description = read_intersection_file(EXAMPLE_INTERSECTION)
    plan = FixedTimePlan(
        intersection_id=description.map.node_id,
        cycle_s=60.0,
        groups=(SignalGroupPlan(1, 0.0, 27.0), SignalGroupPlan(2, 30.0, 27.0)),
        epoch_s=T0_UNIX,
    )
    frame = frame_at(description.map.reference)
    lat, lon, _ = frame.enu_to_geodetic(1.75, 60.0, 0.0)
    hazard = pb.TrafficEvent(
        event_id="bench-hazard",
        type=pb.EVENT_TYPE_HAZARD_LIGHTS,
        severity=pb.SEVERITY_WARNING,
        radius_m=30.0,
        position=pb.Position(latitude_deg=float(lat), longitude_deg=float(lon)),
    )
    return V2xScene(
        ego=Mover(east_m=1.75, north_m=-120.0, heading_deg=0.0, speed_mps=14.0),
        remotes=_remotes(rng, remotes),
        intersection=description.map,
        spat=plan.spat,
        events=[hazard],
        signs=[
            *description.signs,
            StaticSign(SignKind.SPEED_LIMIT, description.map.reference, 40.0, 9),
        ],
        participants=_participants(rng),
        origin=description.map.reference,
    )


def run_apps_cycle_bench(
    cycles: int = DEFAULT_CYCLES, *, remotes: int = REMOTES, seed: int = 0
) -> AppsCycleResult:
    """Time ``cycles`` application cycles (10 Hz scene time) with ``remotes`` vehicles heard.
    Raises ``ValueError`` for ``cycles`` below 1."""
    if cycles < 1:
        raise ValueError(f"cycles must be at least 1, got {cycles}")
    scene = bench_scene(remotes, seed)
    world = HeardWorld()
    reception = ReceptionFilter(world.hear)
    settings = {code: spec.settings_type() for code, spec in app_specs().items()}
    engine = Day1Engine("bench", world, build_apps(settings))
    frame = frame_at(scene.origin)
    warmup = 3
    cycle_s: list[float] = []
    ingest_s = 0.0
    bsms = 0
    for tick in range(warmup + cycles):
        unix_s = T0_UNIX + tick / RATE_HZ
        decoded = [decode_message_frame(data) for data in scene_frames(scene, tick)]
        start = time.perf_counter()
        for kind, fields in decoded:
            reception(kind, fields, unix_s + 0.005)
        ingest_s += time.perf_counter() - start
        bsms += sum(1 for kind, _ in decoded if kind == "bsm")
        state = vehicle_state(scene.ego, tick / RATE_HZ, frame)
        start = time.perf_counter()
        engine.cycle(state, unix_s + 0.01)
        if tick >= warmup:
            cycle_s.append(time.perf_counter() - start)
    ordered = sorted(cycle_s)
    return AppsCycleResult(
        remotes=remotes,
        cycles=cycles,
        apps=len(engine.codes),
        median_ms=statistics.median(ordered) * 1e3,
        p99_ms=ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)] * 1e3,
        ingest_us_per_bsm=ingest_s / max(bsms, 1) * 1e6,
        warnings=sum(v for k, v in engine.counters.items() if k.endswith(".warnings")),
        errors=sum(v for k, v in engine.counters.items() if k.endswith(".errors")),
    )
