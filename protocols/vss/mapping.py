"""A TOML mapping from DBC signals to VSS paths, and applying it to decoded frames.

The format (one file per vehicle; see ``mappings/*.toml``)::

    dbc = "../../dbc/files/toyota_nodsu_pt_generated.dbc"  # relative to this file

    [[signal]]
    path = "Vehicle.Speed"          # a leaf of the catalogue (VSS 5.1 + overlay)
    message = "SPEED"               # a message of the DBC
    signal = "SPEED"                # a signal of that message
    unit = "km/h"                   # optional: the unit of the decoded DBC value, where the
                                    #   DBC gives none; converted to the leaf's unit
                                    #   (km/h -> m/s, deg/s, bar -> kPa, ...)
    factor = 1.0                    # optional: multiplies after conversion (-1: sign flip)
    sign_signal = "DIRECTION"       # optional: a signal of the same message; where it
    negative_when = 1               #   equals negative_when (default 1) the value is negated
    values = { P = 126, D = 127 }   # optional: value-table names (or integer codes when the
                                    #   signal has no table) -> VSS values; others are NaN

A leaf with a unit converts from the DBC signal's own unit; ``unit`` is needed only where the
DBC gives none (or one RoadGate does not know), and is refused where it contradicts the DBC's.
``values`` gives VSS values directly; a boolean leaf without ``values`` is true where the DBC
value is non-zero.

A box reads one mapping (``load_mapping(..., only=...)``: the leaves it uses) against its own
bus's DBC, with single signals overridden by its config (``VssMapping.with_overrides``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
from cantools.database.can import Database, Message
from cantools.database.can.signal import Signal

from protocols.dbc import DecodedMessage, load_dbc
from protocols.errors import DbcLoadError
from protocols.toml_table import TomlTable
from protocols.vss.catalogue import VssCatalogue, VssLeaf, load_catalogue
from protocols.vss.errors import VssMappingError
from protocols.vss.units import canonical_unit, conversion_factor

FloatArray = npt.NDArray[np.float64]

MAPPINGS_DIR = Path(__file__).resolve().parent / "mappings"
"""The example mappings shipped with the package."""

_MAX_LISTED = 25
_Named = TypeVar("_Named", Message, Signal)
OVERRIDE_KEYS = ("message", "signal", "unit", "factor", "sign_signal", "negative_when", "values")
"""The keys of an override: a ``[[signal]]`` table's, but ``path`` (the override's name)."""
_INTEGER_CODE = re.compile(r"^-?[0-9]{1,19}$")  # ASCII digits only: int() also takes "²", "٣"


class DecodedColumns(Protocol):
    """A decoded message's value columns by signal name (``protocols.dbc.DecodedMessage``)."""

    @property
    def signals(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class SignalMapping:
    """One VSS leaf fed by one DBC signal.

    ``factor`` is the unit conversion times the file's ``factor``; ``values`` maps decoded DBC
    values to VSS values (None: numeric conversion); ``boolean`` leaves give 1.0 / 0.0.
    ``unit`` is the leaf's unit, the unit of the converted values (None: unitless).
    """

    path: str
    message: str
    signal: str
    factor: float = 1.0
    values: Mapping[float, float] | None = None
    sign_signal: str | None = None
    negative_when: float = 1.0
    boolean: bool = False
    unit: str | None = None

    def convert(self, decoded: DecodedColumns) -> FloatArray:
        """The VSS values (float64; NaN where the DBC value is absent or unmapped)."""
        sign = None if self.sign_signal is None else decoded.signals[self.sign_signal]
        return self._convert(np.asarray(decoded.signals[self.signal], dtype=np.float64), sign)

    def value_at(self, decoded: DecodedColumns, row: int) -> float:
        """``convert(decoded)[row]``, converting that row alone."""
        rows = slice(row, row + 1 or None)
        raw = np.asarray(decoded.signals[self.signal], dtype=np.float64)[rows]
        sign = None if self.sign_signal is None else decoded.signals[self.sign_signal][rows]
        return float(self._convert(raw, sign)[0])

    def _convert(self, raw: FloatArray, sign: Any) -> FloatArray:
        if self.values is not None:
            out = np.full(raw.shape, np.nan)
            for dbc_value, vss_value in self.values.items():
                out[raw == dbc_value] = vss_value
            return out
        if self.boolean:
            result: FloatArray = np.where(np.isnan(raw), np.nan, (raw != 0).astype(np.float64))
            return result
        # A factor may overflow a value to infinity: the caller sees it, no warning needed.
        with np.errstate(over="ignore", invalid="ignore"):
            value: FloatArray = raw * self.factor
        if sign is not None:
            value = np.where(np.asarray(sign) == self.negative_when, -value, value)
        return value


@dataclass(frozen=True)
class VssMapping:
    """A validated mapping: the file it came from and its signals.

    ``tables`` keeps each ``[[signal]]`` table as written, by path, for overrides that change
    some of its keys (``with_overrides``).
    """

    source: Path
    signals: tuple[SignalMapping, ...]
    tables: Mapping[str, Mapping[str, Any]] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, repr=False
    )

    def messages(self) -> set[str]:
        """The DBC messages the mapping reads (to select them in a ``VectorDecoder``, and for
        kernel filters)."""
        return {s.message for s in self.signals}

    def signal(self, path: str) -> SignalMapping | None:
        """The signal feeding VSS leaf ``path``, or None."""
        return next((s for s in self.signals if s.path == path), None)

    def apply(self, decoded: Mapping[str, DecodedMessage]) -> dict[str, FloatArray]:
        """VSS values by path from a ``VectorDecoder`` result, in the leaves' units.

        Each array is aligned with ``decoded[message].timestamp`` of its message (see
        ``timestamps``); a path whose message is not in ``decoded`` is absent.
        """
        return {s.path: s.convert(decoded[s.message]) for s in self.signals if s.message in decoded}

    def timestamps(self, decoded: Mapping[str, DecodedMessage]) -> dict[str, FloatArray]:
        """The timestamps of each path's values in ``apply``'s result."""
        return {s.path: decoded[s.message].timestamp for s in self.signals if s.message in decoded}

    def with_overrides(
        self,
        overrides: Mapping[str, TomlTable],
        db: Database,
        catalogue: VssCatalogue | None = None,
    ) -> VssMapping:
        """This mapping with single signals changed, each checked against ``db``.

        ``overrides`` maps a VSS path to a table of ``OVERRIDE_KEYS`` (a box config's
        ``[vehicle.signals."Vehicle.Speed"]``, say). A table naming ``message`` replaces the
        mapping's entry for that path (or adds one); a table without changes only the keys it
        gives of the mapping's entry (``factor = -1``, ``unit``, ``signal``...).

        Raises the table's error type for a value of the wrong type, ``VssMappingError`` for
        one the DBC or the catalogue refuses; both name the table's source and path.
        """
        catalogue = catalogue if catalogue is not None else load_catalogue()
        signals = {s.path: s for s in self.signals}
        tables = dict(self.tables)
        for path, override in overrides.items():
            override.reject_unknown(OVERRIDE_KEYS)
            given = dict(override.items())
            base = self.tables.get(path)
            if "message" not in given and base is None:
                raise VssMappingError(
                    f"{override.source}: {override.path}: {path} is not in the mapping "
                    f"{self.source.name}, so its override names a message and a signal"
                )
            data = {**(base if "message" not in given and base else {}), **given, "path": path}
            mapped = _entry(type(override)(data, override.path, override.source), db, catalogue)
            signals[mapped.path] = mapped
            tables[mapped.path] = data
        return VssMapping(self.source, tuple(signals.values()), MappingProxyType(tables))


