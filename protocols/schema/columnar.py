"""A repeated message field encoded from numpy columns, one fixed-width record per row.

Setting a message's fields one by one through protobuf's Python API costs about 70 ns a
field; a fused list of 256 objects with 22 numbers each spent most of its emit time there.
protobuf has no columnar encoder, so this one writes the wire format itself, for the few
field types it needs, and hands the bytes to protobuf's own parser: the message the caller
gets is protobuf's, and what is published is protobuf's serialization of it.

Every listed field is written in every row, so a row has one layout: a double is its tag and
8 bytes, even at 0.0 (proto3 leaves zeros out; a parser reads them all the same), and a
varint is padded to its type's full width with continuation bytes (10 bytes for int32,
int64, uint64 and enums, 5 for uint32, 1 for bool), which parsers accept and protobuf's
serializer writes back minimal. A submessage with any field listed is written, as setting one
of its fields marks it present. Strings, bytes, floats, zigzag, repeated and oneof fields are
not supported: set those on the parsed message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from google.protobuf.descriptor import Descriptor, FieldDescriptor

_WIRE_VARINT = 0
_WIRE_FIXED64 = 1
_WIRE_LENGTH = 2
_VARINT_WIDTH = {
    FieldDescriptor.TYPE_BOOL: 1,
    FieldDescriptor.TYPE_UINT32: 5,
    FieldDescriptor.TYPE_UINT64: 10,
    FieldDescriptor.TYPE_INT32: 10,  # a negative int32 is sign-extended to 64 bits
    FieldDescriptor.TYPE_INT64: 10,
    FieldDescriptor.TYPE_ENUM: 10,
}


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


@dataclass(frozen=True, slots=True)
class _Slot:
    """Where one listed field's value sits in the record, and how it is encoded."""

    path: str
    offset: int
    kind: int  # FieldDescriptor.TYPE_DOUBLE or a key of _VARINT_WIDTH
    width: int


