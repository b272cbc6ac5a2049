"""ARS408 object lists: the real capture, the encoder round trip, broken cycles."""

from __future__ import annotations

import itertools
import statistics

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hal.can.frames import make_batch
from protocols.dbc import VectorDecoder
from protocols.radar import (
    Ars408ObjectListAssembler,
    RadarObject,
    RadarObjectList,
    ars408_database,
    encode_object_list,
)
from tests.protocols.test_dbc_decoder import ARS408_LOG, _read_candump

DB = ars408_database()


def _capture_lists(
    chunk: int | None = None,
) -> tuple[list[RadarObjectList], Ars408ObjectListAssembler]:
    batch, _ = _read_candump(ARS408_LOG)
    assembler = Ars408ObjectListAssembler()
    step = chunk or batch.shape[0]
    lists = []
    for start in range(0, batch.shape[0], step):
        lists.extend(assembler.feed_batch(batch[start : start + step]))
    return lists, assembler


def _near(obj: RadarObject, x: float, y: float) -> bool:
    return abs(obj.dist_long_m - x) < 0.5 and abs(obj.dist_lat_m - y) < 0.5


def test_real_capture_yields_the_described_scene() -> None:
    lists, assembler = _capture_lists()
    assert len(lists) == 515  # one per Obj_0_Status frame in the capture
    assert assembler.flush() is None
    assert assembler.counters["cycles"] == 515
    for reason in ("partial_cycles", "missed_cycles", "orphan_frames", "short_frame"):
        assert assembler.counters[reason] == 0, reason
    assert all(len(lst.objects) == 3 for lst in lists[:10])
    # The first cycles are the README's table: (id, x, y, RCS, class 0 point / 1 car / 6 wide).
    first = {obj.object_id: obj for obj in lists[0].objects}
    for object_id, x, y, rcs, obj_class in [
        (56, 5.6, 0.6, 14.0, 0),
        (32, 11.4, 0.2, 26.0, 1),
        (0, 17.6, -0.4, 27.5, 6),
    ]:
        obj = first[object_id]
        assert obj.dist_long_m == pytest.approx(x, abs=0.01)
        assert obj.dist_lat_m == pytest.approx(y, abs=0.01)
        assert obj.rcs_dbsm == pytest.approx(rcs, abs=0.01)
        assert obj.obj_class == obj_class
        assert obj.prob_of_exist_code == 7
        assert (obj.vrel_long_mps, obj.vrel_lat_mps) == (0.0, 0.0)  # the car stands still
    # Over the whole capture the car at 11.4 m and the object at 17.6 m stay (ids change).
    cars = [o for lst in lists for o in lst.objects if _near(o, 11.4, 0.2)]
    assert sum(any(_near(o, 11.4, 0.2) for o in lst.objects) for lst in lists) > 0.8 * 515
    assert sum(any(_near(o, 17.6, -0.4) for o in lst.objects) for lst in lists) > 0.6 * 515
    car_rcs = [o.rcs_dbsm for o in cars]
    assert None not in car_rcs  # the ARS408 always reports a radar cross-section
    assert statistics.median(r for r in car_rcs if r is not None) == pytest.approx(26.0, abs=1.0)
    counters = [lst.cycle_counter for lst in lists]
    assert all((b - a) % 65536 == 2 for a, b in itertools.pairwise(counters))
    assert all(b.timestamp > a.timestamp for a, b in itertools.pairwise(lists))


def test_cycles_split_across_batches_come_out_the_same() -> None:
    whole, _ = _capture_lists()
    chunked, _ = _capture_lists(chunk=7)
    assert chunked == whole


def test_feed_accepts_decoder_output() -> None:
    batch, _ = _read_candump(ARS408_LOG)
    decoded = VectorDecoder(DB).decode_batch(batch[:200])
    lists = Ars408ObjectListAssembler().feed(decoded)
    assert lists == _capture_lists()[0][: len(lists)]
    assert len(lists) >= 10


def _objects() -> st.SearchStrategy[list[RadarObject]]:
    def grid(scale: float, offset: float, bits: int) -> st.SearchStrategy[float]:
        return st.integers(0, (1 << bits) - 1).map(lambda raw: raw * scale + offset)

    obj = st.builds(
        RadarObject,
        object_id=st.integers(0, 255),
        dist_long_m=grid(0.2, -500, 13),
        dist_lat_m=grid(0.2, -204.6, 11).filter(lambda v: v <= 204.8),
        vrel_long_mps=grid(0.25, -128, 10),
        vrel_lat_mps=grid(0.25, -64, 9),
        dyn_prop=st.integers(0, 7),
        rcs_dbsm=grid(0.5, -64, 8),
        obj_class=st.integers(0, 7),
        length_m=grid(0.2, 0, 8).filter(lambda v: v <= 51),
        width_m=grid(0.2, 0, 8).filter(lambda v: v <= 51),
        prob_of_exist_code=st.integers(0, 7),
    )
    return st.lists(obj, max_size=12, unique_by=lambda o: o.object_id)


