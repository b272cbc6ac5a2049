"""The assembler gives exactly what the reference (``radar_assembler_reference``: per-frame
dicts, objects built field by field) gives: the same lists batch by batch, compared by
``repr`` (so an int field that became a float, or 0.0 that became -0.0, shows), and the same
counters, on frames shuffled, dropped, repeated and broken, on non-finite and tied decoded
values, and on definitions with polar positions, units and constants."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cantools.database.can import Database
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.can.frames import make_batch
from protocols.dbc import DecodedMessage, VectorDecoder
from protocols.radar import (
    RadarDefinition,
    RadarObject,
    RadarObjectListAssembler,
    ars408_database,
    ars408_definition,
    encode_object_list,
    load_radar_definition,
    shipped_definition,
)
from tests.protocols.radar_assembler_reference import ReferenceAssembler
from tests.protocols.test_radar_ars408 import _objects
from tests.protocols.test_radar_non_finite import writable
from tests.protocols.test_received_fuzz import ESR, Frame, _batch, _esr_cycle, radar_input

DB = ars408_database()
ARS408 = ars408_definition()

# Keyed and polar: an angle in degrees, a range rate in km/h from the optional extended
# message (0 when it does not come), constants and fields from every message.
POLAR = """
[polar]
range = "Obj_DistLong"
angle = { signal = "Obj_DistLat", unit = "deg" }
angle_sign = -1
range_rate = { signal = "Obj_ArelLong", unit = "km/h" }

