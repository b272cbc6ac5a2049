"""The reader of firmware_py's TOML files (box, bridge, fleet registry, HIL scenario):
``protocols.toml_table`` raising ``ConfigError``.

``read_toml`` and ``Table`` check and type every value as ``protocols.toml_table.TomlTable``
does; see there.
"""

from __future__ import annotations

from pathlib import Path

from firmware_py.errors import ConfigError
from protocols.toml_table import INT64_MAX, INT64_MIN, MAX_DEPTH, UINT32_MAX, TomlTable

__all__ = ["INT64_MAX", "INT64_MIN", "MAX_DEPTH", "UINT32_MAX", "Table", "read_toml"]


class Table(TomlTable):
    """A TOML table whose invalid values raise ``ConfigError``."""

    error_type = ConfigError


def read_toml(path: Path, what: str = "config file") -> Table:
    """Parse and check ``path``; returns its root ``Table``.

    Raises ``ConfigError`` naming the file: unreadable, not UTF-8, not TOML, or holding a value
    no config accepts.
    """
    return Table.read(path, what)