def _to_arrays(frames: list[tuple[int, bytes]], t0: float) -> dict[str, np.ndarray]:
    batch = make_batch([(t0 + i * 1e-4, fid, data) for i, (fid, data) in enumerate(frames)])
    return {name: batch[name] for name in ("arbitration_id", "data", "dlc", "timestamp")}


@given(objects=_objects(), counter=st.integers(0, 70000), sensor_id=st.integers(0, 7))
def test_encode_then_assemble_round_trips(
    objects: list[RadarObject], counter: int, sensor_id: int
) -> None:
    frames = encode_object_list(DB, sensor_id, counter, objects)
    assert len(frames) == 1 + 3 * len(objects)
    assert frames[0][0] == 0x60A + 0x10 * sensor_id
    assembler = Ars408ObjectListAssembler(sensor_id)
    other = Ars408ObjectListAssembler((sensor_id + 1) % 8)
    arrays = _to_arrays(frames, 10.0)
    lists = assembler.feed_frames(**arrays)
    assert other.feed_frames(**arrays) == []
    assert other.flush() is None
    assert len(lists) == 1
    (lst,) = lists
    assert (lst.sensor_id, lst.cycle_counter, lst.timestamp) == (sensor_id, counter % 65536, 10.0)
    assert len(lst.objects) == len(objects)
    for got, want in zip(lst.objects, objects, strict=True):
        for name in RadarObject._fields:
            assert getattr(got, name) == pytest.approx(getattr(want, name), abs=1e-9), name


def test_radar_without_extended_and_quality_messages() -> None:
    # dist_lat on its DBC grid (raw 1018), so that decoding gives back the same float
    general_only = RadarObject(7, 12.0, 1018 * 0.2 - 204.6, 0.5, 0.0, 0, 3.5)
    frames = encode_object_list(DB, 0, 1, [general_only])
    assert len(frames) == 2
    assembler = Ars408ObjectListAssembler()
    # Quality/extended are expected until a cycle ends without them: one cycle of delay.
    assert assembler.feed_frames(**_to_arrays(frames, 1.0)) == []
    lists = assembler.feed_frames(**_to_arrays(encode_object_list(DB, 0, 3, [general_only]), 2.0))
    assert [(lst.cycle_counter, lst.objects) for lst in lists] == [
        (1, (general_only,)),
        (3, (general_only,)),  # now known: complete as soon as its general frames are in
    ]
    (empty,) = assembler.feed_frames(**_to_arrays(encode_object_list(DB, 0, 5, []), 3.0))
    assert (empty.cycle_counter, empty.objects) == (5, ())
    assert assembler.counters["cycles"] == 3
    assert assembler.flush() is None


def test_partial_missed_and_orphan_frames_are_counted() -> None:
    objects = [RadarObject(i, 10.0 + i, 0.0, 0.0, 0.0, 1, 5.0, 1, 4.0, 2.0, 7) for i in range(3)]
    assembler = Ars408ObjectListAssembler()
    cycle = encode_object_list(DB, 0, 10, objects)
    orphan = cycle[1]
    broken = [orphan, cycle[0], *cycle[2:]]  # a general frame before its status
    assert assembler.feed_frames(**_to_arrays(broken, 0.0)) == []
    assert assembler.counters["orphan_frames"] == 3  # the general + its quality and extended
    next_cycle = encode_object_list(DB, 0, 16, objects)  # counter 12 and 14 never arrive
    lists = assembler.feed_frames(**_to_arrays(next_cycle, 1.0))
    assert [lst.cycle_counter for lst in lists] == [16]
    assert assembler.counters["partial_cycles"] == 1
    assert assembler.counters["missed_cycles"] == 0  # the step is not known yet (first gap)
    assembler.feed_frames(**_to_arrays(encode_object_list(DB, 0, 18, objects), 2.0))
    assembler.feed_frames(**_to_arrays(encode_object_list(DB, 0, 24, objects), 3.0))
    assert assembler.counters["missed_cycles"] == 2  # 20 and 22
    short = _to_arrays(encode_object_list(DB, 0, 26, objects), 4.0)
    short["dlc"][1] = 5
    assert assembler.feed_frames(**short) == []
    assert assembler.counters["short_frame"] == 1
    assert assembler.flush() is None
    assert assembler.counters["partial_cycles"] == 2


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="sensor id"):
        Ars408ObjectListAssembler(8)
    with pytest.raises(ValueError, match="sensor id"):
        encode_object_list(DB, -1, 0, [])
    with pytest.raises(ValueError, match="Obj_1_General"):
        encode_object_list(DB, 0, 0, [RadarObject(1, 5000.0, 0.0, 0.0, 0.0, 0, 0.0)])
