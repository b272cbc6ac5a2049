"""Radar object lists never carry NaN or infinity: a frame whose cycle structure is not finite
is dropped, an object with a non-finite value left out, both counted; a definition's constant
must be finite."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.dbc import DecodedMessage, VectorDecoder
from protocols.radar import (
    Ars408ObjectListAssembler,
    RadarDefinitionError,
    RadarObject,
    RadarObjectList,
    ars408_database,
    encode_object_list,
    load_radar_definition,
    shipped_definition,
)

DB = ars408_database()
OBJECTS = [RadarObject(i, 10.0 + i, 1.0, -2.0, 0.0, 1, 5.0, 1, 4.0, 2.0, 7) for i in range(3)]
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])


def decoded_cycle(counter: int) -> dict[str, DecodedMessage]:
    """One full cycle of ``OBJECTS`` as the decoder gives it, with arrays we may change."""
    frames = encode_object_list(DB, 0, counter, OBJECTS)
    ids = np.array([fid for fid, _ in frames], dtype=np.uint32)
    data = np.zeros((len(frames), 8), dtype=np.uint8)
    for row, (_, payload) in enumerate(frames):
        data[row, : len(payload)] = np.frombuffer(payload, dtype=np.uint8)
    times = np.arange(len(frames), dtype=np.float64) + 100.0
    return writable(VectorDecoder(DB).decode(ids, data, [8] * len(frames), times))


def writable(decoded: Mapping[str, DecodedMessage]) -> dict[str, DecodedMessage]:
    """The decoder's messages with arrays of their own, which a test may change."""
    return {
        name: DecodedMessage(
            message.timestamp.copy(),
            {signal: values.copy() for signal, values in message.signals.items()},
            message.index.copy(),
        )
        for name, message in decoded.items()
    }


def all_floats_finite(lists: list[RadarObjectList]) -> bool:
    values = [lst.timestamp for lst in lists] + [
        v for lst in lists for obj in lst.objects for v in obj if isinstance(v, float)
    ]
    return all(math.isfinite(v) for v in values)


@settings(max_examples=200)
@given(data=st.data(), value=NON_FINITE, cycles=st.integers(1, 3))
def test_a_non_finite_value_anywhere_never_comes_out_and_never_raises(
    data: st.DataObject, value: float, cycles: int
) -> None:
    assembler = Ars408ObjectListAssembler()
    definition = assembler.definition
    used = {definition.counter, definition.object_count, definition.id_signal, "timestamp"}
    used |= {source.signal for source in definition.fields.values()}
    hits = 0
    lists: list[RadarObjectList] = []
    for counter in range(cycles):
        decoded = decoded_cycle(counter)
        name = data.draw(st.sampled_from(sorted(decoded)))
        message = decoded[name]
        column = data.draw(st.sampled_from([*sorted(message.signals), "timestamp"]))
        row = data.draw(st.integers(0, len(message.timestamp) - 1))
        target = message.timestamp if column == "timestamp" else message.signals[column]
        target[row] = value
        hits += column in used
        lists += assembler.feed(decoded)
    last = assembler.flush()
    lists += [last] if last is not None else []
    assert all_floats_finite(lists)
    dropped = assembler.counters["non_finite_frames"] + assembler.counters["non_finite_objects"]
    # Each value hit in a column the assembler reads costs one frame or one object, counted;
    # a column it does not read costs nothing.
    assert dropped == hits
    assert assembler.counters["cycles"] == len(lists)
    if hits == 0:
        assert [len(lst.objects) for lst in lists] == [len(OBJECTS)] * cycles


def test_an_object_with_a_non_finite_distance_is_left_out_and_counted() -> None:
    assembler = Ars408ObjectListAssembler()
    decoded = decoded_cycle(7)
    decoded["Obj_1_General"].signals["Obj_DistLong"][1] = math.inf
    lists = assembler.feed(decoded) + assembler.feed(decoded_cycle(8))
    assert [obj.object_id for obj in lists[0].objects] == [0, 2]
    assert assembler.counters["non_finite_objects"] == 1
    assert [len(lst.objects) for lst in lists] == [2, 3]


def test_a_header_with_a_nan_counter_is_dropped_and_counted() -> None:
    assembler = Ars408ObjectListAssembler()
    decoded = decoded_cycle(7)
    decoded["Obj_0_Status"].signals["Obj_MeasCounter"][0] = math.nan
    assert assembler.feed(decoded) == []  # no cycle opened: its objects are orphans
    assert assembler.counters["non_finite_frames"] == 1
    assert assembler.counters["orphan_frames"] == 9
    (good,) = assembler.feed(decoded_cycle(8))
    assert good.cycle_counter == 8


def test_a_nan_object_id_drops_that_frame_only() -> None:
    assembler = Ars408ObjectListAssembler()
    decoded = decoded_cycle(7)
    decoded["Obj_3_Extended"].signals["Obj_ID"][0] = math.nan
    assert assembler.feed(decoded) == []  # the cycle lacks one extended message
    assert assembler.counters["non_finite_frames"] == 1
    (good,) = assembler.feed(decoded_cycle(8))
    assert assembler.counters["partial_cycles"] == 1
    assert len(good.objects) == 3


@pytest.mark.parametrize("constant", ["nan", "inf", "-inf"])
def test_a_definition_constant_must_be_finite(tmp_path: Path, constant: str) -> None:
    text = shipped_definition("ars408").read_text(encoding="utf-8")
    text = text.replace('rcs_dbsm = "Obj_RCS"', f"rcs_dbsm = {{ value = {constant} }}")
    text = text.replace('"../dbc/files/ars408_id0.dbc"', '"unused.dbc"')
    path = tmp_path / "radar.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RadarDefinitionError, match="finite"):
        load_radar_definition(path, DB)
