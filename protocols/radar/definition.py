"""Radar definitions: which DBC, how a cycle is delimited, which signals make an object.

A definition is a TOML file (``ars408.toml`` and ``delphi_esr.toml`` ship here), read once
into a frozen ``RadarDefinition`` checked against its DBC, so that a radar sending object
lists over CAN is supported by configuration. Two object layouts cover the common radars:

* keyed (``[objects] messages`` + ``id_signal``): the header announces N objects, then each
  object comes in one or more messages carrying its id (Continental ARS408: general, quality,
  extended). The first message creates the object; the others are optional, learnt.
* slots (``[objects] slots``): a fixed set of messages, one object each, every cycle; the
  slot number is the object id (Delphi ESR: 64 track messages). ``drop`` removes slots whose
  status says "no target".

Positions are cartesian (``[fields] dist_long_m``...) or polar (``[polar]`` range, angle and
range rate, converted to x forward / y left). A field is a signal name, or a table with
``signal`` and ``unit`` (converted to the field's SI unit), or ``value`` (a constant).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cantools.database.can import Database, Message

from protocols.dbc import load_dbc
from protocols.errors import DbcLoadError, DefinitionError
from protocols.toml_table import TomlTable
from protocols.vss.units import canonical_unit, conversion_factor

DEFINITIONS_DIR = Path(__file__).resolve().parent

# RadarObject field -> (SI unit for conversions, required, integer code)
FIELDS: dict[str, tuple[str | None, bool, bool]] = {
    "dist_long_m": (None, True, False),
    "dist_lat_m": (None, True, False),
    "vrel_long_mps": ("m/s", True, False),
    "vrel_lat_mps": ("m/s", True, False),
    "dyn_prop": (None, True, True),
    "rcs_dbsm": (None, False, False),
    "obj_class": (None, False, True),
    "length_m": (None, False, False),
    "width_m": (None, False, False),
    "prob_of_exist_code": (None, False, True),
}


class RadarDefinitionError(DefinitionError):
    """A radar definition file that cannot be used: names the file, the key, the value and
    what would be valid."""

    reason = "radar_definition"


@dataclass(frozen=True)
class FieldSource:
    """Where a value comes from: ``signal`` (of message ``message``) times ``factor``, or the
    constant ``value`` when ``signal`` is None."""

    signal: str | None
    message: str | None = None
    factor: float = 1.0
    value: float | None = None


@dataclass(frozen=True)
class PolarPosition:
    """Range (m), azimuth (``angle.factor`` converts it to rad) and optional range rate (m/s);
    ``angle_sign`` -1 for an azimuth growing clockwise."""

    range: FieldSource
    angle: FieldSource
    angle_sign: float
    range_rate: FieldSource | None


@dataclass(frozen=True)
class RadarDefinition:
    """One radar type's object-list protocol, checked against ``database``.

    ``object_messages``: keyed layout, the per-object messages (the first creates the
    object); slots layout, the slot messages in order, ``slot_ids`` their object ids.
    ``counter_modulo`` is 2 ** (bits of the counter signal).
    """

    name: str
    source: Path
    database: Database
    id_stride: int
    max_sensor_id: int
    header: str
    counter: str
    counter_modulo: int
    object_count: str | None
    object_messages: tuple[str, ...]
    id_signal: str | None
    slot_ids: tuple[int, ...] | None
    drop_signal: str | None
    drop_values: frozenset[int]
    fields: Mapping[str, FieldSource]
    polar: PolarPosition | None

    @property
    def messages(self) -> tuple[str, ...]:
        """Every message the assembler decodes: the header, then the object messages."""
        return (self.header, *self.object_messages)


def shipped_definition(name: str) -> Path:
    """The path of a definition shipped with the package (``"ars408"``, ``"delphi_esr"``).

    Raises ``ValueError`` for another name."""
    path = DEFINITIONS_DIR / f"{name}.toml"
    if not path.is_file():
        valid = ", ".join(sorted(p.stem for p in DEFINITIONS_DIR.glob("*.toml")))
        raise ValueError(f"no radar definition {name!r} (shipped: {valid})")
    return path


def load_radar_definition(path: str | Path, db: Database | None = None) -> RadarDefinition:
    """Read and check the definition at ``path``.

    ``db`` replaces the file's ``dbc`` (a path relative to the definition, loaded with
    ``protocols.dbc.load_dbc``). Every message and signal is checked against the DBC.
    Raises ``RadarDefinitionError`` naming the file, the key, the value and what is valid.
    """
    path = Path(path)
    root = _Table.read(path, "radar definition")
    name = root.text("name", what="the radar's name")
    if db is None:
        db = _load_dbc(root, path)
    sensor = root.table("sensor", required=True)
    cycle = root.table("cycle", required=True)
    objects = root.table("objects", required=True)
    header = _message(db, cycle, "header")
    counter = _signal(header, cycle, "counter")
    object_count = (
        _signal(header, cycle, "object_count").name if cycle.has("object_count") else None
    )
    cycle.reject_unknown(("object_count",))
    id_signal: str | None = None
    slot_ids: tuple[int, ...] | None = None
    slots = objects.has("slots")
    if slots:
        if objects.has("messages") or objects.has("id_signal") or object_count is not None:
            raise RadarDefinitionError(
                f"{path}: objects.slots: a slots layout takes no objects.messages, "
                "objects.id_signal or cycle.object_count (every slot is sent every cycle)"
            )
        messages, slot_ids = _slots(db, objects.table("slots"))
    else:
        names = objects.strings("messages", ())
        if not names:
            raise RadarDefinitionError(
                f"{path}: objects: expected 'messages' (a list of message names) with "
                "'id_signal', or 'slots'"
            )
        if object_count is None:
            raise RadarDefinitionError(
                f"{path}: cycle.object_count: a keyed layout needs the header's object count"
            )
        messages = [_message(db, objects, "messages", n) for n in names]
        for message in messages:
            id_signal = _signal(message, objects, "id_signal").name
    drop_signal, drop_values = (
        _drop(messages, objects.table("drop")) if objects.has("drop") else (None, frozenset())
    )
    objects.reject_unknown(("messages", "id_signal", "slots", "drop"))
    polar = _polar(messages, root.table("polar"), slots) if root.has("polar") else None
    fields = _fields(messages, root.table("fields"), polar, slots)
    counter_bits = int(counter.length)
    definition = RadarDefinition(
        name=name,
        source=path,
        database=db,
        id_stride=sensor.integer("id_stride", low=0, high=0x1000),
        max_sensor_id=sensor.integer("max_id", low=0, high=255),
        header=header.name,
        counter=counter.name,
        counter_modulo=1 << counter_bits,
        object_count=object_count,
        object_messages=tuple(m.name for m in messages),
        id_signal=id_signal,
        slot_ids=slot_ids,
        drop_signal=drop_signal,
        drop_values=drop_values,
        fields=fields,
        polar=polar,
    )
    sensor.reject_unknown()
    # A DBC passed in replaces the file's dbc and dbc_encoding: valid keys, left unread.
    root.reject_unknown(("polar", "dbc", "dbc_encoding"))
    return definition


class _Table(TomlTable):
    """A table of a radar definition; an invalid value raises ``RadarDefinitionError``."""

    error_type = RadarDefinitionError


def _message(db: Database, table: _Table, key: str, name: str | None = None) -> Message:
    """The DBC message named by ``key`` (or ``name``, one item of the array at ``key``)."""
    name = table.string(key) if name is None else name
    try:
        return db.get_message_by_name(name)
    except KeyError:
        raise table.error(key, name, "no such message in the DBC") from None


def _signal(message: Message, table: _Table, key: str) -> Any:
    """The signal of ``message`` named by ``key``."""
    name = table.string(key)
    try:
        return message.get_signal_by_name(name)
    except KeyError:
        valid = ", ".join(s.name for s in message.signals)
        raise table.error(key, name, f"message {message.name} has: {valid}") from None


def _load_dbc(root: _Table, path: Path) -> Database:
    dbc = root.string("dbc")
    encoding = root.encoding("dbc_encoding") or "utf-8"
    try:
        return load_dbc(path.parent / dbc, encoding=encoding).database
    except DbcLoadError as err:
        raise root.error("dbc", dbc, str(err)) from err


def _slots(db: Database, spec: _Table) -> tuple[list[Message], tuple[int, ...]]:
    pattern = spec.string("pattern")
    if "{n}" not in pattern:
        raise spec.error("pattern", pattern, "must contain {n}, the slot number")
    first = spec.integer("first", low=0, high=4095)
    last = spec.integer("last", low=first, high=first + 4095)
    spec.reject_unknown()
    ids = tuple(range(first, last + 1))
    messages = [_message(db, spec, "pattern", pattern.replace("{n}", str(n))) for n in ids]
    return messages, ids


def _drop(messages: list[Message], spec: _Table) -> tuple[str | None, frozenset[int]]:
    signal = ""
    for message in messages:
        signal = _signal(message, spec, "signal").name
    values = spec.convert("values", _integer_codes, "a list of integer codes")
    spec.reject_unknown()
    return signal, values


def _integer_codes(values: Any) -> frozenset[int]:
    if not isinstance(values, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in values
    ):
        raise TypeError("not a list of integers")
    return frozenset(values)


def _source(
    messages: list[Message], table: _Table, key: str, si_unit: str | None, slots: bool
) -> FieldSource:
    """The source of field ``key``: a signal name, or a table with ``signal`` (and ``unit``)
    or only ``value``; for a slots layout (every message alike) ``message`` is None."""
    if not table.is_table(key):
        return _signal_source(messages, table, key, None, si_unit, slots)
    spec = table.table(key)
    if spec.has("value"):
        value = spec.number("value")  # read_toml refused NaN and infinity already
        spec.reject_unknown()  # a constant is a table with only 'value'
        return FieldSource(signal=None, value=value)
    unit = spec.string("unit", None)
    source = _signal_source(messages, spec, "signal", unit, si_unit, slots)
    spec.reject_unknown(("value",))
    return source


def _signal_source(
    messages: list[Message],
    table: _Table,
    key: str,
    unit: str | None,
    si_unit: str | None,
    slots: bool,
) -> FieldSource:
    name = table.string(key)
    owners = [m for m in messages if name in {s.name for s in m.signals}]
    if not owners:
        valid = ", ".join(m.name for m in messages[:3])
        raise table.error(key, name, f"no object message has it ({valid}...)")
    if slots:
        missing = [m.name for m in messages if m not in owners]
        if missing:
            raise table.error(key, name, f"every slot needs it; not in {missing[0]}")
    factor = 1.0
    if unit is not None:
        if si_unit is None or canonical_unit(unit) is None:
            raise table.error(
                "unit", unit, f"this field converts from units of {si_unit or 'no kind'}"
            )
        try:
            factor = conversion_factor(unit, si_unit)
        except ValueError as err:
            raise table.error("unit", unit, str(err)) from err
    if slots:
        return FieldSource(signal=name, message=None, factor=factor)
    return FieldSource(signal=name, message=owners[0].name, factor=factor)


def _polar(messages: list[Message], spec: _Table, slots: bool) -> PolarPosition:
    angle_sign = spec.number("angle_sign", 1.0)
    if angle_sign not in (1.0, -1.0):
        raise spec.error("angle_sign", angle_sign, "expected 1 or -1")
    # An angle without a unit is in radians (the DBC's unit string is not trusted: opendbc's
    # ESR.dbc leaves it empty).
    angle = _source(messages, spec, "angle", "rad", slots)
    range_rate = None
    if spec.has("range_rate"):
        range_rate = _source(messages, spec, "range_rate", "m/s", slots)
    polar = PolarPosition(
        range=_source(messages, spec, "range", None, slots),
        angle=angle,
        angle_sign=angle_sign,
        range_rate=range_rate,
    )
    spec.reject_unknown(("range_rate",))
    return polar


def _fields(
    messages: list[Message], table: _Table, polar: PolarPosition | None, slots: bool
) -> dict[str, FieldSource]:
    table.reject_unknown(FIELDS)
    from_polar: set[str] = set()
    if polar is not None:
        from_polar = {"dist_long_m", "dist_lat_m"}
        if polar.range_rate is not None:
            from_polar |= {"vrel_long_mps", "vrel_lat_mps"}
    out: dict[str, FieldSource] = {}
    for field, (si_unit, required, _) in FIELDS.items():
        if not table.has(field):
            if required and field not in from_polar:
                raise RadarDefinitionError(
                    f"{table.source}: fields: {field!r} is required (a signal or a constant value)"
                )
            continue
        if field in from_polar:
            raise table.error(field, dict(table.items())[field], "this field comes from [polar]")
        out[field] = _source(messages, table, field, si_unit, slots)
    return out