[fields]
dyn_prop = { value = 3 }
rcs_dbsm = "Obj_RCS"
obj_class = "Obj_Class"
length_m = "Obj_Length"
width_m = { value = 1.5 }
prob_of_exist_code = "Obj_ProbOfExist"
"""
# Keyed and cartesian with a unit conversion, an integer constant and a float constant in
# an integer field.
UNITS = """
[fields]
dist_long_m = "Obj_DistLong"
dist_lat_m = "Obj_DistLat"
vrel_long_mps = { signal = "Obj_VrelLong", unit = "km/h" }
vrel_lat_mps = { value = 0 }
dyn_prop = "Obj_DynProp"
obj_class = { value = 2.0 }
width_m = "Obj_Width"
prob_of_exist_code = "Obj_ProbOfExist"
"""


def _variant(tmp_path: Path, fields: str) -> RadarDefinition:
    """``ars408.toml`` with its ``[fields]`` replaced by ``fields``."""
    text = shipped_definition("ars408").read_text(encoding="utf-8")
    text = text[: text.index("[fields]")] + fields
    path = tmp_path / "variant.toml"
    path.write_text(text, encoding="utf-8")
    return load_radar_definition(path, DB)


def _assert_same(definition: RadarDefinition, sensor_id: int, batches: list[Any]) -> None:
    assembler = RadarObjectListAssembler(definition, sensor_id)
    reference = ReferenceAssembler(definition, sensor_id)
    for batch in batches:
        assert repr(assembler.feed_batch(batch)) == repr(reference.feed_batch(batch))
    assert repr(assembler.flush()) == repr(reference.flush())
    assert assembler.counters == reference.counters


@st.composite
def ars408_traffic(draw: st.DrawFn) -> tuple[int, list[Frame], list[int]]:
    """A sensor id, cycles of random objects (with or without the quality and extended
    messages, counters stepping or jumping) in an order shuffled here and there, frames
    dropped and repeated, and where to cut them into batches."""
    sensor_id = draw(st.integers(0, 7))
    counter = draw(st.integers(0, 65535))
    frames: list[tuple[int, bytes]] = []
    for _ in range(draw(st.integers(1, 4))):
        objects = draw(_objects())
        if draw(st.booleans()):  # a radar configured without quality and extended
            objects = [_general_only(obj) for obj in objects]
        frames += encode_object_list(DB, sensor_id, counter, objects)
        counter += draw(st.sampled_from([2, 2, 2, 4, 0]))
    rng = random.Random(draw(st.integers(0, 2**32)))
    for _ in range(draw(st.integers(0, 10))):
        at = rng.randrange(len(frames))
        change = rng.choice(["swap", "move", "drop", "repeat"])
        if change == "swap":
            other = min(len(frames) - 1, at + rng.randint(1, 3))
            frames[at], frames[other] = frames[other], frames[at]
        elif change == "move":
            frames.insert(rng.randrange(len(frames)), frames.pop(at))
        elif change == "drop" and len(frames) > 1:
            del frames[at]
        elif change == "repeat":
            frames.insert(at, frames[at])
    out = [(1.0 + 1e-4 * i, fid, data, 0) for i, (fid, data) in enumerate(frames)]
    cuts = sorted(draw(st.lists(st.integers(0, len(out)), max_size=4)))
    return sensor_id, out, cuts


def _general_only(obj: RadarObject) -> RadarObject:
    return obj._replace(obj_class=None, length_m=None, width_m=None, prob_of_exist_code=None)


def _batches(frames: list[Frame], cuts: list[int]) -> list[Any]:
    return [_batch(frames[a:b]) for a, b in zip([0, *cuts], [*cuts, len(frames)], strict=True)]


@settings(max_examples=150, deadline=None)
@given(radar_input())
def test_broken_cycles_of_ars408_and_esr_come_out_as_the_reference(
    case: tuple[RadarDefinition, int, list[Frame], list[int]],
) -> None:
    definition, sensor_id, frames, cuts = case
    _assert_same(definition, sensor_id, _batches(frames, cuts))


@settings(max_examples=150, deadline=None)
@given(ars408_traffic())
def test_shuffled_ars408_traffic_comes_out_as_the_reference(
    traffic: tuple[int, list[Frame], list[int]],
) -> None:
    sensor_id, frames, cuts = traffic
    _assert_same(ARS408, sensor_id, _batches(frames, cuts))


@pytest.mark.parametrize("fields", [POLAR, UNITS], ids=["polar", "units"])
@settings(max_examples=40, deadline=None)
@given(traffic=ars408_traffic())
def test_polar_units_and_constants_come_out_as_the_reference(
    tmp_path_factory: pytest.TempPathFactory,
    fields: str,
    traffic: tuple[int, list[Frame], list[int]],
) -> None:
    definition = _variant(tmp_path_factory.mktemp("radar"), fields)
    sensor_id, frames, cuts = traffic
    _assert_same(definition, sensor_id, _batches(frames, cuts))


def _decoded(frames: list[tuple[int, bytes]], db: Database = DB) -> dict[str, DecodedMessage]:
    """The frames decoded, as messages whose arrays may be changed."""
    batch = make_batch([(5.0 + 1e-4 * i, fid, data) for i, (fid, data) in enumerate(frames)])
    return writable(VectorDecoder(db).decode_batch(batch))


@settings(max_examples=200, deadline=None)
@given(
    objects=_objects(),
    data=st.data(),
    hits=st.integers(0, 4),
    value=st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308, -0.4]),
)
def test_non_finite_and_tied_decoded_values_come_out_as_the_reference(
    tmp_path_factory: pytest.TempPathFactory,
    objects: list[RadarObject],
    data: st.DataObject,
    hits: int,
    value: float,
) -> None:
    fields = data.draw(st.sampled_from([None, POLAR, UNITS]))
    definition = ARS408 if fields is None else _variant(tmp_path_factory.mktemp("radar"), fields)
    frames = encode_object_list(DB, 0, 3, objects) + encode_object_list(DB, 0, 5, objects)
    decoded = _decoded(frames)
    for _ in range(hits):  # a value (any signal, the timestamp, or the frame's index) changed
        message = decoded[data.draw(st.sampled_from(sorted(decoded)))]
        row = data.draw(st.integers(0, len(message.timestamp) - 1))
        column = data.draw(st.sampled_from([*sorted(message.signals), "timestamp", "index"]))
        if column == "index":  # hand-made input: a frame placed elsewhere, maybe on a tie
            message.index[row] = data.draw(st.integers(0, len(frames)))
        else:
            (message.timestamp if column == "timestamp" else message.signals[column])[row] = value
    assembler = RadarObjectListAssembler(definition)
    reference = ReferenceAssembler(definition)
    assert repr(assembler.feed(decoded)) == repr(reference.feed(decoded))
    assert repr(assembler.flush()) == repr(reference.flush())
    assert assembler.counters == reference.counters


def test_the_comparison_sees_a_changed_object() -> None:
    # The property above can fail: one changed value in one frame changes one object.
    objects = [RadarObject(i, 10.0 + i, 1.0, -2.0, 0.0, 1, 5.0, 1, 4.0, 2.0, 7) for i in range(3)]
    decoded = _decoded(encode_object_list(DB, 0, 3, objects))
    reference = ReferenceAssembler(ARS408).feed(decoded)
    decoded["Obj_3_Extended"].signals["Obj_Class"][1] = 2.0
    changed = RadarObjectListAssembler(ARS408).feed(decoded)
    assert repr(changed) != repr(reference)
    assert changed[0].objects[1] == reference[0].objects[1]._replace(obj_class=2)
    assert np.array_equal([obj.dist_long_m for obj in changed[0].objects], [10.0, 11.0, 12.0])


def test_frames_on_one_index_are_taken_in_name_order_as_the_reference() -> None:
    # Hand-made input only (the decoder gives each frame its own index): ties are broken by
    # message name, which for the ESR's Target1..Target64 is not their order in the
    # definition; the list completes at the last frame taken.
    decoded = _decoded(_esr_cycle(0, random.Random(7), -1), ESR.database)
    for message in decoded.values():
        message.index[:] = 0
    assembler = RadarObjectListAssembler(ESR)
    (lst,) = assembler.feed(decoded)
    assert repr([lst]) == repr(ReferenceAssembler(ESR).feed(decoded))
    assert lst.completed_at == decoded["Target9"].timestamp[0]


def test_a_polar_range_of_minus_zero_comes_out_as_the_reference(tmp_path: Path) -> None:
    # A range of -0.0 is taken as 0.0 (``or 0.0``): x = 0.0 * cos, not -0.0 * cos.
    definition = _variant(tmp_path, POLAR)
    objects = [RadarObject(1, 10.0, 1.0, 0.0, 0.0, 1, 5.0, 1, 4.0, 2.0, 7)]
    decoded = _decoded(encode_object_list(DB, 0, 3, objects))
    decoded["Obj_1_General"].signals["Obj_DistLong"][0] = -0.0
    (lst,) = RadarObjectListAssembler(definition).feed(decoded)
    assert repr([lst]) == repr(ReferenceAssembler(definition).feed(decoded))
    assert math.copysign(1.0, lst.objects[0].dist_long_m) == 1.0
