"""A TOML mapping from DBC signals to VSS paths, and applying it to decoded frames.

The format (one file per vehicle; see ``mappings/*.toml``)::

    dbc = "../../dbc/files/toyota_nodsu_pt_generated.dbc"  # relative to this file

    [[signal]]
    path = "Vehicle.Speed"          # a leaf of the catalogue (VSS 5.1 + overlay)
    message = "SPEED"               # a message of the DBC
    signal = "SPEED"                # a signal of that message
    unit = "km/h"                   # the unit of the decoded DBC value; converted to the
                                    # leaf's unit (km/h -> m/s, deg/s, bar -> kPa, ...)
    factor = 1.0                    # optional: multiplies after conversion (-1: sign flip)
    sign_signal = "DIRECTION"       # optional: a signal of the same message; where it
    negative_when = 1               #   equals negative_when (default 1) the value is negated
    values = { P = 126, D = 127 }   # optional: value-table names (or integer codes when the
                                    #   signal has no table) -> VSS values; others are NaN

A leaf with a unit needs ``unit`` unless ``values`` gives VSS values directly; a boolean leaf
without ``values`` is true where the DBC value is non-zero.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from cantools.database.can import Database, Message
from cantools.database.can.signal import Signal

from protocols.dbc import DecodedMessage, load_dbc
from protocols.errors import DbcLoadError
from protocols.vss.catalogue import VssCatalogue, VssLeaf, load_catalogue
from protocols.vss.errors import VssMappingError
from protocols.vss.units import canonical_unit, conversion_factor

FloatArray = npt.NDArray[np.float64]

MAPPINGS_DIR = Path(__file__).resolve().parent / "mappings"
"""The example mappings shipped with the package."""

_TOP_KEYS = ("dbc", "description", "signal")
_SIGNAL_KEYS = (
    "path",
    "message",
    "signal",
    "unit",
    "factor",
    "sign_signal",
    "negative_when",
    "values",
)
_REQUIRED = ("path", "message", "signal")
_MAX_LISTED = 25


@dataclass(frozen=True)
class SignalMapping:
    """One VSS leaf fed by one DBC signal.

    ``factor`` is the unit conversion times the file's ``factor``; ``values`` maps decoded DBC
    values to VSS values (None: numeric conversion); ``boolean`` leaves give 1.0 / 0.0.
    """

    path: str
    message: str
    signal: str
    factor: float = 1.0
    values: Mapping[float, float] | None = None
    sign_signal: str | None = None
    negative_when: float = 1.0
    boolean: bool = False

    def convert(self, decoded: DecodedMessage) -> FloatArray:
        """The VSS values (float64; NaN where the DBC value is absent or unmapped)."""
        raw = decoded.signals[self.signal]
        if self.values is not None:
            out = np.full(raw.shape, np.nan)
            for dbc_value, vss_value in self.values.items():
                out[raw == dbc_value] = vss_value
            return out
        if self.boolean:
            result: FloatArray = np.where(np.isnan(raw), np.nan, (raw != 0).astype(np.float64))
            return result
        value = raw * self.factor
        if self.sign_signal is not None:
            value = np.where(decoded.signals[self.sign_signal] == self.negative_when, -value, value)
        return value


@dataclass(frozen=True)
class VssMapping:
    """A validated mapping file."""

    source: Path
    signals: tuple[SignalMapping, ...]

    @property
    def messages(self) -> frozenset[str]:
        """The DBC messages the mapping reads (to select them in a ``VectorDecoder``)."""
        return frozenset(s.message for s in self.signals)

    def apply(self, decoded: Mapping[str, DecodedMessage]) -> dict[str, FloatArray]:
        """VSS values by path from a ``VectorDecoder`` result, in the leaves' units.

        Each array is aligned with ``decoded[message].timestamp`` of its message (see
        ``timestamps``); a path whose message is not in ``decoded`` is absent.
        """
        return {s.path: s.convert(decoded[s.message]) for s in self.signals if s.message in decoded}

    def timestamps(self, decoded: Mapping[str, DecodedMessage]) -> dict[str, FloatArray]:
        """The timestamps of each path's values in ``apply``'s result."""
        return {s.path: decoded[s.message].timestamp for s in self.signals if s.message in decoded}


def apply_mapping(
    mapping: VssMapping, decoded: Mapping[str, DecodedMessage]
) -> dict[str, FloatArray]:
    """``{vss_path: values}`` in VSS units; the same as ``mapping.apply(decoded)``."""
    return mapping.apply(decoded)


def shipped_mappings() -> dict[str, Path]:
    """The example mappings shipped with the package, by file stem."""
    return {p.stem: p for p in sorted(MAPPINGS_DIR.glob("*.toml"))}


def load_mapping(
    path: str | Path, db: Database | None = None, catalogue: VssCatalogue | None = None
) -> VssMapping:
    """Read and validate the mapping file at ``path``.

    ``db`` defaults to the file's ``dbc`` (relative to the mapping file, loaded with
    ``protocols.dbc.load_dbc``); ``catalogue`` to the shipped VSS catalogue. Every path is
    checked against the catalogue, every message and signal against the DBC, every unit and
    value-table name.

    Raises ``VssMappingError`` naming the file, the entry, the key, the value and what would be
    valid.
    """
    path = Path(path)
    catalogue = catalogue if catalogue is not None else load_catalogue()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise VssMappingError(f"{path}: cannot read the mapping: {err}") from err
    _check_keys(path, "top level", document, _TOP_KEYS)
    if db is None:
        db = _load_dbc(path, document.get("dbc"))
    entries = document.get("signal", [])
    if not isinstance(entries, list) or not entries:
        raise VssMappingError(f"{path}: key 'signal': expected a list of [[signal]] tables")
    signals: list[SignalMapping] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        mapped = _entry(path, index, entry, db, catalogue)
        if mapped.path in seen:
            raise VssMappingError(
                f"{path}: signal[{index}]: key 'path': {mapped.path!r} is mapped twice"
            )
        seen.add(mapped.path)
        signals.append(mapped)
    return VssMapping(source=path, signals=tuple(signals))


def _load_dbc(path: Path, dbc: Any) -> Database:
    if not isinstance(dbc, str):
        raise VssMappingError(
            f"{path}: key 'dbc': expected the DBC file's path (relative to the mapping), "
            f"got {dbc!r}"
        )
    try:
        return load_dbc(path.parent / dbc).database
    except DbcLoadError as err:
        raise VssMappingError(f"{path}: key 'dbc': {err}") from err


def _check_keys(path: Path, where: str, table: Any, valid: tuple[str, ...]) -> None:
    if not isinstance(table, dict):
        raise VssMappingError(f"{path}: {where}: expected a table, got {table!r}")
    for key in table:
        if key not in valid:
            raise VssMappingError(
                f"{path}: {where}: unknown key {key!r} (valid: {', '.join(valid)})"
            )


def _listing(names: list[str]) -> str:
    shown = sorted(names)[:_MAX_LISTED]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f", ... ({more} more)" if more > 0 else "")


def _entry(
    path: Path, index: int, entry: Any, db: Database, catalogue: VssCatalogue
) -> SignalMapping:
    where = f"signal[{index}]"
    _check_keys(path, where, entry, _SIGNAL_KEYS)
    for key in _REQUIRED:
        if not isinstance(entry.get(key), str):
            raise VssMappingError(f"{path}: {where}: key {key!r}: expected a string")
    where = f"signal[{index}] ({entry['path']})"
    leaf = catalogue.leaf(entry["path"])
    if leaf is None:
        raise VssMappingError(
            f"{path}: {where}: key 'path': {entry['path']!r} is not in the VSS catalogue "
            f"(leaves near it: {', '.join(catalogue.near(entry['path']))})"
        )
    message = _message(path, where, db, entry["message"])
    signal = _signal(path, where, "signal", message, entry["signal"])
    sign_signal = entry.get("sign_signal")
    if sign_signal is not None:
        _signal(path, where, "sign_signal", message, sign_signal)
    negative_when = _number(path, where, "negative_when", entry.get("negative_when", 1))
    factor = _number(path, where, "factor", entry.get("factor", 1.0))
    values = None
    if "values" in entry:
        values = _values(path, where, entry["values"], signal, leaf)
    else:
        factor *= _unit_factor(path, where, entry.get("unit"), signal, leaf)
    return SignalMapping(
        path=leaf.path,
        message=message.name,
        signal=signal.name,
        factor=factor,
        values=values,
        sign_signal=sign_signal,
        negative_when=negative_when,
        boolean=leaf.datatype == "boolean",
    )


def _message(path: Path, where: str, db: Database, name: str) -> Message:
    try:
        return db.get_message_by_name(name)
    except KeyError:
        valid = _listing([m.name for m in db.messages])
        raise VssMappingError(
            f"{path}: {where}: key 'message': no message {name!r} in the DBC (valid: {valid})"
        ) from None


def _signal(path: Path, where: str, key: str, message: Message, name: Any) -> Signal:
    try:
        return message.get_signal_by_name(str(name))
    except KeyError:
        valid = _listing([s.name for s in message.signals])
        raise VssMappingError(
            f"{path}: {where}: key {key!r}: message {message.name!r} has no signal {name!r} "
            f"(valid: {valid})"
        ) from None


def _number(path: Path, where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise VssMappingError(f"{path}: {where}: key {key!r}: expected a number, got {value!r}")
    return float(value)


def _unit_factor(path: Path, where: str, unit: Any, signal: Signal, leaf: VssLeaf) -> float:
    if leaf.unit is None:
        if unit is not None:
            raise VssMappingError(
                f"{path}: {where}: key 'unit': {leaf.path} has no unit, got {unit!r}"
            )
        return 1.0
    if not isinstance(unit, str):
        raise VssMappingError(
            f"{path}: {where}: key 'unit': required, the unit of the DBC value of "
            f"{signal.name} (the VSS leaf is in {leaf.unit!r})"
        )
    try:
        factor = conversion_factor(unit, leaf.unit)
    except ValueError as err:
        raise VssMappingError(f"{path}: {where}: key 'unit': {err}") from None
    dbc_unit = canonical_unit(signal.unit) if signal.unit else None
    if dbc_unit is not None and dbc_unit != canonical_unit(unit):
        raise VssMappingError(
            f"{path}: {where}: key 'unit': {unit!r}, but the DBC gives {signal.name} in "
            f"{signal.unit!r}"
        )
    return factor


def _values(
    path: Path, where: str, table: Any, signal: Signal, leaf: VssLeaf
) -> dict[float, float]:
    if not isinstance(table, dict) or not table:
        raise VssMappingError(f"{path}: {where}: key 'values': expected a non-empty table")
    choices = {str(name): int(code) for code, name in (signal.choices or {}).items()}
    boolean = leaf.datatype == "boolean"
    result: dict[float, float] = {}
    for name, vss_value in table.items():
        if choices:
            if name not in choices:
                raise VssMappingError(
                    f"{path}: {where}: key 'values': {signal.name} has no value {name!r} "
                    f"(valid: {_listing(list(choices))})"
                )
            code = choices[name]
        else:
            try:
                code = int(name)
            except ValueError:
                raise VssMappingError(
                    f"{path}: {where}: key 'values': {signal.name} has no value table, so "
                    f"keys are integer codes, got {name!r}"
                ) from None
        if boolean != isinstance(vss_value, bool) or not isinstance(vss_value, int | float):
            expected = "true or false" if boolean else "a number"
            raise VssMappingError(
                f"{path}: {where}: key 'values': {name!r} = {vss_value!r}, {leaf.path} "
                f"({leaf.datatype}) takes {expected}"
            )
        # Value tables are keyed by raw code; decoded values are scaled.
        result[code * float(signal.scale) + float(signal.offset)] = float(vss_value)
    return result
