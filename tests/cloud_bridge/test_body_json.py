"""``body_json`` writes the JSON value json_format writes, for every type of the v1 schema."""

from __future__ import annotations

import json
import math
import random
from typing import Any

from google.protobuf import json_format, message_factory, struct_pb2, wrappers_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_bridge.body_json import body_json, to_json_object
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.cloud_bridge.factories import envelope

_DOUBLES = (0.0, -0.0, 1.5, -2.25e-300, 1e300, 0.1, math.nan, math.inf, -math.inf, 34.2610)
_TEXTS = ("", "a", "\x00", "é😀", '"\\', "rsu-001")


def _all_types(descriptors: Any) -> list[Descriptor]:
    found = []
    for descriptor in descriptors:
        if descriptor.GetOptions().map_entry:
            continue
        found.append(descriptor)
        found.extend(_all_types(descriptor.nested_types))
    return found


MESSAGE_TYPES = _all_types(pb.DESCRIPTOR.message_types_by_name.values())


def _scalar(field: Any, rng: random.Random) -> Any:
    cpp = field.cpp_type
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        numbers = [value.number for value in field.enum_type.values]
        return rng.choice([*numbers, 999])  # 999: a number this schema does not know
    if cpp == FieldDescriptor.CPPTYPE_STRING:
        if field.type == FieldDescriptor.TYPE_BYTES:
            return rng.randbytes(rng.randrange(0, 40))
        return rng.choice(_TEXTS)
    if cpp == FieldDescriptor.CPPTYPE_BOOL:
        return rng.random() < 0.5
    if cpp == FieldDescriptor.CPPTYPE_DOUBLE:
        return rng.choice(_DOUBLES)
    if cpp in (FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_INT32):
        bits = 63 if cpp == FieldDescriptor.CPPTYPE_INT64 else 31
        return rng.choice([0, 1, -1, 2**bits - 1, -(2**bits)])
    bits = 64 if cpp == FieldDescriptor.CPPTYPE_UINT64 else 32
    return rng.choice([0, 1, 2**bits - 1])


def _fill(message: Message, rng: random.Random, depth: int) -> None:
    for field in message.DESCRIPTOR.fields:
        if rng.random() < 0.3:
            continue  # left at its default: json_format leaves it out
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            entries = getattr(message, field.name)
            key_field = field.message_type.fields_by_name["key"]
            value_field = field.message_type.fields_by_name["value"]
            for _ in range(rng.randrange(0, 3)):
                key = _scalar(key_field, rng)
                if value_field.message_type is None:
                    entries[key] = _scalar(value_field, rng)
                elif depth < 3:
                    _fill(entries[key], rng, depth + 1)
        elif field.is_repeated:
            values = getattr(message, field.name)
            for _ in range(rng.randrange(0, 3)):
                if field.message_type is None:
                    values.append(_scalar(field, rng))
                elif depth < 3:
                    _fill(values.add(), rng, depth + 1)
        elif field.message_type is not None:
            if depth < 3:
                child = getattr(message, field.name)
                child.SetInParent()  # present even when empty
                _fill(child, rng, depth + 1)
        else:
            setattr(message, field.name, _scalar(field, rng))


def _same_as_json_format(message: Message) -> None:
    expected = json_format.MessageToJson(message, preserving_proto_field_name=True, indent=None)
    assert json.loads(body_json(message)) == json.loads(expected)
    assert to_json_object(message) == json.loads(expected)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(MESSAGE_TYPES), st.integers(0, 2**32))
def test_every_message_type_prints_as_json_format_does(descriptor: Descriptor, seed: int) -> None:
    message = message_factory.GetMessageClass(descriptor)()
    _fill(message, random.Random(seed), depth=0)
    _same_as_json_format(message)


def test_a_sealed_envelope_prints_as_json_format_does() -> None:
    _same_as_json_format(envelope("rsu-001", 7))


def test_well_known_types_are_left_to_json_format() -> None:
    value = struct_pb2.Struct()
    value.update({"a": [1.5, None, "x"], "b": {"c": True}})
    _same_as_json_format(value)
    _same_as_json_format(wrappers_pb2.FloatValue(value=0.1))


def test_the_text_is_compact_utf8() -> None:
    message = pb.Envelope(device_id="é😀", boot_id="\x00")
    assert body_json(message) == '{"device_id":"é😀","boot_id":"\\u0000"}'
