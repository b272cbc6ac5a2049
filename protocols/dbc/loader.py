"""Load a DBC file with cantools, relaxing cantools' strict checks only when needed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cantools
from cantools.database.can import Database
from cantools.database.errors import UnsupportedDatabaseFormatError

from protocols.errors import DbcLoadError

_ENCODINGS = ("utf-8", "cp1252")
"""Tried in order when no encoding is given: vendor DBC files are very often cp1252."""


@dataclass(frozen=True)
class LoadedDbc:
    """A loaded database and what had to be relaxed to load it.

    ``relaxations`` holds the strict-mode error texts that ``strict=False`` let through (for
    example overlapping signals); empty when the file loaded strictly.
    """

    database: Database
    relaxations: tuple[str, ...] = ()


def load_dbc(path: str | Path, encoding: str | None = None) -> LoadedDbc:
    """Load the DBC file at ``path`` with cantools.

    Loads strictly first and falls back to ``strict=False``, recording the strict error in
    ``LoadedDbc.relaxations``. ``encoding=None`` tries utf-8, then cp1252.

    Raises ``DbcLoadError`` when the file cannot be read or decoded, or cantools cannot load it
    even relaxed; the message names the file, the cause and, when cantools knows it, the line.
    Raises ``ValueError`` for an unknown encoding name.
    """
    path = Path(path)
    text = _read_text(path, encoding)
    try:
        return LoadedDbc(_load(text, strict=True))
    except UnsupportedDatabaseFormatError as strict_err:
        relaxation = _describe(strict_err)
    try:
        return LoadedDbc(_load(text, strict=False), (relaxation,))
    except UnsupportedDatabaseFormatError as err:
        raise DbcLoadError(f"{path}: cantools cannot load it: {_describe(err)}") from err


def _read_text(path: Path, encoding: str | None) -> str:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DbcLoadError(f"{path}: cannot read: {err}") from err
    errors: list[str] = []
    for candidate in (encoding,) if encoding is not None else _ENCODINGS:
        try:
            return raw.decode(candidate)
        except LookupError:
            raise ValueError(f"unknown text encoding {candidate!r}") from None
        except UnicodeDecodeError as err:
            errors.append(f"{candidate}: {err}")
    raise DbcLoadError(f"{path}: cannot decode text ({'; '.join(errors)})")


def _load(text: str, *, strict: bool) -> Database:
    db = cantools.database.load_string(text, database_format="dbc", strict=strict)
    if not isinstance(db, Database):  # load_string's type also admits diagnostics databases
        raise TypeError(f"cantools returned {type(db).__name__}, not a CAN database")
    return db


def _describe(err: UnsupportedDatabaseFormatError) -> str:
    """The DBC parser's own error text, with its line number when it has one."""
    cause = err.e_dbc if err.e_dbc is not None else err
    line = getattr(cause, "line", None)
    text = str(cause)
    if isinstance(line, int) and f"line {line}" not in text:
        text = f"line {line}: {text}"
    return text
