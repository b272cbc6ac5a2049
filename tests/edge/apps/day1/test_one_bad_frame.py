"""Robust reception end to end: a quiet scene (no hazard) through all sixteen applications stays
quiet when one frame on the air is corrupted (hypothesis: any bits of any frame at any time),
forged under a new id, or forged under a real sender's id; no application ever raises."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.apps.day1.picture import frame_at
from edge.apps.day1.registry import app_specs, build_apps
from edge.roadside.signal_plan import FixedTimePlan, SignalGroupPlan
from firmware_py.config.loader import EXAMPLES_DIR
from firmware_py.simulation.v2x_scenes import (
    T0_UNIX,
    Mover,
    SceneRun,
    V2xScene,
    run_scene,
    vehicle_state,
)
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import decode_message_frame, encode_bsm, station_id_bytes
from protocols.v2x.intersection_file import read_intersection_file

INTERSECTION = read_intersection_file(EXAMPLES_DIR / "intersection-101.toml")
# North-south green for the first 50 s of the cycle: the ego (northbound) meets green.
PLAN = FixedTimePlan(
    intersection_id=101,
    cycle_s=90.0,
    groups=(SignalGroupPlan(1, 0.0, 50.0), SignalGroupPlan(2, 55.0, 30.0)),
    epoch_s=T0_UNIX,
)
EGO = Mover(east_m=5.25, north_m=-140.0, heading_deg=0.0, speed_mps=12.0)
QUIET = V2xScene(
    ego=EGO,
    remotes=[
        # Beside the ego in the next lane, same speed; a faster car well ahead; oncoming traffic.
        Mover(east_m=8.75, north_m=-138.0, heading_deg=0.0, speed_mps=12.0, station_id=1),
        Mover(east_m=5.25, north_m=-60.0, heading_deg=0.0, speed_mps=16.0, station_id=2),
        Mover(east_m=-5.25, north_m=100.0, heading_deg=180.0, speed_mps=12.0, station_id=3),
    ],
    intersection=INTERSECTION.map,
    spat=PLAN.spat,
    # A pedestrian on the east sidewalk walking north, parallel to the road.
    participants=[
        Mover(
            east_m=14.0,
            north_m=-80.0,
            heading_deg=0.0,
            speed_mps=1.4,
            length_m=0.5,
            width_m=0.5,
            object_class=pb.OBJECT_CLASS_PEDESTRIAN,
        )
    ],
    origin=INTERSECTION.map.reference,
)
DURATION_S = 6.0


def _warnings(run: SceneRun) -> list[str]:
    """Warnings (not advice) that started, as 'APP: description'."""
    return [
        f"{event.application}: {event.description}"
        for _, event in run.started
        if event.severity in (pb.SEVERITY_WARNING, pb.SEVERITY_CRITICAL)
    ]


def _errors(run: SceneRun) -> dict[str, int]:
    return {k: v for k, v in run.engine.counters.items() if k.endswith(".errors") and v}


def _all_apps() -> list:  # type: ignore[type-arg]
    return build_apps({code: spec.settings_type() for code, spec in app_specs().items()})


def test_the_quiet_scene_is_quiet() -> None:
    run = run_scene(QUIET, _all_apps(), DURATION_S)
    assert _warnings(run) == []
    assert _errors(run) == {}
    assert run.world.counters["heard.bsm"] > 100


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tick=st.integers(min_value=1, max_value=round(DURATION_S * 10) - 1),
    which=st.integers(min_value=0, max_value=20),
    flips=st.lists(st.integers(min_value=0, max_value=8 * 400), min_size=1, max_size=3),
)
def test_one_corrupted_frame_is_never_a_warning(tick: int, which: int, flips: list[int]) -> None:
    seen = {"frames": 0}

    def tamper(at: int, data: bytes) -> bytes | None:
        if at != tick:
            return data
        seen["frames"] += 1
        if seen["frames"] - 1 != which:
            return data
        mutated = bytearray(data)
        for bit in flips:
            mutated[(bit // 8) % len(mutated)] ^= 1 << (bit % 8)
        return bytes(mutated)

    run = run_scene(QUIET, _all_apps(), DURATION_S, tamper=tamper)
    assert _warnings(run) == []
    assert _errors(run) == {}


def _forged(tick: int, station_id: int, mover: Mover) -> bytes:
    state = vehicle_state(mover, tick / 10, frame_at(QUIET.origin))
    return encode_bsm(
        state, vehicle_id=station_id_bytes(station_id), msg_cnt=5, unix_s=T0_UNIX + tick / 10
    )


def test_a_forged_stopped_car_under_a_new_id_is_never_a_warning() -> None:
    # One BSM puts a stopped car 15 m ahead of the ego: a sender heard once is not used.
    def tamper(at: int, data: bytes) -> bytes | None:
        if at == 20:
            ahead = EGO.at(2.0)[1] + 15.0
            return _forged(at, 99, Mover(east_m=5.25, north_m=ahead, heading_deg=0.0, speed_mps=0))
        return data

    run = run_scene(QUIET, _all_apps(), DURATION_S, tamper=tamper)
    assert _warnings(run) == []


def test_a_forged_frame_moving_a_real_car_into_the_lane_is_never_a_warning() -> None:
    # Station 2 (the faster car ahead) is said, once, to stand 12 m ahead of the ego.
    def tamper(at: int, data: bytes) -> bytes | None:
        kind, fields = decode_message_frame(data)
        if at == 20 and kind == "bsm" and fields["station_id"] == 2:
            ahead = EGO.at(2.0)[1] + 12.0
            return _forged(at, 2, Mover(east_m=5.25, north_m=ahead, heading_deg=0.0, speed_mps=0))
        return data

    run = run_scene(QUIET, _all_apps(), DURATION_S, tamper=tamper)
    assert _warnings(run) == []
    rejects = run.reception.counters
    assert rejects.get("rejects.position_jump", 0) + rejects.get("rejects.speed_jump", 0) >= 1
