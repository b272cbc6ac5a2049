"""``RepeatedColumns``: rows encoded from columns parse as the same messages protobuf builds
field by field, for every field type it writes, at every value's edge."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from protocols.envelope import non_finite_fields
from protocols.schema.columnar import RepeatedColumns

_F = descriptor_pb2.FieldDescriptorProto


def _schema() -> tuple[Any, Any]:
    """A test schema with one field of each kind, so that no type goes untested."""
    file = descriptor_pb2.FileDescriptorProto(
        name="columnar_test.proto", package="columnar_test", syntax="proto3"
    )
    file.enum_type.add(name="Kind").value.extend(
        [
            descriptor_pb2.EnumValueDescriptorProto(name="KIND_UNKNOWN", number=0),
            descriptor_pb2.EnumValueDescriptorProto(name="KIND_CAR", number=3),
        ]
    )
    inner = file.message_type.add(name="Inner")
    inner.field.add(name="x", number=1, type=_F.TYPE_DOUBLE, label=_F.LABEL_OPTIONAL)
    inner.field.add(name="y", number=20, type=_F.TYPE_INT32, label=_F.LABEL_OPTIONAL)
    row = file.message_type.add(name="Row")
    scalars = [
        ("a", 1, _F.TYPE_INT32),
        ("b", 2, _F.TYPE_INT64),
        ("c", 3, _F.TYPE_UINT32),
        ("d", 4, _F.TYPE_UINT64),
        ("e", 5, _F.TYPE_BOOL),
        ("g", 7, _F.TYPE_DOUBLE),
        ("s", 9, _F.TYPE_STRING),
        ("fl", 10, _F.TYPE_FLOAT),
        ("z", 11, _F.TYPE_SINT32),
        ("late", 300, _F.TYPE_DOUBLE),  # a two-byte tag
    ]
    for name, number, kind in scalars:
        row.field.add(name=name, number=number, type=kind, label=_F.LABEL_OPTIONAL)
    row.field.add(
        name="f", number=6, type=_F.TYPE_ENUM, type_name=".columnar_test.Kind",
        label=_F.LABEL_OPTIONAL,
    )  # fmt: skip
    row.field.add(
        name="h", number=8, type=_F.TYPE_MESSAGE, type_name=".columnar_test.Inner",
        label=_F.LABEL_OPTIONAL,
    )  # fmt: skip
    row.field.add(name="r", number=12, type=_F.TYPE_INT32, label=_F.LABEL_REPEATED)
    row.oneof_decl.add(name="choice")
    row.field.add(name="o", number=13, type=_F.TYPE_DOUBLE, label=_F.LABEL_OPTIONAL, oneof_index=0)
    table = file.message_type.add(name="Table")
    table.field.add(name="name", number=1, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    table.field.add(
        name="rows", number=2, type=_F.TYPE_MESSAGE, type_name=".columnar_test.Row",
        label=_F.LABEL_REPEATED,
    )  # fmt: skip
    table.field.add(
        name="one", number=3, type=_F.TYPE_MESSAGE, type_name=".columnar_test.Row",
        label=_F.LABEL_OPTIONAL,
    )  # fmt: skip
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName("columnar_test.Table")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName("columnar_test.Row")),
    )


TABLE, ROW = _schema()  # classes made at run time: Any to the type checker
PATHS = ("late", "g", "h.y", "a", "b", "c", "d", "e", "f", "h.x")
ENCODER = RepeatedColumns(TABLE.DESCRIPTOR, "rows", PATHS)

_doubles = hnp.from_dtype(np.dtype(np.float64), allow_nan=True, allow_infinity=True)
_COLUMNS: dict[str, Any] = {
    "late": _doubles,
    "g": _doubles,
    "h.x": _doubles,
    "h.y": st.integers(-(2**31), 2**31 - 1),
    "a": st.integers(-(2**31), 2**31 - 1),
    "b": st.integers(-(2**63), 2**63 - 1),
    "c": st.integers(0, 2**32 - 1),
    "d": st.integers(0, 2**64 - 1),
    "e": st.booleans(),
    "f": st.sampled_from([0, 3, 7, -1, 2**31 - 1]),  # proto3 enums are open
}
_DTYPES = {"d": np.uint64, "e": np.bool_, "late": np.float64, "g": np.float64, "h.x": np.float64}


def _by_hand(rows: list[dict[str, Any]]) -> Any:
    """The reference: each field of each row set through protobuf's own API."""
    table = TABLE(name="t")
    for values in rows:
        row = table.rows.add()
        for path, value in values.items():
            *parents, leaf = path.split(".")
            target = row
            for name in parents:
                target = getattr(target, name)
            setattr(target, leaf, value.item() if isinstance(value, np.generic) else value)
    return table


