"""Build, decode and check the one wire message, ``roadgate.v1.Envelope``."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from operator import attrgetter
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError as _PbDecodeError
from google.protobuf.message import Message

from protocols.errors import DecodeError, SchemaVersionError
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import BODY_OF_STREAM, STREAM_OF_BODY, Stream, Topic

SCHEMA_VERSION = 1
"""The schema version this code writes and the only one it accepts."""

STATUS_SEQUENCE_BASE = 1 << 62
"""Status envelopes are numbered from here up, per boot; the outbox's numbering of messages,
which counts one a message, stays far below it (2**62 is 146 years of messages at 1 MHz) and
every number stays a signed 64-bit integer, which the bridge's stores require. The order of a
boot's statuses is their number's, as before: the will left at a connect precedes its birth.
The bridge's loss accounting counts the numbers below it only."""


def seal(
    body: Message,
    *,
    device_id: str,
    boot_id: str,
    sequence: int,
    capture_time_ns: int,
    publish_time_ns: int,
    clock_source: pb.ClockSource.ValueType,
    clock_max_error_s: float = 0.0,
    historical: bool = False,
) -> pb.Envelope:
    """Wrap ``body`` (one of the Envelope body messages) in an Envelope.

    ``clock_max_error_s`` bounds both timestamps' error against UTC (0: unknown). Raises
    ``TypeError`` when ``body`` is not an Envelope body type and ``ValueError`` when the bound
    is negative or not finite.
    """
    field = _BODY_FIELD_OF_TYPE.get(body.DESCRIPTOR.full_name)
    if field is None:
        raise TypeError(f"{body.DESCRIPTOR.full_name} is not an Envelope body")
    if not (math.isfinite(clock_max_error_s) and clock_max_error_s >= 0):
        raise ValueError(f"clock_max_error_s must be finite and >= 0, got {clock_max_error_s!r}")
    env = pb.Envelope(
        schema_version=SCHEMA_VERSION,
        device_id=device_id,
        boot_id=boot_id,
        sequence=sequence,
        capture_time_ns=capture_time_ns,
        publish_time_ns=publish_time_ns,
        clock_source=clock_source,
        clock_max_error_s=clock_max_error_s,
        historical=historical,
    )
    getattr(env, field).CopyFrom(body)
    return env


def all_finite(message: Message, checked: Collection[str] = ()) -> bool:
    """True when ``non_finite_fields(message)`` is empty, found several times faster: each
    message's float fields are read by one ``attrgetter`` call and summed (NaN and infinities
    carry through a sum; a sum that overflows is looked at value by value).

    ``checked`` names fields of ``message`` itself that are not read: their values were
    made from numbers the caller checked finite (a repeated field of hundreds of messages
    costs a walk of each). Raises ``ValueError`` for a name the message type does not have.
    """
    return _finite_check(message.DESCRIPTOR, frozenset(checked))(message)


def non_finite_fields(message: Message) -> list[str]:
    """The float and double fields of ``message`` (nested messages, repeated fields and map
    values included) that hold NaN or an infinity, as paths like ``objects[3].x_m``.

    Empty when every value is finite: what a box may publish (JSON, the cloud's stores and
    every consumer downstream have no use for NaN or infinity). Never raises.
    """
    bad: list[str] = []
    _collect_non_finite(message, "", bad)
    return bad


def _collect_non_finite(message: Message, prefix: str, bad: list[str]) -> None:
    # ListFields only yields fields set to a non-default value: NaN and infinities are
    # never default, and messages without float fields are skipped by their descriptor.
    if not _has_floats(message.DESCRIPTOR):
        return
    for fd, value in message.ListFields():
        path = prefix + fd.name
        if fd.cpp_type in _FLOAT_TYPES:
            if fd.is_repeated:
                bad.extend(f"{path}[{i}]" for i, v in enumerate(value) if not math.isfinite(v))
            elif not math.isfinite(value):
                bad.append(path)
        elif fd.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
            entry = fd.message_type
            if entry is not None and entry.GetOptions().map_entry:
                value_fd = entry.fields_by_name["value"]
                for key in value:
                    item = value[key]
                    if value_fd.cpp_type in _FLOAT_TYPES:
                        if not math.isfinite(item):
                            bad.append(f"{path}[{key!r}]")
                    elif value_fd.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
                        _collect_non_finite(item, f"{path}[{key!r}].", bad)
            elif fd.is_repeated:
                for i, item in enumerate(value):
                    _collect_non_finite(item, f"{path}[{i}].", bad)
            else:
                _collect_non_finite(value, f"{path}.", bad)


_FLOAT_TYPES = frozenset((FieldDescriptor.CPPTYPE_DOUBLE, FieldDescriptor.CPPTYPE_FLOAT))
_HAS_FLOATS: dict[str, bool] = {}
_FiniteCheck = Callable[[Any], bool]
_FINITE_CHECKS: dict[tuple[str, frozenset[str]], _FiniteCheck] = {}
_NOTHING: frozenset[str] = frozenset()