class RepeatedColumns:
    """Encodes rows given as columns into the bytes of one repeated message field.

    ``RepeatedColumns(pb.ObjectList.DESCRIPTOR, "objects", ["x_m", "position.latitude_deg"])``
    names the fields by dotted path; ``encode(n, columns)`` returns bytes that, appended to a
    serialized ``ObjectList``, add ``n`` objects to it (protobuf merges repeated fields by
    appending).

    Raises (constructor):
        ValueError: a field or submessage name the message does not have.
        TypeError: a field of a type this encoder does not write, or a repeated field.
    """

    def __init__(self, parent: Descriptor, field: str, paths: Sequence[str]) -> None:
        outer = parent.fields_by_name[field]
        if outer.message_type is None or not outer.is_repeated:
            raise TypeError(f"{parent.full_name}.{field} is not a repeated message field")
        tree = _path_tree(outer.message_type, paths)
        slots: list[_Slot] = []
        body = _layout(outer.message_type, tree, "", slots, 0)
        prefix = _tag(outer.number, _WIRE_LENGTH) + _varint(len(body))
        self._slots = tuple(_Slot(s.path, s.offset + len(prefix), s.kind, s.width) for s in slots)
        self._template = np.frombuffer(prefix + body, dtype=np.uint8)
        self._dtype = np.dtype(
            {
                "names": [s.path for s in self._slots],
                "formats": [
                    "<f8" if s.kind == FieldDescriptor.TYPE_DOUBLE else ("u1", (s.width,))
                    for s in self._slots
                ],
                "offsets": [s.offset for s in self._slots],
                "itemsize": len(self._template),
            }
        )
        self._shifts = np.arange(10, dtype=np.uint64) * np.uint64(7)

    @property
    def paths(self) -> tuple[str, ...]:
        """The fields every row carries, in wire order."""
        return tuple(s.path for s in self._slots)

    @property
    def row_size(self) -> int:
        """Bytes per row on the wire (tag and length included)."""
        return len(self._template)

    def finite_rows(self, n: int, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Which of ``n`` rows hold only finite values in their double fields (bool[n]).

        Raises ``KeyError`` when a listed double field has no column, ``ValueError`` when a
        column's length is not ``n``.
        """
        doubles = [columns[s.path] for s in self._slots if s.kind == FieldDescriptor.TYPE_DOUBLE]
        if not doubles:
            return np.ones(n, dtype=bool)
        with np.errstate(invalid="ignore"):  # an object column's None: not finite
            stacked = np.array(doubles, dtype=np.float64).reshape(len(doubles), n)
        finite: np.ndarray = np.logical_and.reduce(np.isfinite(stacked), axis=0)
        return finite

    def encode(self, n: int, columns: Mapping[str, np.ndarray]) -> bytes:
        """The wire bytes of ``n`` rows: ``columns[path]`` holds each field's ``n`` values.

        Raises:
            KeyError: a listed field has no column.
            ValueError: a column's length is not ``n``, or a uint32 value is out of range
                (a uint64 column is taken modulo 2**64, as numpy casts it).
        """
        raw = np.empty((n, len(self._template)), dtype=np.uint8)
        raw[:] = self._template
        rows = raw.view(self._dtype).reshape(n)
        for slot in self._slots:
            column = np.asarray(columns[slot.path])
            if column.shape != (n,):
                raise ValueError(f"column {slot.path!r} has shape {column.shape}, not ({n},)")
            if slot.kind == FieldDescriptor.TYPE_DOUBLE:
                rows[slot.path] = column
            else:
                rows[slot.path] = self._varints(slot, column)
        return raw.tobytes()

    def _varints(self, slot: _Slot, column: np.ndarray) -> np.ndarray:
        if slot.kind == FieldDescriptor.TYPE_BOOL:
            return column.astype(bool).astype(np.uint8).reshape(-1, 1)
        # A negative integer becomes its 64-bit two's complement, as protobuf encodes it.
        values = column.astype(np.uint64)
        if slot.kind == FieldDescriptor.TYPE_UINT32 and (
            (values >> np.uint64(32)).any() or (column.dtype.kind == "i" and (column < 0).any())
        ):
            raise ValueError(f"column {slot.path!r} holds a value outside uint32")
        groups = (values[:, None] >> self._shifts[: slot.width]) & np.uint64(0x7F)
        groups[:, :-1] |= np.uint64(0x80)
        return groups.astype(np.uint8)


def _path_tree(message: Descriptor, paths: Sequence[str]) -> dict[str, object]:
    """Dotted paths as nested dicts, each name checked against the message."""
    tree: dict[str, object] = {}
    for path in paths:
        node, descriptor = tree, message
        *parents, leaf = path.split(".")
        for name in parents:
            field = _field(descriptor, name)
            if field.message_type is None or field.is_repeated:
                raise TypeError(f"{descriptor.full_name}.{name} is not a singular message")
            child = node.setdefault(name, {})
            assert isinstance(child, dict)
            node, descriptor = child, field.message_type
        _field(descriptor, leaf)
        node[leaf] = None
    return tree


def _field(message: Descriptor, name: str) -> FieldDescriptor:
    try:
        return message.fields_by_name[name]
    except KeyError:
        raise ValueError(f"{message.full_name} has no field {name!r}") from None


def _layout(
    message: Descriptor, tree: dict[str, object], prefix: str, slots: list[_Slot], at: int
) -> bytes:
    """The record of ``message`` with ``tree``'s fields in field-number order, starting at
    byte ``at`` of the row; each value's place is appended to ``slots``."""
    out = bytearray()
    for field in sorted((message.fields_by_name[n] for n in tree), key=lambda f: f.number):
        path = prefix + field.name
        child = tree[field.name]
        if field.is_repeated or field.containing_oneof is not None:
            raise TypeError(f"{message.full_name}.{field.name} is repeated or in a oneof")
        if isinstance(child, dict):
            assert field.message_type is not None  # _path_tree made dicts of messages only
            inner_slots: list[_Slot] = []
            inner = _layout(field.message_type, child, path + ".", inner_slots, 0)
            head = _tag(field.number, _WIRE_LENGTH) + _varint(len(inner))
            start = at + len(out) + len(head)
            slots.extend(_Slot(s.path, s.offset + start, s.kind, s.width) for s in inner_slots)
            out += head + inner
        elif field.type == FieldDescriptor.TYPE_DOUBLE:
            out += _tag(field.number, _WIRE_FIXED64)
            slots.append(_Slot(path, at + len(out), field.type, 8))
            out += bytes(8)
        elif field.type in _VARINT_WIDTH:
            width = _VARINT_WIDTH[field.type]
            out += _tag(field.number, _WIRE_VARINT)
            slots.append(_Slot(path, at + len(out), field.type, width))
            out += bytes(width)
        else:
            raise TypeError(f"{message.full_name}.{field.name}: type {field.type} not supported")
    return bytes(out)
