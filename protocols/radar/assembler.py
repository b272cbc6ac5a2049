"""Object lists assembled per radar cycle from decoded CAN messages, for any radar definition.

Frames are decoded with ``VectorDecoder`` (only the definition's messages, at the sensor's
id offset), then replayed in bus order through a small state machine: the header message
opens a cycle, object messages fill it, and the cycle is emitted when complete (keyed
layout: every announced object with each of its messages the radar sends; slots layout:
every slot). A cycle cut short by the next header is dropped and counted.

The per-frame and per-object work is kept in Python at its least: each batch turns only the
columns the definition reads into lists (values scaled, integer codes made ``int`` and a
finiteness flag per frame, all vectorised), each object frame's values are one tuple, a run
of one object message's frames is taken with one dict update while it cannot complete the
cycle, and each object is gathered positionally from its messages' tuples by a getter
compiled per definition (``_ObjectPlan``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from hal.can.frames import FLAG_EXTENDED, FLAG_NOT_DATA
from protocols.dbc import DecodedMessage, VectorDecoder
from protocols.radar.definition import FIELDS, FieldSource, RadarDefinition
from protocols.radar.objects import RadarObject, RadarObjectList

# One object frame as kept: all its value columns finite, the values (scaled; integer codes
# as int) in the plan's order, the drop signal's value (None without a drop rule).
_Row = tuple[bool, tuple[Any, ...], float | None]
_POSITION = ("dist_long_m", "dist_lat_m", "vrel_long_mps", "vrel_lat_mps")


@dataclass
class _Cycle:
    counter: int
    timestamp: float
    expected: int
    # keyed: per message kind, object id -> row; slots: one dict, slot id -> row
    parts: list[dict[int, _Row]]


class _ObjectPlan:
    """How one definition's objects are read: the value columns each object message
    contributes, and the positional gather of ``RadarObject``'s arguments from
    ``(object_id, *values of the messages in order, *constants, None)``."""

    def __init__(self, definition: RadarDefinition, layout: Sequence[str | None]) -> None:
        """``layout``: the messages whose values make an object, in gather order (the slots
        layout reads one message per object: ``[None]``, every slot message alike)."""
        polar = definition.polar
        sources: dict[str, FieldSource] = dict(definition.fields)
        if polar is not None:
            sources |= {"polar range": polar.range, "polar angle": polar.angle}
            if polar.range_rate is not None:
                sources["polar range rate"] = polar.range_rate
        self.columns: list[tuple[tuple[FieldSource, bool], ...]] = []
        position: dict[str, int] = {}
        at = 1  # 0: the object id
        for message in layout:
            kept = [k for k, s in sources.items() if s.signal is not None and s.message == message]
            position |= {key: at + i for i, key in enumerate(kept)}
            at += len(kept)
            self.columns.append(tuple((sources[key], _is_integer(key)) for key in kept))
        constants = [key for key, s in sources.items() if s.signal is None]
        self.tail = (*(_constant(key, sources[key]) for key in constants), None)
        position |= {key: at + i for i, key in enumerate(constants)}
        # Every other field (an optional one not in the definition, or a signal of a message
        # the object does not have) reads the trailing None.
        self.constants_finite = all(v is None or math.isfinite(v) for v in self.tail)
        names = RadarObject._fields
        none = at + len(constants)
        self.gather = itemgetter(*(0 if n == "object_id" else position.get(n, none) for n in names))
        self.polar = polar
        self.polar_at = tuple(
            position.get(k, none) for k in ("polar range", "polar angle", "polar range rate")
        )
        self.position_at = tuple(names.index(n) for n in _POSITION)
        self.absent = [(None,) * len(columns) for columns in self.columns]

    def make(self, object_id: int, values: tuple[Any, ...]) -> RadarObject:
        """The object of ``values`` (finite: the rows' flags were checked)."""
        args = self.gather((object_id, *values, *self.tail))
        if self.polar is None:
            return _new_object(RadarObject, args)
        return _new_object(RadarObject, self._polar(args, (object_id, *values, *self.tail)))

    def _polar(self, args: tuple[Any, ...], flat: tuple[Any, ...]) -> list[Any]:
        polar = self.polar
        assert polar is not None
        at_range, at_angle, at_rate = self.polar_at
        distance = flat[at_range] or 0.0
        angle = polar.angle_sign * (flat[at_angle] or 0.0)
        cos, sin = math.cos(angle), math.sin(angle)
        out = list(args)
        long_at, lat_at, vlong_at, vlat_at = self.position_at
        out[long_at], out[lat_at] = distance * cos, distance * sin
        if polar.range_rate is not None:
            rate = flat[at_rate] or 0.0
            out[vlong_at], out[vlat_at] = rate * cos, rate * sin
        return out


# A named tuple from a sequence of all its fields, in order: what ``RadarObject._make`` does,
# without its length check (``gather`` makes every field).
_new_object = tuple.__new__


def _is_integer(key: str) -> bool:
    return key in FIELDS and FIELDS[key][2]


def _constant(key: str, source: FieldSource) -> float | None:
    value = source.value
    if value is None or not math.isfinite(value) or not _is_integer(key):
        return value  # a non-finite constant leaves every object out, as a value would
    return int(value)


class _Read(NamedTuple):
    """One message's frames of a batch, in its order: ``times``; ``keys`` (the header's
    counter, a keyed object's id, None for a slot); ``payload``, the header's object count
    (None without one) or the object's row; ``positions``, each frame's ``index`` in the
    batch."""

    kind: int
    rank: int
    times: list[float]
    keys: list[Any]
    payload: list[Any]
    positions: npt.NDArray[np.intp]


class _MessageReader:
    """One message's frames of a batch as a ``_Read``: its timestamps, structural signals
    and value columns stacked in one matrix, checked, scaled and turned into lists in a few
    numpy calls per batch, not a conversion per frame and signal."""

    def __init__(
        self,
        name: str,
        kind: int,
        rank: int,
        structural: tuple[str, ...],
        key: str | None,
        extra: str | None,
        values: Sequence[tuple[FieldSource, bool]],
    ) -> None:
        """``structural``: the signals whose non-finite value drops a frame; ``key`` (the
        header's counter, a keyed object's id) and ``extra`` (the header's object count, an
        object's drop signal) are among them; ``values``: the value columns (int or not)."""
        self.name = name
        self.kind = kind
        self.rank = rank
        self._signals = (*structural, *(source.signal or "" for source, _ in values))
        self._first_value = 1 + len(structural)  # row 0: the timestamp
        self._key_at = None if key is None else 1 + structural.index(key)
        self._extra_at = None if extra is None else 1 + structural.index(extra)
        factors = [source.factor for source, _ in values]
        # x * 1.0 is x: the multiplication is left out when it would only cost.
        self._factors = (
            None if all(f == 1.0 for f in factors) else np.array(factors, dtype=np.float64)[:, None]
        )
        self._integer = [i for i, (_, integer) in enumerate(values) if integer]

    def read(self, message: DecodedMessage) -> tuple[_Read, int]:
        """The frames with finite structural signals, in the message's order, and how many
        were dropped as not finite."""
        arrays = [message.timestamp, *(message.signals[signal] for signal in self._signals)]
        matrix = np.array(arrays, dtype=np.float64)  # a row per column, unlike vstack's cost
        first = self._first_value
        if self._factors is not None:
            with np.errstate(over="ignore"):  # a value too large once converted: not finite
                matrix[first:] *= self._factors
        index = message.index
        non_finite = 0
        finite = np.isfinite(matrix)
        if finite.all():  # the usual case: no reduction per frame
            values_finite: list[bool] = [True] * len(index)
        else:
            structural = finite[:first].all(axis=0)
            if not structural.all():
                taken = np.flatnonzero(structural)
                non_finite = len(index) - len(taken)
                matrix, finite, index = matrix[:, taken], finite[:, taken], index[taken]
            matrix[~finite] = 0.0  # int() of NaN raises; such a frame's object is left out
            values_finite = np.logical_and.reduce(finite[first:], axis=0).tolist()
        columns: list[list[Any]] = matrix.tolist()
        count = len(columns[0])
        keys = [None] * count if self._key_at is None else columns[self._key_at]
        extras = [None] * count if self._extra_at is None else columns[self._extra_at]
        if self.kind == 0:
            return _Read(0, self.rank, columns[0], keys, extras, index), non_finite
        values = columns[first:]
        for i in self._integer:
            values[i] = list(map(int, values[i]))
        rows = list(
            zip(
                values_finite,
                zip(*values, strict=True) if values else repeat(()),
                extras,
                strict=False,
            )
        )
        return _Read(self.kind, self.rank, columns[0], keys, rows, index), non_finite


class RadarObjectListAssembler:
    """Assemble complete object lists of one sensor of the radar type ``definition``.

    Feed frames (``feed_frames``, ``feed_batch``) or messages already decoded with the
    definition's database (``feed``), in bus order; each returns the object lists completed
    by that input. ``flush()`` closes the last cycle.

    Keyed layout: a cycle is complete when all its announced objects, and their optional
    messages if the radar sends them, have arrived. Whether it sends them is learnt: until a
    cycle ends without them they are expected, so a radar without them delays its first list
    by one cycle. Slots layout: complete when every slot message has arrived; slots whose
    ``drop`` signal holds a dropped code (no target) are left out of the list.

    Only finite values come out: a frame whose counter, object count, object id or drop
    status is NaN or infinite (an IEEE float signal's bits) is dropped (``non_finite_frames``)
    and an object with a non-finite field is left out of its list (``non_finite_objects``).

    ``counters``: ``cycles`` (emitted), ``partial_cycles`` (dropped: a new cycle began before
    this one was complete, or ``flush`` found it incomplete), ``missed_cycles`` (counter
    jumps beyond its usual step), ``orphan_frames`` (object frames outside a cycle or for an
    object not announced), ``dropped_objects`` (slots without a target), and the decoder's
    rejects (``short_frame``...).
    """

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
        self._ids = np.unique(
            np.array(
                [db.get_message_by_name(name).frame_id for name in definition.messages],
                dtype=np.uint32,
            )
        )
        self._offset = np.uint32(definition.id_stride * sensor_id)
        header = db.get_message_by_name(definition.header).frame_id
        self.header_frame_id = int(header) + int(self._offset)
        """The header's arbitration id on the bus (this sensor's)."""
        # Message kinds: 0 the header, then the object messages, each name once.
        self._names = tuple(dict.fromkeys(definition.messages))
        slots = definition.slot_ids
        self._slots = slots is not None
        self._slot_of = [0, *(slots or ())]  # slot id per kind
        self._primary = 1
        self._optional = () if self._slots else tuple(range(2, len(self._names)))
        self._expect = [kind in self._optional for kind in range(len(self._names))]
        self._plan = _ObjectPlan(definition, [None] if self._slots else self._names[1:])
        self._readers = [self._reader(kind) for kind in range(len(self._names))]
        self._cycle: _Cycle | None = None
        self._last_counter: int | None = None
        self._counter_step: int | None = None
        self._last_frame_s: float | None = None  # the frame being taken: it completes a list

    def _reader(self, kind: int) -> _MessageReader:
        definition = self.definition
        name = self._names[kind]
        # The signals of the message that structure a cycle (int() of NaN would raise).
        structural = {
            definition.counter,
            definition.object_count,
            definition.id_signal,
            definition.drop_signal,
        }
        signals = definition.database.get_message_by_name(name).signals
        checked = tuple(s.name for s in signals if s.name in structural)
        # Bus order ties (one index twice, only in hand-made input) are broken by name.
        rank = sorted(self._names).index(name)
        if kind == 0:
            return _MessageReader(
                name, kind, rank, checked, definition.counter, definition.object_count, ()
            )
        key = None if self._slots else definition.id_signal
        values = self._plan.columns[0 if self._slots else kind - 1]
        return _MessageReader(name, kind, rank, checked, key, definition.drop_signal, values)

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
        mine = self._known(local) & ~extended
        arrays = (local, np.asarray(data, dtype=np.uint8), np.asarray(dlc), np.asarray(timestamp))
        if not mine.all():  # frames of other sensors or messages on the bus
            arrays = tuple(array[mine] for array in arrays)
        decoded = self._decoder.decode(*arrays, np.zeros(len(arrays[0]), dtype=bool))
        return self.feed(decoded)

    def _known(self, ids: npt.NDArray[np.uint32]) -> npt.NDArray[np.bool_]:
        """Which ids are the definition's messages' (np.isin's cost at a few ids and a
        hundred frames is several times that of this binary search)."""
        known = self._ids
        at = np.minimum(np.searchsorted(known, ids), len(known) - 1)
        found: npt.NDArray[np.bool_] = known[at] == ids
        return found

    def feed_batch(self, batch: npt.NDArray[Any]) -> list[RadarObjectList]:
        """Take a frame batch (structured array: ``timestamp``, ``arbitration_id``, ``flags``,
        ``dlc``, ``data``); error and remote frames are ignored. Returns the completed lists.
        """
        data = (batch["flags"] & FLAG_NOT_DATA) == 0
        data_frames = batch if data.all() else batch[data]
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
        done: list[RadarObjectList] = []
        for read, start, end in self._runs(decoded):
            kind, times, keys, payload = read.kind, read.times, read.keys, read.payload
            if kind and not self._slots:
                finished = self._on_keyed_run(
                    kind, times[start:end], keys[start:end], payload[start:end]
                )
                if finished is not None:
                    done.append(finished)
                continue
            for i in range(start, end):
                self._last_frame_s = times[i]
                if kind:
                    finished = self._on_object(kind, keys[i], payload[i])
                else:
                    finished = self._on_header(times[i], keys[i], payload[i])
                if finished is not None:
                    done.append(finished)
        return done

    def flush(self) -> RadarObjectList | None:
        """Close the current cycle: its list if it is complete, else None."""
        return self._close_by_end()

    def frames_to_complete(self) -> int:
        """How many frames at least must still come before one completes a list, unless it
        is a header (``header_frame_id``: a header closes the open cycle, and opens one that
        may be complete at once): each frame adds at most one message to the open cycle. 0
        when no cycle is open (any frame may be a header)."""
        cycle = self._cycle
        if cycle is None:
            return 0
        n, parts = cycle.expected, cycle.parts
        if self._slots:
            return max(n - len(parts[0]), 0)
        return max(n - len(parts[self._primary]), 0) + sum(
            max(n - len(parts[kind]), 0) for kind in self._optional if self._expect[kind]
        )

    def _runs(self, decoded: Mapping[str, DecodedMessage]) -> list[tuple[_Read, int, int]]:
        """The frames of every message of the definition with finite structural signals, in
        bus order, ordered by (index, message name, position): as runs of one message's
        frames, ``(read, start, end)``, ``read``'s frames ``start:end``."""
        reads: list[_Read] = []
        for reader in self._readers:
            message = decoded.get(reader.name)
            if message is None:
                continue
            read, non_finite = reader.read(message)
            if non_finite:
                self.counters["non_finite_frames"] += non_finite
            if read.times:
                reads.append(read)
        if not reads:
            return []
        index = np.concatenate([read.positions for read in reads])
        # Already in order unless a message of the batch came before one listed earlier (a
        # batch from one cycle's extended messages into the next cycle's header, say).
        if (index[1:] > index[:-1]).all():
            return [(read, 0, len(read.times)) for read in reads]
        lengths = [len(read.times) for read in reads]
        rank = np.repeat([read.rank for read in reads], lengths)
        # Concatenated message by message, each in its own order: arange is the position. A
        # run is frames of one message, one after another in it (hand-made input may have a
        # message's frames out of order).
        order = np.lexsort((np.arange(len(index)), rank, index))
        which = np.repeat(np.arange(len(reads)), lengths)[order]
        local = order - np.repeat(np.cumsum([0, *lengths[:-1]]), lengths)[order]
        breaks = (which[1:] != which[:-1]) | (local[1:] != local[:-1] + 1)
        cuts: list[int] = (np.flatnonzero(breaks) + 1).tolist()
        starts: list[int] = local[[0, *cuts]].tolist()
        runs: list[tuple[_Read, int, int]] = []
        for first, end, start in zip([0, *cuts], [*cuts, len(index)], starts, strict=True):
            runs.append((reads[int(which[first])], start, start + end - first))
        return runs

    def _on_header(
        self, timestamp: float, counter: float, count: float | None
    ) -> RadarObjectList | None:
        finished = self._close_by_end()
        self._count_missed(int(counter))
        expected = len(self._slot_of) - 1 if count is None else int(count)
        parts: list[dict[int, _Row]] = [{} for _ in (range(1) if self._slots else self._names)]
        self._cycle = _Cycle(int(counter), timestamp, expected, parts)
        return finished or self._emit_if_complete()

    def _on_object(self, kind: int, key: Any, row: _Row) -> RadarObjectList | None:
        cycle = self._cycle
        if self._slots:
            if cycle is None:
                self.counters["orphan_frames"] += 1
                return None
            part = cycle.parts[0]
            part[self._slot_of[kind]] = row
        else:
            object_id = int(key)  # a keyed message's id (finite: checked)
            if cycle is None or (
                kind != self._primary and object_id not in cycle.parts[self._primary]
            ):
                self.counters["orphan_frames"] += 1
                return None
            if kind in self._optional:
                self._expect[kind] = True
            part = cycle.parts[kind]
            part[object_id] = row
        # While the messages of this frame's kind are short the cycle is not complete.
        if len(part) < cycle.expected:
            return None
        return self._emit_if_complete()

    def _on_keyed_run(
        self, kind: int, times: list[float], keys: list[float], rows: list[_Row]
    ) -> RadarObjectList | None:
        """Take consecutive frames of one object message (keyed layout): what ``_on_object``
        does frame by frame, its dict updates made at once while the run cannot complete
        the cycle (the other messages' parts, which decide that, do not change in it)."""
        cycle = self._cycle
        self._last_frame_s = times[-1]
        if cycle is None:
            self.counters["orphan_frames"] += len(times)
            return None
        ids = list(map(int, keys))  # a keyed message's id (finite: checked)
        parts = cycle.parts
        part = parts[kind]
        if kind == self._primary:
            taken: Sequence[int] = range(len(ids))
        else:
            known = parts[self._primary]
            taken = [i for i, object_id in enumerate(ids) if object_id in known]
            if taken:
                self._expect[kind] = True
        n = cycle.expected
        if not self._others_complete(cycle, kind):
            if len(taken) == len(ids):
                part.update(zip(ids, rows, strict=True))
            else:
                part.update(zip([ids[i] for i in taken], [rows[i] for i in taken], strict=True))
            self.counters["orphan_frames"] += len(ids) - len(taken)
            return None
        for done, i in enumerate(taken, 1):
            part[ids[i]] = rows[i]
            if len(part) >= n:
                # Complete at frame i: the frames before it not taken, and every one after
                # it (no cycle open), are orphans.
                self.counters["orphan_frames"] += i + 1 - done + len(ids) - i - 1
                self._last_frame_s = times[i]
                finished = self._emit(cycle)
                self._last_frame_s = times[-1]
                return finished
        self.counters["orphan_frames"] += len(ids) - len(taken)
        return None

    def _others_complete(self, cycle: _Cycle, kind: int) -> bool:
        """Whether every message but ``kind`` the open cycle waits for has all its objects."""
        n, parts = cycle.expected, cycle.parts
        if kind != self._primary and len(parts[self._primary]) < n:
            return False
        return all(
            len(parts[other]) >= n
            for other in self._optional
            if other != kind and self._expect[other]
        )

    def _count_missed(self, counter: int) -> None:
        # The counter's step per cycle depends on the radar's configuration (2 on an ARS408
        # with firmware 4.30 sending objects only): take the smallest step seen as normal.
        if self._last_counter is not None:
            step = (counter - self._last_counter) % self.definition.counter_modulo
            if step:
                self._counter_step = min(self._counter_step or step, step)
                self.counters["missed_cycles"] += step // self._counter_step - 1
        self._last_counter = counter

    def _emit_if_complete(self) -> RadarObjectList | None:
        cycle = self._cycle
        if cycle is None:
            return None
        n = cycle.expected
        parts = cycle.parts
        if self._slots:
            return None if len(parts[0]) < n else self._emit(cycle)
        if len(parts[self._primary]) < n:
            return None
        for kind in self._optional:
            if self._expect[kind] and len(parts[kind]) < n:
                return None
        return self._emit(cycle)

    def _close_by_end(self) -> RadarObjectList | None:
        cycle = self._cycle
        if cycle is None:
            return None
        n = cycle.expected
        if not self._slots:
            parts = cycle.parts
            primary_done = len(parts[self._primary]) >= n
            # A cycle that ended with every primary message but none of an optional kind
            # tells us the radar does not send that kind (any more).
            if primary_done and n > 0:
                for kind in self._optional:
                    if not parts[kind]:
                        self._expect[kind] = False
            if primary_done and all(len(parts[kind]) in (0, n) for kind in self._optional):
                return self._emit(cycle)
        self._cycle = None
        self.counters["partial_cycles"] += 1
        return None

    def _emit(self, cycle: _Cycle) -> RadarObjectList:
        self._cycle = None
        self.counters["cycles"] += 1
        objects = self._slot_objects(cycle) if self._slots else self._keyed_objects(cycle)
        return RadarObjectList(
            sensor_id=self.sensor_id,
            cycle_counter=cycle.counter,
            timestamp=cycle.timestamp,
            objects=tuple(objects),
            completed_at=self._last_frame_s,
        )

    def _slot_objects(self, cycle: _Cycle) -> list[RadarObject]:
        """Every slot's object, in slot order, but dropped slots and non-finite objects."""
        rows = cycle.parts[0]
        return self._objects(((slot, rows[slot]) for slot in self._slot_of[1:]), [])

    def _keyed_objects(self, cycle: _Cycle) -> list[RadarObject]:
        """Every announced object in order of arrival, its optional messages' values None
        where they did not come."""
        parts = cycle.parts
        optional = [(parts[kind], self._plan.absent[kind - 1]) for kind in self._optional]
        return self._objects(parts[self._primary].items(), optional)

    def _objects(
        self,
        rows: Iterable[tuple[int, _Row]],
        optional: list[tuple[dict[int, _Row], tuple[None, ...]]],
    ) -> list[RadarObject]:
        """The objects of the rows, each with its row of every ``optional`` message appended
        (``absent`` where it has none), but dropped and non-finite ones (counted)."""
        drop_values = self.definition.drop_values
        make = self._plan.make
        finite_constants = self._plan.constants_finite
        objects = []
        for object_id, (finite, values, drop) in rows:
            for part, absent in optional:
                other = part.get(object_id)
                if other is None:
                    values += absent
                else:
                    finite = finite and other[0]
                    values += other[1]
            if drop is not None and int(drop) in drop_values:
                self.counters["dropped_objects"] += 1
            elif finite and finite_constants:
                objects.append(make(object_id, values))
            else:
                self.counters["non_finite_objects"] += 1
        return objects
