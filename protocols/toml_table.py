"""The one reader of TOML files of ours (box, bridge and HIL configs, board profiles, radar
definitions, VSS mappings): typed values, and errors that name the file, the key, the value and
what is valid, on one line.

A leaf module: it imports nothing of ours, so every package may use it (the dependency test
lists it in ``LEAF_MODULES``). Each package subclasses ``TomlTable`` and sets ``error_type`` to
its own error (``ConfigError``, ``ProfileError``, ``RadarDefinitionError``,
``VssMappingError``), so every error raised while reading is already of that package's tree.

``TomlTable.read`` refuses what no key of ours accepts before any key is read: NaN and infinity
(NaN passes every ``<``/``>`` bound), integers outside int64 (TOML's own limit), nesting deeper
than ``MAX_DEPTH``. The table then reads each key as the type asked for, within bounds.
"""

from __future__ import annotations

import codecs
import enum
import math
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar, overload

T = TypeVar("T")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UINT32_MAX = 2**32 - 1
MAX_DEPTH = 32
"""Tables and arrays nested deeper than this are refused (no config of ours nests past 6)."""
MAX_PATH_BYTES = 4095  # Linux PATH_MAX - 1
MAX_NAME_BYTES = 255  # Linux NAME_MAX: one path component
_SHOWN = 60  # characters of a value quoted in an error message
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class _Missing(enum.Enum):
    MISSING = enum.auto()


_MISSING = _Missing.MISSING


