"""The one TOML reader: each package's subclass raises that package's error, every value is
typed and finite, and no input makes it raise anything else."""

from __future__ import annotations

import contextlib
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.errors import ProtocolError
from protocols.toml_table import TomlTable


class PackageError(ProtocolError):
    reason = "test_package"


class Table(TomlTable):
    error_type = PackageError


def test_a_subclass_raises_its_error_and_its_tables_are_of_its_class(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('[a]\nnames = ["x", "y"]\n[[a.b]]\nn = 3\n')
    root = Table.read(path)
    a = root.table("a")
    (b,) = a.tables("b")
    assert isinstance(a, Table)
    assert isinstance(b, Table)
    assert a.strings("names") == ("x", "y")
    assert b.integer("n", low=1, high=3) == 3
    with pytest.raises(PackageError, match=r"t\.toml: a\.b\[0\]\.n = 3 is invalid: .*\[4, 9\]"):
        b.integer("n", low=4, high=9)
    with pytest.raises(PackageError, match=r"a\.names = \['x', 'y'\] is invalid: a string"):
        a.string("names")


def test_reject_unknown_lists_read_and_declared_keys() -> None:
    table = Table.document({"known": 1, "later": 2, "typo": 3}, "doc")
    assert table.integer("known") == 1
    assert table.is_table("known") is False
    with pytest.raises(PackageError) as caught:
        table.reject_unknown(("later",))
    assert str(caught.value) == ("doc: unknown key 'typo'; valid keys here: ['known', 'later']")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_anywhere(value: float) -> None:
    with pytest.raises(PackageError, match=r"doc: a\[1\]\.x = .* is invalid: expected a finite"):
        Table.document({"a": [{}, {"x": value}]}, "doc")


def test_the_base_raises_value_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("x = [\n")
    with pytest.raises(ValueError, match=r"bad\.toml: not valid TOML"):
        TomlTable.read(path)
    with pytest.raises(ValueError, match=r"cannot read config file .*missing\.toml"):
        TomlTable.read(tmp_path / "missing.toml")


@given(st.binary(max_size=200))
def test_any_bytes_give_a_table_or_the_package_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.toml"
        path.write_bytes(data)
        try:
            root = Table.read(path)
        except PackageError:
            return
        for key, _ in root.items():
            with contextlib.suppress(PackageError):
                root.number(key)
