"""What a config file is, from its content: a box's (``[device]``), the bridge's
(``[bridge]``), an intersection description (``[[approach]]``, which a roadside config names),
or a template whose ``$placeholders`` a tool fills in (the HIL bench's)."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

from firmware_py.config.reader import read_toml
from firmware_py.errors import ConfigError

# string.Template's placeholders, $name or ${name}, standing alone: after "=", "[", ",", "{",
# a space or a quote and before a quote, a space, ",", "]", "}" or the end (so that a password
# "pa$word" is no placeholder).
_PLACEHOLDER = re.compile(
    r"(?:(?<=[=\[,{\s\"'])|^)\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?(?=[\"'\s,\]}]|$)"
)


class ConfigKind(StrEnum):
    BOX = "box"
    BRIDGE = "bridge"
    INTERSECTION = "intersection"
    TEMPLATE = "template"


def placeholders(text: str) -> list[str]:
    """The ``$placeholders`` of a config file's text, in order, without repeats; comments
    (from a ``#`` outside a string, roughly: the rest of a line) are skipped."""
    found: dict[str, None] = {}
    for line in text.splitlines():
        for name in _PLACEHOLDER.findall(_without_comment(line)):
            found.setdefault(name, None)
    return list(found)


def config_kind(path: Path) -> ConfigKind:
    """Which config ``path`` holds. Raises ``ConfigError`` (naming the file, as the loader
    does) for a file that cannot be read or parsed and is no template, or that is neither a
    box config nor a bridge config nor an intersection description."""
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        text = ""  # read_toml says what is wrong with the file
    if placeholders(text):
        return ConfigKind.TEMPLATE
    root = read_toml(path)
    if root.has("bridge"):
        return ConfigKind.BRIDGE
    if root.has("device"):
        return ConfigKind.BOX
    if root.has("approach"):
        return ConfigKind.INTERSECTION
    raise ConfigError(
        f"{path}: neither a box config (a [device] table) nor a bridge config (a [bridge] table)"
    )


def _without_comment(line: str) -> str:
    quote: str | None = None
    for i, char in enumerate(line):
        if quote is None and char == "#":
            return line[:i]
        if char in "\"'":
            quote = None if quote == char else (char if quote is None else quote)
    return line