def _show(value: object) -> str:
    """``value`` for an error message: its repr (which escapes newlines), at most ~60 chars."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return f"<an integer of {value.bit_length()} bits>"  # str() refuses 4,300+ digits
    try:
        text = repr(value)
    except (RecursionError, ValueError):
        text = f"<a {type(value).__name__}>"
    return _cut(text)


def _cut(text: str) -> str:
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _one_line(text: str) -> str:
    return " ".join(text.split()) if not text.isprintable() else text


def _source(source: str | Path) -> str:
    """A file name for an error message: as is, unless it holds a control character."""
    text = str(source)
    return text if text.isprintable() else repr(text)


def _key_name(key: str) -> str:
    """A key as TOML writes it: bare if it can be, else quoted (escaping any control character)."""
    return _cut(key if _BARE_KEY.match(key) else repr(key))


def _number(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _bounds(kind: str, low: float | None, high: float | None, above: float | None) -> str:
    """``kind`` and its range: "in [1, 65535]", ">= 0.1", "> 0 and <= 100"."""
    if low is not None and high is not None and above is None:
        return f"{kind} in [{_number(low)}, {_number(high)}]"
    parts = [
        f"{op} {_number(bound)}"
        for op, bound in ((">", above), (">=", low), ("<=", high))
        if bound is not None
    ]
    return f"{kind} {' and '.join(parts)}" if parts else kind


def _check_values(data: Mapping[str, Any], source: str, error: type[Exception]) -> None:
    """Refuse NaN, infinity, integers outside int64 and deep nesting anywhere in ``data``."""
    # Iterative: a document built in code may be nested deeper than Python's recursion limit.
    stack: list[tuple[str, object, int]] = [("", data, 0)]
    while stack:
        where, value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise error(
                    f"{_source(source)}: {where} is nested more than {MAX_DEPTH} levels deep"
                )
            children = (
                (
                    (f"{where}.{_key_name(k)}" if where else _key_name(k), v)
                    for k, v in value.items()
                )
                if isinstance(value, dict)
                else ((f"{where}[{i}]", v) for i, v in enumerate(value))
            )
            stack.extend((w, v, depth + 1) for w, v in children)
        elif isinstance(value, float) and not math.isfinite(value):
            raise error(
                f"{_source(source)}: {where} = {value!r} is invalid: expected a finite number"
            )
        elif isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            raise error(
                f"{_source(source)}: {where} = {_show(value)} is invalid: "
                "expected an integer that fits 64 bits"
            )


class TomlTable:
    """One TOML table and its dotted path, for error messages.

    Each reader method takes the key and an optional default (without one the key is
    required), returns the value typed and raises ``error_type`` naming the file, the key, the
    value and what is valid. ``reject_unknown`` then refuses every key nobody read. Subclasses
    set ``error_type`` to their package's error; tables read from one are of its class.
    """

    error_type: ClassVar[type[Exception]] = ValueError
    """The error raised for an invalid file: called with the message alone."""

    def __init__(self, data: Mapping[str, Any], path: str, source: str) -> None:
        self._data = data
        self.path = path
        self.source = source
        self._read: set[str] = set()

    @classmethod
    def read(cls, path: Path, what: str = "config file") -> Self:
        """Parse and check the file at ``path``; returns its root table.

        Raises ``error_type`` naming the file: unreadable, not UTF-8, not TOML, or holding a
        value no file of ours accepts (see the module docstring).
        """
        error = cls.error_type
        try:
            with path.open("rb") as f:
                data = tomllib.load(f)
        except OSError as err:
            raise error(f"cannot read {what} {_source(path)}: {err.strerror or err}") from err
        except tomllib.TOMLDecodeError as err:
            raise error(f"{_source(path)}: not valid TOML: {err}") from err
        except UnicodeDecodeError as err:
            raise error(f"{_source(path)}: not UTF-8 text (TOML must be): {err}") from err
        except RecursionError as err:
            raise error(f"{_source(path)}: arrays or tables nested too deeply") from err
        except ValueError as err:  # an integer of more than 4,300 digits (sys.int_info)
            raise error(f"{_source(path)}: not valid TOML: {err}") from err
        return cls.document(data, str(path))

    @classmethod
    def document(cls, data: Mapping[str, Any], source: str) -> Self:
        """The root table of a parsed document, checked as ``read`` checks a file."""
        _check_values(data, source, cls.error_type)
        return cls(data, "", source)

    def _key(self, key: str) -> str:
        return f"{self.path}.{_key_name(key)}" if self.path else _key_name(key)

    def error(self, key: str, value: object, expected: str) -> Exception:
        """The error for ``key = value``; ``expected`` says what would be valid."""
        return self.error_type(
            f"{_source(self.source)}: {self._key(key)} = {_show(value)} is invalid: {expected}"
        )

    def has(self, key: str) -> bool:
        return key in self._data

    def _get(self, key: str, default: object) -> object:
        self._read.add(key)
        if key not in self._data:
            if default is _MISSING:
                raise self.error_type(f"{_source(self.source)}: {self._key(key)} is required")
            return default
        return self._data[key]

    @overload
    def string(self, key: str, default: None, *, choices: Iterable[str] = ...) -> str | None: ...
    @overload
    def string(
        self, key: str, default: str | _Missing = ..., *, choices: Iterable[str] = ...
    ) -> str: ...
    def string(
        self, key: str, default: str | _Missing | None = _MISSING, *, choices: Iterable[str] = ()
    ) -> str | None:
        """A string; one of ``choices`` if given."""
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return default
        allowed = tuple(choices)
        if not isinstance(value, str) or (allowed and value not in allowed):
            raise self.error(key, value, f"expected one of {allowed}" if allowed else "a string")
        return value

    def text(self, key: str, default: str | _Missing = _MISSING, *, what: str) -> str:
        """A non-empty string without control characters (a host, a device, an interface)."""
        value = self.string(key, default)
        if not value or not value.isprintable() or value != value.strip():
            raise self.error(key, value, f"{what}: not empty, no control characters or spaces")
        return value

    @overload
    def integer(
        self, key: str, default: None, *, low: int | None = ..., high: int | None = ...
    ) -> int | None: ...
    @overload
    def integer(
        self,
        key: str,
        default: int | _Missing = ...,
        *,
        low: int | None = ...,
        high: int | None = ...,
    ) -> int: ...
    def integer(
        self,
        key: str,
        default: int | _Missing | None = _MISSING,
        *,
        low: int | None = None,
        high: int | None = None,
    ) -> int | None:
        """An integer in [``low``, ``high``] (each bound optional; always within int64)."""
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, value, _bounds("expected an integer", low, high, None))
        lowest = INT64_MIN if low is None else low
        highest = INT64_MAX if high is None else high
        if not lowest <= value <= highest:
            raise self.error(key, value, _bounds("expected an integer", low, high, None))
        return value

    @overload
    def number(
        self,
        key: str,
        default: None,
        *,
        low: float | None = ...,
        high: float | None = ...,
        above: float | None = ...,
    ) -> float | None: ...
    @overload
    def number(
        self,
        key: str,
        default: float | _Missing = ...,
        *,
        low: float | None = ...,
        high: float | None = ...,
        above: float | None = ...,
    ) -> float: ...
    def number(
        self,
        key: str,
        default: float | _Missing | None = _MISSING,
        *,
        low: float | None = None,
        high: float | None = None,
        above: float | None = None,
    ) -> float | None:
        """A finite number (an integer is taken as a float) in [``low``, ``high``] and above
        ``above`` (each bound optional)."""
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return default
        expected = _bounds("expected a finite number", low, high, above)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, value, expected)
        # NaN passes every comparison, and a huge integer has no float: test both first.
        if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            raise self.error(key, value, expected)
        number = float(value)
        if (
            not math.isfinite(number)
            or (low is not None and number < low)
            or (high is not None and number > high)
            or (above is not None and number <= above)
        ):
            raise self.error(key, value, expected)
        return number

    def boolean(self, key: str, default: bool | _Missing = _MISSING) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, value, "expected true or false")
        return value

    def encoding(self, key: str) -> str | None:
        """A text encoding Python knows (``codecs.lookup``), or None when the key is absent."""
        value = self.string(key, None)
        if value is None:
            return None
        try:
            codecs.lookup(value)
            # base64, rot13: codecs, but not text encodings; "undefined" refuses everything.
            "a".encode(value)
        except (LookupError, UnicodeError) as err:
            raise self.error(key, value, "a text encoding such as utf-8 or cp1252") from err
        return value

    def file_path(self, key: str, default: str | _Missing = _MISSING, *, base_dir: Path) -> Path:
        """A path: ``~`` expanded, relative to ``base_dir`` unless absolute; not checked to
        exist, but one the OS could open (no NUL byte, within PATH_MAX and NAME_MAX)."""
        value = self.string(key, default)
        valid = "a file path (~ or ~user expand, relative paths start at the config's folder)"
        if not value or "\0" in value:
            raise self.error(key, value, valid)
        try:
            path = Path(value).expanduser()
        except RuntimeError as err:  # ~nosuchuser, or ~ with no home
            user = value.split("/")[0]
            raise self.error(key, value, f"{valid}; {user}: no such home directory") from err
        path = path if path.is_absolute() else base_dir / path
        encoded = os.fsencode(path)
        if len(encoded) > MAX_PATH_BYTES or any(
            len(part) > MAX_NAME_BYTES for part in encoded.split(b"/")
        ):
            raise self.error(key, value, f"{valid}; too long for the file system")
        return path

    def existing_file(self, key: str, *, base_dir: Path) -> Path | None:
        """``file_path`` of a file that exists, or None when the key is absent."""
        if not self.has(key):
            self._read.add(key)
            return None
        path = self.file_path(key, base_dir=base_dir)
        try:
            found = path.is_file()
        except OSError:
            found = False
        if not found:
            raise self.error(key, self._data[key], f"no such file ({_source(path)})")
        return path

    def strings(self, key: str, default: tuple[str, ...] | _Missing = _MISSING) -> tuple[str, ...]:
        """An array of strings."""
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return default
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, value, "expected an array of strings")
        return tuple(value)

    def is_table(self, key: str) -> bool:
        """Whether ``key`` holds a table (a key that takes a name or a table, say)."""
        return isinstance(self._data.get(key), dict)

    def table(self, key: str, *, required: bool = False) -> Self:
        value = self._get(key, _MISSING if required else {})
        if not isinstance(value, dict):
            raise self.error(key, value, "expected a table")
        return type(self)(value, self._key(key), self.source)

    def tables(self, key: str) -> list[Self]:
        value = self._get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.error(key, value, f"expected an array of tables ([[{self._key(key)}]])")
        return [type(self)(v, f"{self._key(key)}[{i}]", self.source) for i, v in enumerate(value)]

    def items(self) -> list[tuple[str, Any]]:
        self._read.update(self._data)
        return list(self._data.items())

    def convert(self, key: str, fn: Callable[[Any], T], expected: str) -> T:
        """Apply ``fn`` to the value; a ``ValueError``/``TypeError`` becomes ``error_type``."""
        value = self._get(key, _MISSING)
        try:
            return fn(value)
        except (ValueError, TypeError) as err:
            raise self.error(key, value, f"{expected} ({_one_line(str(err))})") from err

    def reject_unknown(self, valid: Iterable[str] = ()) -> None:
        """Refuse keys nobody read and not in ``valid``: a typo must not be silently ignored."""
        self._read.update(valid)
        unknown = sorted(set(self._data) - self._read)
        if unknown:
            raise self.error_type(
                f"{_source(self.source)}: unknown key '{self._key(unknown[0])}'; "
                f"valid keys here: {sorted(self._read)}"
            )