def apply_mapping(
    mapping: VssMapping, decoded: Mapping[str, DecodedMessage]
) -> dict[str, FloatArray]:
    """``{vss_path: values}`` in VSS units; the same as ``mapping.apply(decoded)``."""
    return mapping.apply(decoded)


def shipped_mappings() -> dict[str, Path]:
    """The example mappings shipped with the package, by file stem."""
    return {p.stem: p for p in sorted(MAPPINGS_DIR.glob("*.toml"))}


def load_mapping(
    path: str | Path,
    db: Database | None = None,
    catalogue: VssCatalogue | None = None,
    *,
    only: Collection[str] | None = None,
) -> VssMapping:
    """Read and validate the mapping file at ``path``.

    ``db`` defaults to the file's ``dbc`` (relative to the mapping file, loaded with
    ``protocols.dbc.load_dbc``); ``catalogue`` to the shipped VSS catalogue. Every path is
    checked against the catalogue, every message and signal against the DBC, every unit and
    value-table name. With ``only``, just the entries of those paths are checked and kept
    (the others need not match ``db``; their tables stay in ``tables`` for overrides).

    Raises ``VssMappingError`` naming the file, the entry, the key, the value and what would be
    valid.
    """
    path = Path(path)
    catalogue = catalogue if catalogue is not None else load_catalogue()
    root = MappingTable.read(path, "VSS mapping")
    if db is None:
        db = _load_dbc(path, root.string("dbc"))
    root.string("description", None)
    entries = root.tables("signal")
    root.reject_unknown(("dbc",))  # a DBC passed in replaces the file's
    if not entries:
        raise root.error("signal", [], "a list of [[signal]] tables, not empty")
    signals: list[SignalMapping] = []
    tables: dict[str, Mapping[str, Any]] = {}
    for index, entry in enumerate(entries):
        leaf_path = entry.string("path")
        if leaf_path in tables:
            raise VssMappingError(
                f"{path}: signal[{index}]: key 'path': {leaf_path!r} is mapped twice"
            )
        if only is None or leaf_path in only:
            signals.append(_entry(entry, db, catalogue))
        tables[leaf_path] = dict(entry.items())
    return VssMapping(source=path, signals=tuple(signals), tables=MappingProxyType(tables))


class MappingTable(TomlTable):
    """A table of a mapping file (or the overlay); an invalid value raises
    ``VssMappingError``."""

    error_type = VssMappingError


def _load_dbc(path: Path, dbc: str) -> Database:
    try:
        return load_dbc(path.parent / dbc).database
    except DbcLoadError as err:
        raise VssMappingError(f"{path}: key 'dbc': {err}") from err


