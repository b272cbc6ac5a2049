"""``all_finite``, the publish guard's quick check, answers as ``non_finite_fields`` does for
every message type of the schema (nested, repeated, recursive and map fields), whatever the
floats hold: finite, NaN, infinities, or finite values whose sum overflows."""

from __future__ import annotations

import math
from typing import Any

import pytest
from google.protobuf import struct_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import given
from hypothesis import strategies as st

from protocols.envelope import all_finite, non_finite_fields
from protocols.schema.v1 import roadgate_pb2 as pb

FLOATS = (FieldDescriptor.CPPTYPE_DOUBLE, FieldDescriptor.CPPTYPE_FLOAT)
MESSAGE_TYPES = sorted(pb.DESCRIPTOR.message_types_by_name)
values = st.one_of(
    st.floats(-1e6, 1e6),
    st.sampled_from([math.nan, math.inf, -math.inf, 1.7e308, -1.7e308, 3e38]),
)


def fill(message: Message, data: st.DataObject, depth: int = 0) -> None:
    """Set the float fields of ``message`` and of messages under it (to ``depth`` 3)."""
    for fd in message.DESCRIPTOR.fields:
        if fd.cpp_type in FLOATS:
            if fd.is_repeated:
                getattr(message, fd.name).extend(data.draw(st.lists(values, max_size=3)))
            elif data.draw(st.booleans()):
                setattr(message, fd.name, data.draw(values))
        elif fd.message_type is not None and depth < 3:
            if fd.message_type.GetOptions().map_entry:
                continue  # the schema's maps hold no floats; Struct's are tested below
            if fd.is_repeated:
                for _ in range(data.draw(st.integers(0, 2))):
                    fill(getattr(message, fd.name).add(), data, depth + 1)
            elif data.draw(st.booleans()):
                fill(getattr(message, fd.name), data, depth + 1)


@given(st.sampled_from(MESSAGE_TYPES), st.data())
def test_every_schema_message_is_answered_as_the_walk_answers(name: str, data: Any) -> None:
    message = getattr(pb, name)()
    fill(message, data)
    assert all_finite(message) == (non_finite_fields(message) == [])


@given(st.recursive(values, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_maps_and_recursive_types_are_answered_as_the_walk_answers(tree: Any) -> None:
    value = struct_pb2.Value()
    if isinstance(tree, float):
        value.number_value = tree
    elif isinstance(tree, list):
        value.list_value.extend(tree)
    else:
        value.struct_value.update(tree)
    assert all_finite(value) == (non_finite_fields(value) == [])


def test_finite_values_whose_sum_overflows_are_finite() -> None:
    body = pb.VehicleState(speed_mps=1.7e308, heading_rad=1.7e308)
    assert body.speed_mps + body.heading_rad == math.inf
    assert all_finite(body)
    body.heading_rad = math.nan
    assert not all_finite(body)


@given(st.sampled_from(MESSAGE_TYPES), st.data())
def test_checked_fields_are_not_read_and_every_other_one_is(name: str, data: Any) -> None:
    message = getattr(pb, name)()
    fill(message, data)
    fields = sorted(message.DESCRIPTOR.fields_by_name)
    checked = data.draw(st.sets(st.sampled_from(fields)) if fields else st.just(set()))
    elsewhere = [
        path
        for path in non_finite_fields(message)
        if path.split(".")[0].split("[")[0] not in checked
    ]
    assert all_finite(message, checked) == (elsewhere == [])


def test_a_checked_field_must_be_the_messages() -> None:
    with pytest.raises(ValueError, match=r"roadgate\.v1\.ObjectList has no field object"):
        all_finite(pb.ObjectList(), {"object"})
    body = pb.ObjectList(objects=[pb.PerceivedObject(x_m=math.nan)])
    assert all_finite(body, {"objects"})
    body.sensor_heading_rad = math.inf
    assert not all_finite(body, {"objects"})