def _finite_check(descriptor: Any, skip: frozenset[str] = _NOTHING) -> _FiniteCheck:
    """The compiled :func:`all_finite` of a message type, its fields ``skip`` not read
    (cached)."""
    key = (descriptor.full_name, skip)
    check = _FINITE_CHECKS.get(key)
    if check is None:
        unknown = sorted(skip - set(descriptor.fields_by_name))
        if unknown:
            raise ValueError(f"{descriptor.full_name} has no field {', '.join(unknown)}")
        # While it compiles, a recursive type's own fields find this stand-in, which looks
        # the finished check up when called.
        _FINITE_CHECKS[key] = lambda message: _FINITE_CHECKS[key](message)
        check = _FINITE_CHECKS[key] = _compile_finite_check(descriptor, skip)
    return check


def _finite_values(values: Collection[float]) -> bool:
    # A finite sum means finite values; a sum that is not may also be finite values beyond the
    # double range together, so then each value says.
    return math.isfinite(sum(values)) or all(map(math.isfinite, values))


def _compile_finite_check(descriptor: Any, skip: frozenset[str]) -> _FiniteCheck:
    if not _has_floats(descriptor):
        return lambda _: True
    singles: list[str] = []
    parts: list[tuple[str, Callable[[Any], bool]]] = []  # (field, check of its value)
    for fd in descriptor.fields:
        if fd.name in skip:
            continue
        if fd.cpp_type in _FLOAT_TYPES and not fd.is_repeated:
            singles.append(fd.name)
        elif fd.cpp_type in _FLOAT_TYPES:
            parts.append((fd.name, _finite_values))
        elif fd.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE and _has_floats(fd.message_type):
            parts.append((fd.name, _value_check(fd)))
    read = attrgetter(*singles) if singles else None
    one = len(singles) == 1

    def check(message: Any) -> bool:
        if read is not None and not _finite_values((read(message),) if one else read(message)):
            return False
        for name, ok in parts:  # noqa: SIM110 (no generator per message: it is the hot path)
            if not ok(getattr(message, name)):
                return False
        return True

    return check


def _value_check(fd: Any) -> Callable[[Any], bool]:
    """The check of a message field's value: one message, a repeated one, or a map."""
    entry = fd.message_type
    if entry.GetOptions().map_entry:
        value_fd = entry.fields_by_name["value"]
        if value_fd.cpp_type in _FLOAT_TYPES:
            return lambda mapping: _finite_values(mapping.values())
        of_value = _finite_check(value_fd.message_type)
        return lambda mapping: all(map(of_value, mapping.values()))
    of_entry = _finite_check(entry)
    if fd.is_repeated:
        return lambda items: all(map(of_entry, items))
    return of_entry


def _has_floats(descriptor: Any, seen: frozenset[str] = frozenset()) -> bool:
    """Whether a message of this type can hold a float or double anywhere (cached)."""
    name = descriptor.full_name
    known = _HAS_FLOATS.get(name)
    if known is not None:
        return known
    if name in seen:  # a recursive type: the fields already being looked at decide
        return False
    result = False
    for fd in descriptor.fields:
        if fd.cpp_type in _FLOAT_TYPES or (
            fd.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE
            and _has_floats(fd.message_type, seen | {name})
        ):
            result = True
            break
    if not seen:  # an answer inside a recursion may be partial: only whole ones are kept
        _HAS_FLOATS[name] = result
    return result


def stream_of(env: pb.Envelope) -> Stream:
    """The stream an Envelope belongs on, from its body. Raises ``DecodeError`` if it has none."""
    body = env.WhichOneof("body")
    if body is None:
        raise DecodeError("envelope has no body", reason="no_body")
    return STREAM_OF_BODY[body]


def decode(payload: bytes) -> pb.Envelope:
    """Parse and check one payload.

    Raises ``DecodeError`` (reason ``malformed`` or ``no_body``) or ``SchemaVersionError``.
    """
    env = pb.Envelope()
    try:
        env.ParseFromString(payload)
    except (_PbDecodeError, ValueError, RuntimeError) as err:
        raise DecodeError(f"payload of {len(payload)} bytes is not an Envelope: {err}") from err
    if env.schema_version != SCHEMA_VERSION:
        raise SchemaVersionError(
            f"schema version {env.schema_version} is not supported (expected {SCHEMA_VERSION})"
        )
    stream_of(env)
    if not env.device_id:
        raise DecodeError("envelope has no device id", reason="no_device_id")
    if not env.boot_id:
        # Without a boot id, a restarted device's sequence numbers would collide with (and be
        # deduplicated against) those of its previous run.
        raise DecodeError("envelope has no boot id", reason="no_boot_id")
    return env


def check_topic(env: pb.Envelope, topic: Topic) -> None:
    """Check an Envelope against the topic it arrived on.

    Raises ``DecodeError`` with reason ``device_mismatch`` when the device ids differ (a spoofing
    attempt or a misconfigured device) and ``stream_mismatch`` when the body does not belong on
    the topic's stream.
    """
    if env.device_id != topic.device_id:
        raise DecodeError(
            f"envelope device id {env.device_id!r} disagrees with topic device {topic.device_id!r}",
            reason="device_mismatch",
        )
    body = env.WhichOneof("body")
    if body != BODY_OF_STREAM[topic.stream]:
        raise DecodeError(
            f"body {body!r} does not belong on stream {topic.stream.value!r}",
            reason="stream_mismatch",
        )


_BODY_FIELD_OF_TYPE: dict[str, str] = {
    field.message_type.full_name: field.name
    for field in pb.Envelope.DESCRIPTOR.oneofs_by_name["body"].fields
    if field.message_type is not None
}
