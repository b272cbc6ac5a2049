"""Load a DBC file with cantools, relaxing cantools' strict checks only when needed.

Relaxation goes in steps, each reported: first cantools' ``strict=False`` (overlapping
signals, signals past the message end, ...); then, when cantools still refuses the file,
dropping the one statement it names, provided that statement carries no decoding information
(a comment, a value table, an attribute), and trying again. Signal and message definitions are
never dropped: a file whose ``BO_``/``SG_`` cantools refuses fails with ``DbcLoadError``.

Numbers are checked too: cantools reads ``1e999`` as infinity. A signal whose factor or offset
is not finite, or whose integer range times its factor overflows a float, could only ever
decode to NaN or infinity: the file fails with ``DbcLoadError`` naming it. A non-finite
minimum or maximum says only "no limit": it is set to None (no limit) and reported.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import cantools
from cantools.database.can import Database
from cantools.database.errors import UnsupportedDatabaseFormatError

from protocols.errors import DbcLoadError

_ENCODINGS = ("utf-8", "cp1252")
"""Tried in order when no encoding is given: vendor DBC files are very often cp1252."""

_DROPPABLE = ("CM_", "VAL_", "BA_", "BA_DEF_", "BA_DEF_DEF_", "BA_REL_", "BA_DEF_REL_")
"""Statements without decoding information: comments, value tables, attributes."""

_MAX_DROPS = 20
_UNUSED_VAL = re.compile(r"^\s*VAL_ (\d+) (\S+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class DroppedStatement:
    """A statement removed so that cantools could load the file.

    ``line`` is its first line (1-based) in the file, ``text`` the statement as written,
    ``cause`` cantools' error that named it.
    """

    line: int
    text: str
    cause: str


@dataclass(frozen=True)
class LoadedDbc:
    """A loaded database and what had to be relaxed to load it.

    ``relaxations`` holds one human-readable entry per relaxation: each statement dropped
    (``dropped line N: <statement> (cantools: <error>)``), then the strict-mode error text that
    ``strict=False`` let through (for example overlapping signals), then each non-finite
    signal limit taken as no limit; empty when the file loaded strictly as written.
    ``dropped`` holds the dropped statements themselves.
    """

    database: Database
    relaxations: tuple[str, ...] = ()
    dropped: tuple[DroppedStatement, ...] = ()


def load_dbc(path: str | Path, encoding: str | None = None) -> LoadedDbc:
    """Load the DBC file at ``path`` with cantools.

    Loads strictly first and falls back to ``strict=False``, recording the strict error in
    ``LoadedDbc.relaxations``. When cantools refuses even that, drops the comment, value table
    or attribute statement it names (one at a time, at most 20) and tries again, recording each
    in ``relaxations`` and ``dropped``. A non-finite signal minimum or maximum becomes None
    (no limit), noted in ``relaxations``. ``encoding=None`` tries utf-8, then cp1252.

    Raises ``DbcLoadError`` when the file cannot be read or decoded, or cantools cannot load it
    without dropping a statement that defines messages or signals, or a signal's factor or
    offset is not finite or overflows (reason ``non_finite``); the message names the file,
    the cause and, when cantools knows it, the line (else the message and signal). Raises
    ``ValueError`` for an unknown encoding name.
    """
    path = Path(path)
    lines = _read_text(path, encoding).split("\n")
    dropped: list[DroppedStatement] = []
    while True:
        text = "\n".join(lines)
        try:
            return _loaded(path, _load(text, strict=True), dropped, ())
        except UnsupportedDatabaseFormatError as strict_err:
            relaxation = _describe(strict_err)
        try:
            return _loaded(path, _load(text, strict=False), dropped, (relaxation,))
        except UnsupportedDatabaseFormatError as err:
            cause = _describe(err)
            statement = _offending_statement(lines, err) if len(dropped) < _MAX_DROPS else None
            if statement is None:
                raise DbcLoadError(f"{path}: cantools cannot load it: {cause}") from err
        first, last = statement
        dropped.append(
            DroppedStatement(
                line=first + 1,
                text="\n".join(lines[first : last + 1]).strip(),
                cause=cause.splitlines()[0],
            )
        )
        # Blank lines, not removed ones: later errors keep the file's own line numbers.
        lines[first : last + 1] = [""] * (last + 1 - first)


def _loaded(
    path: Path, db: Database, dropped: list[DroppedStatement], relaxed: tuple[str, ...]
) -> LoadedDbc:
    notes = tuple(f"dropped line {d.line}: {d.text} (cantools: {d.cause})" for d in dropped)
    return LoadedDbc(db, notes + relaxed + _check_numbers(path, db), tuple(dropped))


def _check_numbers(path: Path, db: Database) -> tuple[str, ...]:
    """Refuse signals that can only decode to non-finite values; drop non-finite limits.

    Returns a note per limit dropped. Raises ``DbcLoadError`` naming the message and signal.
    """
    notes: list[str] = []
    for message in db.messages:
        for signal in message.signals:
            where = f"{path}: message {message.name} signal {signal.name}"
            scale, offset = float(signal.scale), float(signal.offset)
            if not (math.isfinite(scale) and math.isfinite(offset)):
                raise DbcLoadError(
                    f"{where}: factor {scale} and offset {offset} must be finite numbers",
                    reason="non_finite",
                )
            # The largest raw magnitude of an integer signal; an IEEE float signal's own bits
            # may be NaN or infinite whatever its factor (decoders pass those on as such).
            if not signal.is_float and not math.isfinite(
                2.0 ** int(signal.length) * abs(scale) + abs(offset)
            ):
                raise DbcLoadError(
                    f"{where}: factor {scale} overflows for a {signal.length}-bit raw value",
                    reason="non_finite",
                )
            for limit in ("minimum", "maximum"):
                value = getattr(signal, limit)
                if value is not None and not math.isfinite(float(value)):
                    setattr(signal, limit, None)
                    notes.append(f"{where}: {limit} {value} is not finite; taken as no limit")
    return tuple(notes)


def _offending_statement(
    lines: list[str], err: UnsupportedDatabaseFormatError
) -> tuple[int, int] | None:
    """The first and last line (0-based) of the droppable statement cantools refused."""
    cause = err.e_dbc if err.e_dbc is not None else err
    line = getattr(cause, "line", None)
    if isinstance(line, int) and 1 <= line <= len(lines):
        first = line - 1
    else:
        match = _UNUSED_VAL.search(str(cause))  # "unused VAL_ entries in DBC: VAL_ 568 X"
        if match is None:
            return None
        pattern = re.compile(rf"^\s*VAL_\s+{match[1]}\s+{re.escape(match[2])}\s")
        found = [i for i, text in enumerate(lines) if pattern.match(text)]
        if len(found) != 1:
            return None
        first = found[0]
    words = lines[first].split(maxsplit=1)
    if not words or words[0] not in _DROPPABLE:
        return None
    last = _statement_end(lines, first)
    return None if last is None else (first, last)


def _statement_end(lines: list[str], first: int) -> int | None:
    """The line holding the ``;`` that ends the statement starting on ``lines[first]``
    (a ``;`` inside a quoted string, which may span lines, does not count)."""
    quoted = False
    for index in range(first, len(lines)):
        for char in lines[index]:
            if char == '"':
                quoted = not quoted
            elif char == ";" and not quoted:
                return index
    return None


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
