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

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cantools.database.can import Database, Message

from protocols.dbc import load_dbc
from protocols.errors import DbcLoadError, ProtocolError
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
_TOP_KEYS = ("name", "dbc", "dbc_encoding", "sensor", "cycle", "objects", "polar", "fields")


class RadarDefinitionError(ProtocolError):
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
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise RadarDefinitionError(f"{path}: cannot read the definition: {err}") from err
    reader = _Reader(path)
    reader.keys("top level", document, _TOP_KEYS)
    name = reader.string("name", document.get("name"))
    if db is None:
        db = _load_dbc(reader, document)
    sensor = reader.table("sensor", document.get("sensor"), ("id_stride", "max_id"))
    cycle = reader.table("cycle", document.get("cycle"), ("header", "counter", "object_count"))
    objects = reader.table(
        "objects", document.get("objects"), ("messages", "id_signal", "slots", "drop")
    )
    header = reader.message(db, "cycle.header", cycle.get("header"))
    counter = reader.signal(header, "cycle.counter", cycle.get("counter"))
    object_count = None
    if "object_count" in cycle:
        object_count = reader.signal(header, "cycle.object_count", cycle["object_count"]).name
    id_signal: str | None = None
    slot_ids: tuple[int, ...] | None = None
    if "slots" in objects:
        if "messages" in objects or "id_signal" in objects or object_count is not None:
            raise RadarDefinitionError(
                f"{path}: objects.slots: a slots layout takes no objects.messages, "
                "objects.id_signal or cycle.object_count (every slot is sent every cycle)"
            )
        messages, slot_ids = _slots(reader, db, objects["slots"])
        reader.slots = True
    else:
        names = objects.get("messages")
        if not isinstance(names, list) or not names:
            raise RadarDefinitionError(
                f"{path}: objects: expected 'messages' (a list of message names) with "
                "'id_signal', or 'slots'"
            )
        if object_count is None:
            raise RadarDefinitionError(
                f"{path}: cycle.object_count: a keyed layout needs the header's object count"
            )
        messages = [reader.message(db, "objects.messages", n) for n in names]
        for message in messages:
            id_signal = reader.signal(message, "objects.id_signal", objects.get("id_signal")).name
    drop_signal, drop_values = _drop(reader, messages, objects.get("drop"))
    polar = _polar(reader, messages, document.get("polar"))
    fields = _fields(reader, messages, document.get("fields"), polar)
    counter_bits = int(counter.length)
    return RadarDefinition(
        name=name,
        source=path,
        database=db,
        id_stride=reader.integer("sensor.id_stride", sensor.get("id_stride"), 0, 0x1000),
        max_sensor_id=reader.integer("sensor.max_id", sensor.get("max_id"), 0, 255),
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


class _Reader:
    """Typed access to the TOML document, every error naming the file, key and value."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.slots = False  # a slots layout: a field's signal is in every object message

    def fail(self, key: str, value: Any, valid: str) -> RadarDefinitionError:
        return RadarDefinitionError(f"{self.path}: key {key!r}: {value!r} is invalid: {valid}")

    def keys(self, where: str, table: Any, valid: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(table, dict):
            raise self.fail(where, table, "expected a table")
        for key in table:
            if key not in valid:
                raise self.fail(f"{where}.{key}", table[key], f"valid keys: {', '.join(valid)}")
        return table

    def table(self, key: str, table: Any, valid: tuple[str, ...]) -> dict[str, Any]:
        return self.keys(key, table, valid)

    def string(self, key: str, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(key, value, "expected a non-empty string")
        return value

    def integer(self, key: str, value: Any, low: int, high: int) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise self.fail(key, value, f"expected an integer in {low}..{high}")
        return value

    def message(self, db: Database, key: str, name: Any) -> Message:
        name = self.string(key, name)
        try:
            return db.get_message_by_name(name)
        except KeyError:
            raise self.fail(key, name, "no such message in the DBC") from None

    def signal(self, message: Message, key: str, name: Any) -> Any:
        name = self.string(key, name)
        try:
            return message.get_signal_by_name(name)
        except KeyError:
            valid = ", ".join(s.name for s in message.signals)
            raise self.fail(key, name, f"message {message.name} has: {valid}") from None


def _load_dbc(reader: _Reader, document: dict[str, Any]) -> Database:
    dbc = reader.string("dbc", document.get("dbc"))
    encoding = document.get("dbc_encoding", "utf-8")
    try:
        loaded = load_dbc(
            reader.path.parent / dbc, encoding=reader.string("dbc_encoding", encoding)
        )
        return loaded.database
    except DbcLoadError as err:
        raise reader.fail("dbc", dbc, str(err)) from err


def _slots(reader: _Reader, db: Database, slots: Any) -> tuple[list[Message], tuple[int, ...]]:
    spec = reader.keys("objects.slots", slots, ("pattern", "first", "last"))
    pattern = reader.string("objects.slots.pattern", spec.get("pattern"))
    if "{n}" not in pattern:
        raise reader.fail("objects.slots.pattern", pattern, "must contain {n}, the slot number")
    first = reader.integer("objects.slots.first", spec.get("first"), 0, 4095)
    last = reader.integer("objects.slots.last", spec.get("last"), first, first + 4095)
    ids = tuple(range(first, last + 1))
    messages = [
        reader.message(db, "objects.slots.pattern", pattern.replace("{n}", str(n))) for n in ids
    ]
    return messages, ids


def _drop(reader: _Reader, messages: list[Message], drop: Any) -> tuple[str | None, frozenset[int]]:
    if drop is None:
        return None, frozenset()
    spec = reader.keys("objects.drop", drop, ("signal", "values"))
    signal = spec.get("signal")
    for message in messages:
        reader.signal(message, "objects.drop.signal", signal)
    values = spec.get("values")
    if not isinstance(values, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in values
    ):
        raise reader.fail("objects.drop.values", values, "expected a list of integer codes")
    return str(signal), frozenset(values)


def _source(
    reader: _Reader, messages: list[Message], key: str, spec: Any, si_unit: str | None
) -> FieldSource:
    """A field's source; for a slots layout (every message alike) ``message`` is None."""
    if isinstance(spec, str):
        spec = {"signal": spec}
    table = reader.keys(key, spec, ("signal", "unit", "value"))
    if "value" in table:
        value = table["value"]
        if len(table) != 1 or not isinstance(value, int | float) or isinstance(value, bool):
            raise reader.fail(key, spec, "a constant is a table with only 'value', a number")
        if not math.isfinite(value):
            raise reader.fail(
                key, spec, "a finite number (leave out a field the radar does not report)"
            )
        return FieldSource(signal=None, value=float(value))
    name = reader.string(f"{key}.signal", table.get("signal"))
    owners = [m for m in messages if name in {s.name for s in m.signals}]
    if not owners:
        valid = ", ".join(m.name for m in messages[:3])
        raise reader.fail(f"{key}.signal", name, f"no object message has it ({valid}...)")
    if reader.slots:
        missing = [m.name for m in messages if m not in owners]
        if missing:
            raise reader.fail(f"{key}.signal", name, f"every slot needs it; not in {missing[0]}")
    factor = 1.0
    if "unit" in table:
        unit = reader.string(f"{key}.unit", table["unit"])
        if si_unit is None or canonical_unit(unit) is None:
            raise reader.fail(
                f"{key}.unit", unit, f"this field converts from units of {si_unit or 'no kind'}"
            )
        try:
            factor = conversion_factor(unit, si_unit)
        except ValueError as err:
            raise reader.fail(f"{key}.unit", unit, str(err)) from err
    if reader.slots:
        return FieldSource(signal=name, message=None, factor=factor)
    return FieldSource(signal=name, message=owners[0].name, factor=factor)


def _polar(reader: _Reader, messages: list[Message], polar: Any) -> PolarPosition | None:
    if polar is None:
        return None
    spec = reader.keys("polar", polar, ("range", "angle", "angle_sign", "range_rate"))
    angle_sign = spec.get("angle_sign", 1)
    if angle_sign not in (1, -1):
        raise reader.fail("polar.angle_sign", angle_sign, "expected 1 or -1")
    # An angle without a unit is in radians (the DBC's unit string is not trusted: opendbc's
    # ESR.dbc leaves it empty).
    angle = _source(reader, messages, "polar.angle", spec.get("angle"), "rad")
    range_rate = None
    if "range_rate" in spec:
        range_rate = _source(reader, messages, "polar.range_rate", spec["range_rate"], "m/s")
    return PolarPosition(
        range=_source(reader, messages, "polar.range", spec.get("range"), None),
        angle=angle,
        angle_sign=float(angle_sign),
        range_rate=range_rate,
    )


def _fields(
    reader: _Reader, messages: list[Message], fields: Any, polar: PolarPosition | None
) -> dict[str, FieldSource]:
    table = reader.keys("fields", fields if fields is not None else {}, tuple(FIELDS))
    from_polar: set[str] = set()
    if polar is not None:
        from_polar = {"dist_long_m", "dist_lat_m"}
        if polar.range_rate is not None:
            from_polar |= {"vrel_long_mps", "vrel_lat_mps"}
    out: dict[str, FieldSource] = {}
    for field, spec in table.items():
        if field in from_polar:
            raise reader.fail(f"fields.{field}", spec, "this field comes from [polar]")
        out[field] = _source(reader, messages, f"fields.{field}", spec, FIELDS[field][0])
    for field, (_, required, _) in FIELDS.items():
        if required and field not in out and field not in from_polar:
            raise RadarDefinitionError(
                f"{reader.path}: fields: {field!r} is required (a signal or a constant value)"
            )
    return out
