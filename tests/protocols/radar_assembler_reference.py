"""The radar object-list assembler as it was before its per-frame work was cut (a dict of
every signal per frame, a state machine by message name, each object built field by field),
kept as the reference ``test_radar_assembler_equivalence`` compares the assembler with."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from hal.can.frames import FLAG_EXTENDED, FLAG_NOT_DATA
from protocols.dbc import DecodedMessage, VectorDecoder
from protocols.radar.definition import FIELDS, FieldSource, RadarDefinition
from protocols.radar.objects import RadarObject, RadarObjectList


@dataclass
class _Cycle:
    counter: int
    timestamp: float
    expected: int
    # message name -> object id -> signal values
    parts: dict[str, dict[int, dict[str, float]]] = field(default_factory=dict)


class ReferenceAssembler:
    """``RadarObjectListAssembler`` of commit 9fc1cf7: the same API and counters."""

    def __init__(self, definition: RadarDefinition, sensor_id: int = 0) -> None:
        """Raises ``ValueError`` for a sensor id outside 0..``definition.max_sensor_id``."""
        if not 0 <= sensor_id <= definition.max_sensor_id:
            raise ValueError(
                f"{definition.name} sensor id {sensor_id} not in 0..{definition.max_sensor_id}"
            )
        self.definition = definition
        self.sensor_id = sensor_id
        self.counters: Counter[str] = Counter()
        db = definition.database
        self._decoder = VectorDecoder(db, definition.messages)
        # Share one Counter so decoder rejects appear with the assembler's counters.
        self._decoder.rejects = self.counters
        self._ids = np.array(
            [db.get_message_by_name(name).frame_id for name in definition.messages],
            dtype=np.uint32,
        )
        self._offset = np.uint32(definition.id_stride * sensor_id)
        slots = definition.slot_ids
        self._slot_of: dict[str, int] = (
            {} if slots is None else dict(zip(definition.object_messages, slots, strict=True))
        )
        self._primary = definition.object_messages[0]
        # The signals of each message that structure a cycle (int() of NaN would raise).
        structural = {
            definition.counter,
            definition.object_count,
            definition.id_signal,
            definition.drop_signal,
        }
        self._structural: dict[str, tuple[str, ...]] = {
            name: tuple(
                s.name for s in db.get_message_by_name(name).signals if s.name in structural
            )
            for name in definition.messages
        }
        self._optional = definition.object_messages[1:] if slots is None else ()
        self._expect = dict.fromkeys(self._optional, True)
        self._cycle: _Cycle | None = None
        self._last_counter: int | None = None
        self._counter_step: int | None = None
        self._last_frame_s: float | None = None  # the frame being taken: it completes a list

    def feed_frames(
        self,
        arbitration_id: npt.ArrayLike,
        data: npt.ArrayLike,
        dlc: npt.ArrayLike,
        timestamp: npt.ArrayLike,
        is_extended: npt.ArrayLike | None = None,
    ) -> list[RadarObjectList]:
        """Take frames as arrays (as ``VectorDecoder.decode``), in bus order; frames of other
        ids (other sensors, other messages) are ignored. Returns the completed lists.
        """
        ids = np.asarray(arbitration_id, dtype=np.uint32).reshape(-1)
        extended = (
            np.zeros(ids.shape, dtype=bool)
            if is_extended is None
            else np.asarray(is_extended, dtype=bool).reshape(-1)
        )
        local = ids - self._offset
        mine = np.isin(local, self._ids) & ~extended
        decoded = self._decoder.decode(
            local[mine],
            np.asarray(data, dtype=np.uint8)[mine],
            np.asarray(dlc)[mine],
            np.asarray(timestamp)[mine],
            np.zeros(int(np.count_nonzero(mine)), dtype=bool),
        )
        return self.feed(decoded)

    def feed_batch(self, batch: npt.NDArray[Any]) -> list[RadarObjectList]:
        """Take a frame batch (structured array: ``timestamp``, ``arbitration_id``, ``flags``,
        ``dlc``, ``data``); error and remote frames are ignored. Returns the completed lists.
        """
        data_frames = batch[(batch["flags"] & FLAG_NOT_DATA) == 0]
        return self.feed_frames(
            data_frames["arbitration_id"],
            data_frames["data"],
            data_frames["dlc"],
            data_frames["timestamp"],
            (data_frames["flags"] & FLAG_EXTENDED) != 0,
        )

    def feed(self, decoded: Mapping[str, DecodedMessage]) -> list[RadarObjectList]:
        """Take one ``VectorDecoder`` result (message names of the definition's database);
        frames are replayed in ``index`` order. Returns the completed lists.
        """
        rows: list[tuple[int, str, int]] = []
        for name in self.definition.messages:
            message = decoded.get(name)
            if message is not None:
                positions = self._finite_positions(name, message)
                index = message.index.tolist()
                rows.extend((int(index[pos]), name, pos) for pos in positions)
        rows.sort()
        done: list[RadarObjectList] = []
        for _, name, pos in rows:
            message = decoded[name]
            values = {key: float(column[pos]) for key, column in message.signals.items()}
            finished = self._on_frame(name, float(message.timestamp[pos]), values)
            if finished is not None:
                done.append(finished)
        return done

    def _finite_positions(self, name: str, message: DecodedMessage) -> list[int]:
        """Positions of the message's frames whose structural signals are all finite; the
        others are counted (``non_finite_frames``)."""
        count = len(message.timestamp)
        columns = [message.signals[signal] for signal in self._structural[name]]
        columns.append(message.timestamp)
        finite = np.isfinite(np.vstack(columns)).all(axis=0)
        if finite.all():  # the usual case: one vectorised check per message and batch
            return list(range(count))
        self.counters["non_finite_frames"] += count - int(np.count_nonzero(finite))
        positions: list[int] = np.flatnonzero(finite).tolist()
        return positions

    def flush(self) -> RadarObjectList | None:
        """Close the current cycle: its list if it is complete, else None."""
        return self._close_by_end()

    def _on_frame(
        self, name: str, timestamp: float, values: dict[str, float]
    ) -> RadarObjectList | None:
        definition = self.definition
        self._last_frame_s = timestamp
        if name == definition.header:
            finished = self._close_by_end()
            counter = int(values[definition.counter])
            self._count_missed(counter)
            expected = (
                len(self._slot_of)
                if definition.object_count is None
                else int(values[definition.object_count])
            )
            self._cycle = _Cycle(counter, timestamp, expected)
            return finished or self._emit_if_complete()
        cycle = self._cycle
        slot = self._slot_of.get(name)
        object_id = slot if slot is not None else int(values[definition.id_signal or ""])
        primary = cycle.parts.get(self._primary, {}) if cycle is not None else {}
        if cycle is None or (slot is None and name != self._primary and object_id not in primary):
            self.counters["orphan_frames"] += 1
            return None
        if name in self._expect:
            self._expect[name] = True
        cycle.parts.setdefault(name, {})[object_id] = values
        return self._emit_if_complete()

    def _count_missed(self, counter: int) -> None:
        # The counter's step per cycle depends on the radar's configuration (2 on an ARS408
        # with firmware 4.30 sending objects only): take the smallest step seen as normal.
        if self._last_counter is not None:
            step = (counter - self._last_counter) % self.definition.counter_modulo
            if step:
                self._counter_step = min(self._counter_step or step, step)
                self.counters["missed_cycles"] += step // self._counter_step - 1
        self._last_counter = counter

    def _received(self, cycle: _Cycle, name: str) -> int:
        return len(cycle.parts.get(name, ()))

    def _emit_if_complete(self) -> RadarObjectList | None:
        cycle = self._cycle
        if cycle is None:
            return None
        n = cycle.expected
        if self._slot_of:
            if sum(len(part) for part in cycle.parts.values()) < n:
                return None
            return self._emit(cycle)
        if self._received(cycle, self._primary) < n:
            return None
        for name in self._optional:
            if self._expect[name] and self._received(cycle, name) < n:
                return None
        return self._emit(cycle)

    def _close_by_end(self) -> RadarObjectList | None:
        cycle = self._cycle
        if cycle is None:
            return None
        n = cycle.expected
        if not self._slot_of:
            primary_done = self._received(cycle, self._primary) >= n
            # A cycle that ended with every primary message but none of an optional kind
            # tells us the radar does not send that kind (any more).
            if primary_done and n > 0:
                for name in self._optional:
                    if not self._received(cycle, name):
                        self._expect[name] = False
            if primary_done and all(
                self._received(cycle, name) in (0, n) for name in self._optional
            ):
                return self._emit(cycle)
        self._cycle = None
        self.counters["partial_cycles"] += 1
        return None

    def _emit(self, cycle: _Cycle) -> RadarObjectList:
        self._cycle = None
        self.counters["cycles"] += 1
        # Each object as its messages' values by message name (None: a slot's one message).
        merged: list[tuple[int, dict[str | None, dict[str, float]]]]
        if self._slot_of:
            merged = [
                (slot, {None: cycle.parts[name][slot]}) for name, slot in self._slot_of.items()
            ]
        else:
            merged = [
                (oid, {name: part[oid] for name, part in cycle.parts.items() if oid in part})
                for oid in cycle.parts.get(self._primary, {})
            ]
        objects = []
        drop = self.definition.drop_signal
        for object_id, parts in merged:
            if drop is not None and int(parts[None][drop]) in self.definition.drop_values:
                self.counters["dropped_objects"] += 1
                continue
            obj = self._object(object_id, parts)
            if obj is None:
                self.counters["non_finite_objects"] += 1
                continue
            objects.append(obj)
        return RadarObjectList(
            sensor_id=self.sensor_id,
            cycle_counter=cycle.counter,
            timestamp=cycle.timestamp,
            objects=tuple(objects),
            completed_at=self._last_frame_s,
        )

    def _object(
        self, object_id: int, parts: dict[str | None, dict[str, float]]
    ) -> RadarObject | None:
        """The object made of its messages' values; None when a value is not finite."""
        fields: dict[str, Any] = {"object_id": object_id, "rcs_dbsm": None}
        polar = self.definition.polar
        if polar is not None:
            distance = _value(polar.range, parts) or 0.0
            angle = polar.angle_sign * (_value(polar.angle, parts) or 0.0)
            if not (math.isfinite(distance) and math.isfinite(angle)):
                return None  # math.cos of an infinity raises
            cos, sin = math.cos(angle), math.sin(angle)
            fields["dist_long_m"] = distance * cos
            fields["dist_lat_m"] = distance * sin
            if polar.range_rate is not None:
                rate = _value(polar.range_rate, parts) or 0.0
                fields["vrel_long_mps"] = rate * cos
                fields["vrel_lat_mps"] = rate * sin
        for name, source in self.definition.fields.items():
            value = _value(source, parts)
            if value is not None and not math.isfinite(value):
                return None
            fields[name] = int(value) if value is not None and FIELDS[name][2] else value
        for name in ("dist_long_m", "dist_lat_m", "vrel_long_mps", "vrel_lat_mps"):
            if not math.isfinite(fields[name]):  # polar: a huge range times cos, say
                return None
        return RadarObject(**fields)


def _value(source: FieldSource, parts: dict[str | None, dict[str, float]]) -> float | None:
    """The field's value; None when the message holding it was not received (an optional
    message the radar does not send)."""
    if source.signal is None:
        return source.value
    values = parts.get(source.message)
    if values is None:
        return None
    return values[source.signal] * source.factor
