"""Typed access to a parsed TOML table, with errors that name the key, the value and the fix."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from firmware_py.errors import ConfigError

T = TypeVar("T")
_MISSING = object()


class Table:
    """One TOML table and its dotted path, for error messages."""

    def __init__(self, data: Mapping[str, Any], path: str, source: str) -> None:
        self._data = data
        self.path = path
        self.source = source
        self._read: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, value: object, expected: str) -> ConfigError:
        return ConfigError(f"{self.source}: {self._key(key)} = {value!r} is invalid: {expected}")

    def has(self, key: str) -> bool:
        return key in self._data

    def _get(self, key: str, default: object) -> object:
        self._read.add(key)
        if key not in self._data:
            if default is _MISSING:
                raise ConfigError(f"{self.source}: {self._key(key)} is required")
            return default
        return self._data[key]

    def string(self, key: str, default: Any = _MISSING, *, choices: Iterable[str] = ()) -> Any:
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value
        allowed = tuple(choices)
        if not isinstance(value, str) or (allowed and value not in allowed):
            raise self.error(key, value, f"expected one of {allowed}" if allowed else "a string")
        return value

    def integer(
        self, key: str, default: Any = _MISSING, *, low: int | None = None, high: int | None = None
    ) -> Any:
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, value, "expected an integer")
        if (low is not None and value < low) or (high is not None and value > high):
            raise self.error(key, value, f"expected an integer in [{low}, {high}]")
        return value

    def number(
        self,
        key: str,
        default: Any = _MISSING,
        *,
        low: float | None = None,
        high: float | None = None,
    ) -> Any:
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, value, "expected a number")
        if (low is not None and value < low) or (high is not None and value > high):
            raise self.error(key, value, f"expected a number in [{low}, {high}]")
        return float(value)

    def boolean(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, value, "expected true or false")
        return value

    def table(self, key: str, *, required: bool = False) -> Table:
        value = self._get(key, _MISSING if required else {})
        if not isinstance(value, dict):
            raise self.error(key, value, "expected a table")
        return Table(value, self._key(key), self.source)

    def tables(self, key: str) -> list[Table]:
        value = self._get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.error(key, value, f"expected an array of tables ([[{self._key(key)}]])")
        return [Table(v, f"{self._key(key)}[{i}]", self.source) for i, v in enumerate(value)]

    def items(self) -> list[tuple[str, Any]]:
        self._read.update(self._data)
        return list(self._data.items())

    def convert(self, key: str, fn: Callable[[Any], T], expected: str) -> T:
        """Apply ``fn`` to the value; a ``ValueError``/``TypeError`` becomes a ``ConfigError``."""
        value = self._get(key, _MISSING)
        try:
            return fn(value)
        except (ValueError, TypeError) as err:
            raise self.error(key, value, f"{expected} ({err})") from err

    def reject_unknown(self) -> None:
        """Refuse keys nobody read: a typo must not be silently ignored."""
        unknown = sorted(set(self._data) - self._read)
        if unknown:
            raise ConfigError(
                f"{self.source}: unknown key {self._key(unknown[0])!r}; "
                f"valid keys here: {sorted(self._read)}"
            )
