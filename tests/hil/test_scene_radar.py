"""ARS408 emulators on a scene's radar mounts: the ids a radar gives what it sees, and frames on
python-can's virtual bus that decode back into the measurement model's returns."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator

import can
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_py.simulation.radar import CLASS_CODE
from firmware_py.simulation.scenes import turning_cars
from firmware_py.simulation.world import INTERSECTION
from hal.can.frames import make_batch
from hil.clock import ScenarioClock
from hil.emulators import Ars408Emulator
from hil.emulators.radar_ids import ObjectSlots
from hil.emulators.scene_radar import Scan
from hil.world import GroundTruth
from protocols.radar.ars408 import Ars408ObjectListAssembler

TRUTH = GroundTruth(INTERSECTION, {}, turning_cars())


def test_an_object_keeps_its_id_while_seen_and_new_ones_take_the_next_free_id() -> None:
    slots = ObjectSlots()
    assert slots.assign([7, 3], [10.0, 20.0], [0.0, 0.0]) == [0, 1]
    assert slots.assign([3, 7, 9], [20.0, 10.0, 5.0], [0.0, 0.0, 0.0]) == [1, 0, 2]
    # A split object's second return is a second object, with an id of its own.
    assert slots.assign([3, 3], [20.0, 22.0], [0.0, 0.0]) == [1, 3]


def test_an_id_survives_short_misses_and_comes_back_last_when_freed() -> None:
    slots = ObjectSlots(capacity=3, keep_cycles=2)
    assert slots.assign([5, 6], [1.0, 2.0], [0.0, 0.0]) == [0, 1]
    for _ in range(2):  # 5 missed for two cycles: still its id
        assert slots.assign([6], [2.0], [0.0]) == [1]
    assert slots.assign([5, 6], [1.0, 2.0], [0.0, 0.0]) == [0, 1]
    for _ in range(3):  # missed for three: freed, to the back of the queue
        assert slots.assign([6], [2.0], [0.0]) == [1]
    assert slots.assign([6, 8, 5], [2.0, 3.0, 1.0], [0.0, 0.0, 0.0]) == [1, 2, 0]


def test_returns_beyond_the_ids_get_none_and_are_counted() -> None:
    slots = ObjectSlots(capacity=2)
    assert slots.assign([1, 2, 3], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]) == [0, 1, None]
    assert slots.dropped == 1


def test_a_ghost_near_last_cycles_keeps_its_id_a_far_one_gets_a_new_one() -> None:
    slots = ObjectSlots()
    assert slots.assign([-1, -1], [30.0, 50.0], [0.0, 5.0]) == [0, 1]
    assert slots.assign([-1, -1], [50.5, 40.0], [5.5, -5.0]) == [1, 2]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="capacity"):
        ObjectSlots(capacity=0)
    with pytest.raises(ValueError, match="keep_cycles"):
        ObjectSlots(keep_cycles=-1)


cycles = st.lists(st.lists(st.integers(-1, 30), max_size=40).map(sorted), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(cycles)
def test_ids_are_unique_in_range_and_stable_while_an_object_is_seen(
    scans: list[list[int]],
) -> None:
    slots = ObjectSlots(capacity=25)
    last: dict[int, int | None] = {}
    for truth_ids in scans:
        xs = [float(k) * 3.0 for k in range(len(truth_ids))]
        ids = slots.assign(truth_ids, xs, [0.0] * len(truth_ids))
        given_ids = [i for i in ids if i is not None]
        assert len(set(given_ids)) == len(given_ids)
        assert all(0 <= i < 25 for i in given_ids)
        assert slots.dropped >= ids.count(None)
        now = {}
        for truth, object_id in zip(truth_ids, ids, strict=True):
            if truth >= 0 and truth not in now:  # an object's first return
                now[truth] = object_id
                if last.get(truth) is not None and object_id is not None:
                    assert object_id == last[truth]
        last = now


@pytest.fixture
def channel() -> str:
    return f"hil-test-{uuid.uuid4().hex}"


@pytest.fixture
def bus(channel: str) -> Iterator[can.BusABC]:
    with can.Bus(interface="virtual", channel=channel) as b:
        yield b


def run(emulator: Ars408Emulator, bus: can.BusABC, seconds: float) -> list[can.Message]:
    """Every frame the emulator sends in ``seconds``."""
    frames: list[can.Message] = []
    emulator.start(ScenarioClock())
    try:
        end = time.monotonic() + seconds
        while (now := time.monotonic()) < end:
            message = bus.recv(timeout=end - now)
            if message is not None:
                frames.append(message)
    finally:
        emulator.stop()
    return frames


def decoded(frames: list[can.Message], sensor_id: int) -> dict[int, list[tuple[float, ...]]]:
    """Per cycle counter: the decoded objects (id, x, y, vx, vy, class)."""
    batch = make_batch([(m.timestamp, m.arbitration_id, bytes(m.data)) for m in frames])
    assembler = Ars408ObjectListAssembler(sensor_id)
    lists = assembler.feed_frames(
        batch["arbitration_id"], batch["data"], batch["dlc"], batch["timestamp"]
    )
    return {
        ol.cycle_counter: sorted(
            (
                o.object_id,
                o.dist_long_m,
                o.dist_lat_m,
                o.vrel_long_mps,
                o.vrel_lat_mps,
                o.obj_class or 0,
            )
            for o in ol.objects
        )
        for ol in lists
    }


def expected(scan: Scan) -> list[tuple[float, ...]]:
    r = scan.returns
    return sorted(
        (
            object_id,
            float(r.x_m[k]),
            float(r.y_m[k]),
            float(r.vx_mps[k]),
            float(r.vy_mps[k]),
            CLASS_CODE.get(r.object_class[k], 0),
        )
        for k, object_id in enumerate(scan.object_ids)
        if object_id is not None
    )


@pytest.mark.parametrize("model", ["ideal", "realistic"])
def test_frames_decode_back_into_the_models_returns(
    channel: str, bus: can.BusABC, model: str
) -> None:
    radar = Ars408Emulator(
        "ne",
        TRUTH,
        channel=channel,
        interface="virtual",
        sensor_id=3,
        position=INTERSECTION,  # a scene radar's pose is its mount's
        heading_deg=0.0,
        mount="radar-ne",
        model=model,
        seed=5,
    )
    frames = run(radar, bus, 1.2)
    assert radar.scene_radar is not None
    scans = {scan.cycle: scan for scan in radar.scene_radar.scans}
    lists = decoded(frames, 3)
    assert len(lists) >= 10  # ~16 cycles of 72 ms; the last one closes with the next header
    seen_objects = 0
    for cycle, objects in lists.items():
        want = expected(scans[cycle])
        assert [o[0] for o in objects] == [w[0] for w in want]  # the radar's own ids
        assert [o[5] for o in objects] == [w[5] for w in want]
        for got, exact in zip(objects, want, strict=True):
            # DBC resolution: 0.2 m for distance, 0.25 m/s for velocity (rounded or cut).
            assert abs(got[1] - exact[1]) <= 0.2
            assert abs(got[2] - exact[2]) <= 0.2
            assert abs(got[3] - exact[3]) <= 0.25
            assert abs(got[4] - exact[4]) <= 0.25
        seen_objects += len(objects)
    assert seen_objects > 0
    assert radar.stats["cycles"] >= len(lists)
    assert radar.stats["unassigned"] == 0


def test_the_ideal_radar_reports_every_object_in_view_where_it_is(
    channel: str, bus: can.BusABC
) -> None:
    radar = Ars408Emulator(
        "sw",
        TRUTH,
        channel=channel,
        interface="virtual",
        sensor_id=0,
        position=INTERSECTION,
        heading_deg=0.0,
        mount="radar-sw",
    )
    mount = TRUTH.mount("radar-sw")
    ids_of_truth: dict[int, set[int | None]] = {}
    for cycle, t in enumerate(np.arange(0.0, 12.0, 0.072)):
        radar.objects_at(float(t), cycle)
        assert radar.scene_radar is not None
        scan = radar.scene_radar.scans[-1]
        truth_ids, positions, _ = TRUTH.scene.truth_at(float(t))  # type: ignore[union-attr]
        s, c = math.sin(mount.yaw_rad), math.cos(mount.yaw_rad)
        east = positions[:, 0] - mount.east_m
        north = positions[:, 1] - mount.north_m
        x, y = east * s + north * c, -east * c + north * s
        in_view = (np.hypot(x, y) <= 70.0) & (np.abs(np.arctan2(y, x)) <= math.radians(45))
        assert sorted(scan.returns.truth_ids.tolist()) == sorted(truth_ids[in_view].tolist())
        for k, truth in enumerate(scan.returns.truth_ids.tolist()):
            (row,) = np.flatnonzero(truth_ids == truth)
            assert math.hypot(scan.returns.x_m[k] - x[row], scan.returns.y_m[k] - y[row]) < 1e-4
            ids_of_truth.setdefault(truth, set()).add(scan.object_ids[k])
    # Each car was seen, and kept one id while the radar saw it (it never leaves the view for
    # long enough to lose it in this scene).
    assert ids_of_truth
    assert all(len(ids) == 1 for ids in ids_of_truth.values()), ids_of_truth


def radar_on(truth: GroundTruth, mount: str, model: str = "ideal") -> Ars408Emulator:
    return Ars408Emulator(
        "r",
        truth,
        channel="x",
        interface="virtual",
        sensor_id=0,
        position=INTERSECTION,
        heading_deg=0.0,
        mount=mount,
        model=model,
    )


def test_a_mount_needs_a_scene_that_has_it() -> None:
    with pytest.raises(ValueError, match="needs a world with a scene"):
        radar_on(GroundTruth(INTERSECTION, {}), "radar-ne")
    with pytest.raises(ValueError, match="no radar 'radar-nw'"):
        radar_on(TRUTH, "radar-nw")
    with pytest.raises(ValueError, match="radar model 'perfect'"):
        radar_on(TRUTH, "radar-ne", "perfect")
