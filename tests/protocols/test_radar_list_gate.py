"""``ListGate`` gives what its assembler gives fed read by read: the same lists, each from the
same read, and the same counters once flushed, on broken and shuffled traffic cut into reads
of a frame or a few; and it decodes once per list, not once per read."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.can.frames import FrameBatch
from protocols.radar import (
    RadarDefinition,
    RadarObject,
    RadarObjectList,
    RadarObjectListAssembler,
    ars408_definition,
    encode_object_list,
)
from protocols.radar.list_gate import ListGate
from tests.protocols.test_radar_assembler_equivalence import DB, ars408_traffic
from tests.protocols.test_received_fuzz import Frame, _batch, radar_input

ARS408 = ars408_definition()


class _CountingAssembler(RadarObjectListAssembler):
    """The assembler, counting the batches it is fed."""

    def __init__(self, definition: RadarDefinition, sensor_id: int = 0) -> None:
        super().__init__(definition, sensor_id)
        self.fed = 0

    def feed_batch(self, batch: FrameBatch) -> list[RadarObjectList]:
        self.fed += 1
        return super().feed_batch(batch)


def _reads(frames: list[Frame], sizes: list[int]) -> list[Any]:
    """``frames`` cut into reads of ``sizes`` frames, over and over."""
    reads, at, k = [], 0, 0
    while at < len(frames):
        size = sizes[k % len(sizes)]
        reads.append(_batch(frames[at : at + size]))
        at, k = at + size, k + 1
    return reads


def _assert_same(definition: RadarDefinition, sensor_id: int, reads: list[Any]) -> None:
    direct = RadarObjectListAssembler(definition, sensor_id)
    gate = ListGate(RadarObjectListAssembler(definition, sensor_id))
    for read in reads:
        assert repr(gate.feed_batch(read)) == repr(direct.feed_batch(read))
    last = direct.flush()
    assert repr(gate.flush()) == repr([] if last is None else [last])
    assert gate.assembler.counters == direct.counters
    assert gate.held == 0


@settings(max_examples=150, deadline=None)
@given(traffic=ars408_traffic(), sizes=st.lists(st.integers(1, 12), min_size=1, max_size=5))
def test_shuffled_ars408_traffic_read_a_few_frames_at_a_time(
    traffic: tuple[int, list[Frame], list[int]], sizes: list[int]
) -> None:
    sensor_id, frames, _ = traffic
    _assert_same(ARS408, sensor_id, _reads(frames, sizes))


@settings(max_examples=100, deadline=None)
@given(case=radar_input(), sizes=st.lists(st.integers(1, 12), min_size=1, max_size=5))
def test_broken_cycles_of_ars408_and_esr_read_a_few_frames_at_a_time(
    case: tuple[RadarDefinition, int, list[Frame], list[int]], sizes: list[int]
) -> None:
    definition, sensor_id, frames, _ = case
    _assert_same(definition, sensor_id, _reads(frames, sizes))


def _cycles(count: int, objects: int, *, sensor_id: int = 0) -> list[Frame]:
    out: list[Frame] = []
    for cycle in range(count):
        listed = [
            RadarObject(
                object_id=i,
                dist_long_m=10.0 + i,
                dist_lat_m=-2.0,
                vrel_long_mps=1.5,
                vrel_lat_mps=0.0,
                dyn_prop=0,
                rcs_dbsm=5.0,
                obj_class=1,
                length_m=4.2,
                width_m=1.8,
                prob_of_exist_code=7,
            )
            for i in range(objects)
        ]
        frames = encode_object_list(DB, sensor_id, 2 * cycle, listed)
        out += [
            (1.0 + 0.07 * cycle + 1e-4 * i, fid, data, 0) for i, (fid, data) in enumerate(frames)
        ]
    return out


def test_a_list_read_frame_by_frame_is_decoded_about_once() -> None:
    # Five cycles of 20 objects (61 frames each), one frame per read: 305 reads.
    frames = _cycles(5, 20, sensor_id=2)
    assembler = _CountingAssembler(ARS408, sensor_id=2)
    gate = ListGate(assembler)
    emitted = [len(gate.feed_batch(read)) for read in _reads(frames, [1])]
    # Each list comes out of the read of its last frame.
    assert [i for i, n in enumerate(emitted) if n] == [61 * k + 60 for k in range(5)]
    # Per cycle: its header's read (the cycle opens, its count is known) and the read that
    # completes it; not the 59 reads between.
    assert assembler.fed == 2 * 5
    assert assembler.counters["cycles"] == 5


def test_frames_of_another_sensor_are_held_and_ignored() -> None:
    # Sensor 1's frames on sensor 0's bus count as frames held: they only make the gate
    # give the assembler the reads sooner, never later.
    mine = _cycles(2, 10)
    other = _cycles(2, 10, sensor_id=1)
    frames = sorted(mine + other, key=lambda frame: frame[0])
    _assert_same(ARS408, 0, _reads(frames, [3]))


def test_nothing_held_is_lost_at_flush() -> None:
    frames = _cycles(1, 8)
    gate = ListGate(RadarObjectListAssembler(ARS408))
    for read in _reads(frames[:-5], [4]):
        assert gate.feed_batch(read) == []
    assert gate.held > 0
    assert gate.flush() == []  # incomplete: dropped, counted
    assert gate.held == 0
    assert gate.assembler.counters["partial_cycles"] == 1
    assert gate.assembler.counters["cycles"] == 0


def test_reads_of_another_record_type_are_refused() -> None:
    frames = _cycles(1, 8)
    gate = ListGate(RadarObjectListAssembler(ARS408))
    assert gate.feed_batch(_batch(frames[:1])) == []  # the header: the cycle opens
    assert gate.feed_batch(_batch(frames[1:2])) == []
    assert gate.held == 1  # 23 more to come at least
    other = np.zeros(1, dtype=[("timestamp", "f8"), ("arbitration_id", "u4"), ("data", "u1", 8)])
    with pytest.raises(ValueError, match="those held"):
        gate.feed_batch(other)
    assert gate.held == 1