def _columns(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    return {p: np.array([r[p] for r in rows], dtype=_DTYPES.get(p, np.int64)) for p in PATHS}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.fixed_dictionaries(_COLUMNS), max_size=20))
def test_rows_from_columns_parse_as_the_rows_set_field_by_field(rows: list[dict[str, Any]]) -> None:
    table = TABLE(name="t")
    table.MergeFromString(ENCODER.encode(len(rows), _columns(rows)))
    expected = _by_hand(rows)
    # Bytes, not ==: a NaN is not equal to itself, its serialization is.
    assert table.SerializeToString(deterministic=True) == expected.SerializeToString(
        deterministic=True
    )
    assert len(table.rows) == len(rows)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.fixed_dictionaries(_COLUMNS), max_size=20))
def test_finite_rows_are_those_whose_doubles_the_walk_finds_finite(
    rows: list[dict[str, Any]],
) -> None:
    table = _by_hand(rows)
    finite = ENCODER.finite_rows(len(rows), _columns(rows))
    assert finite.tolist() == [non_finite_fields(row) == [] for row in table.rows]


def test_rows_follow_what_the_message_already_holds() -> None:
    rows = [dict.fromkeys(PATHS, 1) for _ in range(3)]
    table = TABLE(name="t")
    table.rows.add(s="kept")
    table.MergeFromString(ENCODER.encode(3, _columns(rows)))
    assert [r.s for r in table.rows] == ["kept", "", "", ""]
    assert [r.c for r in table.rows] == [0, 1, 1, 1]
    assert table.name == "t"


def test_a_row_is_as_long_as_announced_and_fields_go_in_wire_order() -> None:
    assert len(ENCODER.encode(2, _columns([dict.fromkeys(PATHS, 0)] * 2))) == 2 * ENCODER.row_size
    assert ENCODER.paths == ("a", "b", "c", "d", "e", "f", "g", "h.x", "h.y", "late")
    assert ENCODER.encode(0, _columns([])) == b""


def test_a_submessage_with_only_zeros_is_present_as_when_set_by_hand() -> None:
    table = TABLE()
    table.MergeFromString(ENCODER.encode(1, _columns([dict.fromkeys(PATHS, 0)])))
    assert table.rows[0].HasField("h")


@pytest.mark.parametrize(
    ("field", "paths", "error", "says"),
    [
        ("one", ["a"], TypeError, "not a repeated message field"),
        ("name", ["a"], TypeError, "not a repeated message field"),
        ("rows", ["s"], TypeError, "not supported"),
        ("rows", ["fl"], TypeError, "not supported"),
        ("rows", ["z"], TypeError, "not supported"),
        ("rows", ["r"], TypeError, "repeated or in a oneof"),
        ("rows", ["o"], TypeError, "repeated or in a oneof"),
        ("rows", ["g.x"], TypeError, "not a singular message"),
        ("rows", ["nope"], ValueError, "Row has no field 'nope'"),
        ("rows", ["h.nope"], ValueError, "Inner has no field 'nope'"),
        ("rows", ["q.x"], ValueError, "Row has no field 'q'"),
    ],
)
def test_what_it_cannot_write_is_refused_when_built(
    field: str, paths: list[str], error: type[Exception], says: str
) -> None:
    with pytest.raises(error, match=says):
        RepeatedColumns(TABLE.DESCRIPTOR, field, paths)


def test_bad_columns_are_refused_with_the_field_named() -> None:
    good = _columns([dict.fromkeys(PATHS, 1)] * 2)
    with pytest.raises(ValueError, match="'c' holds a value outside uint32"):
        ENCODER.encode(2, {**good, "c": np.array([1, 2**32])})
    with pytest.raises(ValueError, match="'c' holds a value outside uint32"):
        ENCODER.encode(2, {**good, "c": np.array([-1, 1])})
    with pytest.raises(ValueError, match=r"'g' has shape \(3,\), not \(2,\)"):
        ENCODER.encode(2, {**good, "g": np.zeros(3)})
    with pytest.raises(KeyError, match=r"'h\.x'"):
        ENCODER.encode(2, {p: c for p, c in good.items() if p != "h.x"})