def _listing(names: list[str]) -> str:
    shown = sorted(names)[:_MAX_LISTED]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f", ... ({more} more)" if more > 0 else "")


def _entry(entry: TomlTable, db: Database, catalogue: VssCatalogue) -> SignalMapping:
    """The signal mapping of one ``[[signal]]`` table (of a file, or an override)."""
    leaf_path, message_name = entry.string("path"), entry.string("message")
    signal_name, sign_signal = entry.string("signal"), entry.string("sign_signal", None)
    negative_when = entry.number("negative_when", 1.0)
    factor = entry.number("factor", 1.0)
    unit = entry.string("unit", None)
    entry.reject_unknown(("values",))
    # A file's entry is signal[i]: add its path. An override's name is its path already.
    named = leaf_path in entry.path
    at = f"{entry.source}: {entry.path}" + ("" if named else f" ({leaf_path})")
    leaf = catalogue.leaf(leaf_path)
    if leaf is None:
        raise VssMappingError(
            f"{at}: key 'path': {leaf_path!r} is not in the VSS catalogue "
            f"(leaves near it: {', '.join(catalogue.near(leaf_path))})"
        )
    message = _named(
        at, "message", db.messages, message_name, f"no message {message_name!r} in the DBC"
    )
    lacks = f"message {message.name!r} has no signal"
    signal = _named(at, "signal", message.signals, signal_name, f"{lacks} {signal_name!r}")
    if sign_signal is not None:
        _named(at, "sign_signal", message.signals, sign_signal, f"{lacks} {sign_signal!r}")
    values = None
    if entry.has("values"):
        values = _values(at, entry.table("values"), signal, leaf)
    else:
        factor *= _unit_factor(at, unit, signal, leaf)
    return SignalMapping(
        path=leaf.path,
        message=message.name,
        signal=signal.name,
        factor=factor,
        values=values,
        sign_signal=sign_signal,
        negative_when=negative_when,
        boolean=leaf.datatype == "boolean",
        unit=leaf.unit,
    )


def _named(at: str, key: str, items: Sequence[_Named], name: str, missing: str) -> _Named:
    """The first of ``items`` (DBC messages or signals) called ``name``.

    Raises ``VssMappingError`` (``missing``, then the valid names) for config key ``key``.
    """
    for item in items:
        if item.name == name:
            return item
    valid = _listing([item.name for item in items])
    raise VssMappingError(f"{at}: key {key!r}: {missing} (valid: {valid})")


def _unit_factor(at: str, unit: str | None, signal: Signal, leaf: VssLeaf) -> float:
    """The factor from the DBC value's unit (``unit``, else the DBC's own) to the leaf's."""
    if leaf.unit is None:
        if unit is not None:
            raise VssMappingError(f"{at}: key 'unit': {leaf.path} has no unit, got {unit!r}")
        return 1.0
    dbc_unit = (signal.unit or "").strip()
    if unit is None and not dbc_unit:
        raise VssMappingError(
            f"{at}: key 'unit': required: the DBC gives {signal.name} no unit (the VSS leaf "
            f"is in {leaf.unit!r})"
        )
    try:
        factor = conversion_factor(dbc_unit if unit is None else unit, leaf.unit)
    except ValueError as err:
        origin = f" (the DBC's unit of {signal.name}; set unit)" if unit is None else ""
        raise VssMappingError(f"{at}: key 'unit': {err}{origin}") from None
    known = canonical_unit(dbc_unit) if dbc_unit else None
    if unit is not None and known is not None and known != canonical_unit(unit):
        raise VssMappingError(
            f"{at}: key 'unit': {unit!r}, but the DBC gives {signal.name} in {signal.unit!r}"
        )
    return factor


def _values(at: str, table: TomlTable, signal: Signal, leaf: VssLeaf) -> dict[float, float]:
    items = table.items()
    if not items:
        raise VssMappingError(f"{at}: key 'values': expected a non-empty table")
    choices = {str(name): int(code) for code, name in (signal.choices or {}).items()}
    boolean = leaf.datatype == "boolean"
    result: dict[float, float] = {}
    for name, vss_value in items:
        if choices:
            if name not in choices:
                raise VssMappingError(
                    f"{at}: key 'values': {signal.name} has no value {name!r} "
                    f"(valid: {_listing(list(choices))})"
                )
            code = choices[name]
        elif _INTEGER_CODE.match(name):
            code = int(name)
        else:
            raise VssMappingError(
                f"{at}: key 'values': {signal.name} has no value table, so keys are integer "
                f"codes, got {name!r}"
            )
        if boolean != isinstance(vss_value, bool) or not isinstance(vss_value, int | float):
            expected = "true or false" if boolean else "a number"
            raise VssMappingError(
                f"{at}: key 'values': {name!r} = {vss_value!r}, {leaf.path} "
                f"({leaf.datatype}) takes {expected}"
            )
        # Value tables are keyed by raw code; decoded values are scaled.
        result[code * float(signal.scale) + float(signal.offset)] = float(vss_value)
    return result
