"""Typed values from a scenario file's tables, with the checks ``Table`` lacks: names,
interface names, choices from what the file defined, files that exist, geographic points.
Each raises ``ConfigError`` (via ``Table.error``) naming the file, the key and what is valid.
"""

from __future__ import annotations

import re
from pathlib import Path

from edge.geo import GeoPoint
from firmware_py.config.reader import Table

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PLACEHOLDER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")  # string.Template's, in a box template
IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")  # Linux: IFNAMSIZ - 1, no '/' or ':'


def checked_name(t: Table, key: str) -> str:
    """A name: 1-64 characters of A-Z a-z 0-9 _ . -, not starting with . _ -."""
    value: str = t.string(key)
    if not NAME.match(value):
        raise t.error(key, value, "1-64 characters of A-Z a-z 0-9 _ . -, not starting with . _ -")
    return value


def one_of(t: Table, key: str, choices: tuple[str, ...], what: str) -> str:
    """A string from ``choices``; unlike ``Table.string``, an empty ``choices`` allows nothing."""
    value: str = t.string(key)
    if value not in choices:
        raise t.error(key, value, f"one of the {what}: {list(choices)}")
    return value


def interface_name(t: Table, key: str) -> str:
    """A network interface name: 1-15 of A-Z a-z 0-9 _ . -."""
    value: str = t.string(key)
    if not IFNAME.match(value):
        raise t.error(key, value, "a network interface name: 1-15 of A-Z a-z 0-9 _ . -")
    return value


def existing_file(t: Table, key: str, base_dir: Path) -> Path:
    """The file the value names, relative to ``base_dir``, resolved; it must exist."""
    value: str = t.string(key)
    path = base_dir / value
    try:
        path = path.resolve()
        found = path.is_file()
    except (OSError, ValueError):  # a name too long, or with a NUL byte
        found = False
    if not found:
        raise t.error(key, value, f"no such file ({path})")
    return path


def geo_point(t: Table) -> GeoPoint:
    """``latitude_deg``, ``longitude_deg`` and ``altitude_m`` (default 0) of ``t``."""
    return GeoPoint(
        t.number("latitude_deg", low=-90.0, high=90.0),
        t.number("longitude_deg", low=-180.0, high=180.0),
        t.number("altitude_m", 0.0, low=-1000.0, high=10_000.0),
    )
