"""A stored message's ``body_json``: the Envelope as protobuf's JSON mapping, made faster.

The JSON value is what ``json_format.MessageToJson(message, preserving_proto_field_name=True)``
writes (field names as in the .proto, 64-bit integers as strings, enums by name, non-finite
doubles as ``"NaN"``/``"Infinity"``, bytes in base64, fields at their default value left out),
so SQL views and the read model see the same mapping; the text is compact UTF-8 (orjson: a
tenth of ``json.dumps``'s time), which every reader parses (jsonb, SQLite's ``json_extract``).
json_format's printer asks the descriptors about every field of every message; here each
field's conversion is worked out once and kept, which makes the bridge's copy about twice as
fast. Well-known types (none in the v1 schema) are left to json_format.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

_Convert = Callable[[Any], Any]
_Plan = dict[FieldDescriptor, tuple[str, _Convert]]
_plans: dict[Any, _Plan | None] = {}  # by Descriptor (upb's type or the pure one)


def body_json(message: Message) -> str:
    """``message`` as protobuf's JSON mapping with the .proto field names, as compact text."""
    return orjson.dumps(to_json_object(message)).decode()


def to_json_object(message: Message) -> Any:
    """``message`` as ``json_format.MessageToDict(message, preserving_proto_field_name=True)``
    returns it."""
    descriptor = message.DESCRIPTOR
    try:
        plan = _plans[descriptor]
    except KeyError:
        plan = _plans[descriptor] = _plan(descriptor)
    if plan is None:
        return json_format.MessageToDict(message, preserving_proto_field_name=True)
    result = {}
    for field, value in message.ListFields():
        name, convert = plan[field]
        result[name] = convert(value)
    return result


def _plan(descriptor: Any) -> _Plan | None:
    """Each field's name and conversion; None where json_format must decide (well-known types,
    extensions, 32-bit floats, enums that are closed, JSON-named or ``NullValue``)."""
    if descriptor.full_name.startswith("google.protobuf.") or descriptor.extension_ranges:
        return None
    plan: _Plan = {}
    for field in descriptor.fields:
        message_type = field.message_type
        if message_type is not None and message_type.GetOptions().map_entry:
            key = _value_converter(message_type.fields_by_name["key"])
            value = _value_converter(message_type.fields_by_name["value"])
            if key is None or value is None:
                return None
            plan[field] = (field.name, _map_converter(key, value))
            continue
        one = _value_converter(field)
        if one is None:
            return None
        plan[field] = (field.name, _repeated_converter(one) if field.is_repeated else one)
    return plan


def _map_converter(key: _Convert, value: _Convert) -> _Convert:
    return lambda entries: {_map_key(key(k)): value(v) for k, v in entries.items()}


def _repeated_converter(one: _Convert) -> _Convert:
    return lambda values: [one(v) for v in values]


def _map_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _identity(value: Any) -> Any:
    return value


def _to_text(value: Any) -> str:
    return str(value)


def _base64(value: bytes) -> str:
    return base64.b64encode(value).decode("utf-8")


def _double(value: float) -> float | str:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "-Infinity" if value < 0 else "Infinity"


def _value_converter(field: FieldDescriptor) -> _Convert | None:
    """How one value of ``field`` (an element, for a repeated field) is converted; None when
    json_format must decide."""
    cpp = field.cpp_type
    if cpp == FieldDescriptor.CPPTYPE_MESSAGE:
        return to_json_object
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        enum = field.enum_type
        if (
            enum is None
            or enum.is_closed
            or enum.full_name == "google.protobuf.NullValue"
            or any(value.GetOptions().ListFields() for value in enum.values)
        ):
            return None
        names = {number: value.name for number, value in enum.values_by_number.items()}
        return lambda number: names.get(number, number)  # an unknown number stays a number
    if cpp == FieldDescriptor.CPPTYPE_STRING:
        return _base64 if field.type == FieldDescriptor.TYPE_BYTES else _to_text
    if cpp == FieldDescriptor.CPPTYPE_BOOL:
        return bool
    if cpp in (FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64):
        return _to_text
    if cpp == FieldDescriptor.CPPTYPE_DOUBLE:
        return _double
    if cpp == FieldDescriptor.CPPTYPE_FLOAT:
        return None  # json_format's shortest float32 text: none in the v1 schema
    return _identity  # 32-bit integers
