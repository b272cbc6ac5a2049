"""Continental ARS408-21 object lists: decoded CAN messages in, one list per radar cycle out.

A cycle on the bus is ``Obj_0_Status`` (object count and cycle counter), then one
``Obj_1_General`` per object, then (when configured on the radar) one ``Obj_2_Quality`` and one
``Obj_3_Extended`` per object. Sensor ``n`` sends the same messages at ids + 0x10 * n.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from cantools.database.can import Database
from cantools.errors import Error as CantoolsError

from protocols.dbc import DecodedMessage, VectorDecoder, load_dbc

ARS408_DBC = Path(__file__).resolve().parents[1] / "dbc" / "files" / "ars408_id0.dbc"
SENSOR_ID_STRIDE = 0x10
STATUS, GENERAL, QUALITY, EXTENDED = (
    "Obj_0_Status",
    "Obj_1_General",
    "Obj_2_Quality",
    "Obj_3_Extended",
)
_OBJECT_MESSAGES = (STATUS, GENERAL, QUALITY, EXTENDED)
_COUNTER_MODULO = 1 << 16  # Obj_MeasCounter is 16 bits


@cache
def ars408_database() -> Database:
    """The packaged ARS408 database (sensor id 0), loaded once."""
    return load_dbc(ARS408_DBC, encoding="cp1252").database


@dataclass(frozen=True)
class RadarObject:
    """One object of a cycle, in the radar frame (x forward, y left), SI units.

    ``dyn_prop`` and ``obj_class`` are the DBC codes (e.g. class 1 = car);
    ``prob_of_exist_code`` is the DBC code (0 invalid, 1 <25% ... 7 <=100%). Extended and
    quality fields are None when the radar does not send those messages.
    """

    object_id: int
    dist_long_m: float
    dist_lat_m: float
    vrel_long_mps: float
    vrel_lat_mps: float
    dyn_prop: int
    rcs_dbsm: float
    obj_class: int | None = None
    length_m: float | None = None
    width_m: float | None = None
    prob_of_exist_code: int | None = None


@dataclass(frozen=True)
class RadarObjectList:
    """All objects of one radar cycle; ``timestamp`` is that of its ``Obj_0_Status`` frame."""

    sensor_id: int
    cycle_counter: int
    timestamp: float
    objects: tuple[RadarObject, ...]


@dataclass
class _Cycle:
    counter: int
    timestamp: float
    expected: int
    general: dict[int, dict[str, float]] = field(default_factory=dict)
    quality: dict[int, dict[str, float]] = field(default_factory=dict)
    extended: dict[int, dict[str, float]] = field(default_factory=dict)


class Ars408ObjectListAssembler:
    """Assemble complete object lists of one ARS408 sensor.

    Feed frames (``feed_frames``, ``feed_batch``) or messages already decoded with the id-0
    database (``feed``), in bus order; each returns the object lists completed by that input.
    A cycle is complete when all its announced objects, and their quality and extended
    messages if the radar sends them, have arrived. Whether it sends them is learnt: until a
    cycle ends without them, they are expected, so a radar without them delays its first
    list by one cycle. ``flush()`` closes the last cycle.

    ``counters``: ``cycles`` (emitted), ``partial_cycles`` (dropped: a new cycle began before
    this one was complete), ``missed_cycles`` (cycle counter jumps beyond its usual step),
    ``orphan_frames`` (object frames outside a cycle or for an object not announced), and the
    decoder's rejects (``short_frame``...).
    """

    def __init__(self, sensor_id: int = 0, db: Database | None = None) -> None:
        """Raises ``ValueError`` for a sensor id outside 0..7."""
        if not 0 <= sensor_id <= 7:
            raise ValueError(f"ARS408 sensor id {sensor_id} not in 0..7")
        self.sensor_id = sensor_id
        self.counters: Counter[str] = Counter()
        db = db if db is not None else ars408_database()
        self._decoder = VectorDecoder(db, _OBJECT_MESSAGES)
        # Share one Counter so decoder rejects appear with the assembler's counters.
        self._decoder.rejects = self.counters
        self._ids = np.array(
            [db.get_message_by_name(name).frame_id for name in _OBJECT_MESSAGES], dtype=np.uint32
        )
        self._cycle: _Cycle | None = None
        self._last_counter: int | None = None
        self._counter_step: int | None = None
        self._expect_quality = True
        self._expect_extended = True

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
        local = ids - np.uint32(SENSOR_ID_STRIDE * self.sensor_id)
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
        data_frames = batch[(batch["flags"] & 0x18) == 0]
        return self.feed_frames(
            data_frames["arbitration_id"],
            data_frames["data"],
            data_frames["dlc"],
            data_frames["timestamp"],
            (data_frames["flags"] & 0x01) != 0,
        )

    def feed(self, decoded: Mapping[str, DecodedMessage]) -> list[RadarObjectList]:
        """Take one ``VectorDecoder`` result (message names of the id-0 database); frames are
        replayed in ``index`` order. Returns the completed lists.
        """
        rows: list[tuple[int, str, int]] = []
        for name in _OBJECT_MESSAGES:
            message = decoded.get(name)
            if message is not None:
                rows.extend((int(i), name, pos) for pos, i in enumerate(message.index.tolist()))
        rows.sort()
        done: list[RadarObjectList] = []
        for _, name, pos in rows:
            message = decoded[name]
            values = {key: float(column[pos]) for key, column in message.signals.items()}
            finished = self._on_frame(name, float(message.timestamp[pos]), values)
            if finished is not None:
                done.append(finished)
        return done

    def flush(self) -> RadarObjectList | None:
        """Close the current cycle: its list if it has all announced objects, else None."""
        return self._close_by_end()

    def _on_frame(
        self, name: str, timestamp: float, values: dict[str, float]
    ) -> RadarObjectList | None:
        if name == STATUS:
            finished = self._close_by_end()
            counter = int(values["Obj_MeasCounter"])
            self._count_missed(counter)
            self._cycle = _Cycle(counter, timestamp, int(values["Obj_NofObjects"]))
            return finished or self._emit_if_complete()
        cycle = self._cycle
        object_id = int(values["Obj_ID"])
        if cycle is None or (name != GENERAL and object_id not in cycle.general):
            self.counters["orphan_frames"] += 1
            return None
        if name == QUALITY:
            self._expect_quality = True
            cycle.quality[object_id] = values
        elif name == EXTENDED:
            self._expect_extended = True
            cycle.extended[object_id] = values
        else:
            cycle.general[object_id] = values
        return self._emit_if_complete()

    def _count_missed(self, counter: int) -> None:
        # The counter's step per object list depends on the radar's configuration (2 on a
        # firmware 4.30 radar sending objects only): take the smallest step seen as normal.
        if self._last_counter is not None:
            step = (counter - self._last_counter) % _COUNTER_MODULO
            if step:
                self._counter_step = min(self._counter_step or step, step)
                self.counters["missed_cycles"] += step // self._counter_step - 1
        self._last_counter = counter

    def _emit_if_complete(self) -> RadarObjectList | None:
        cycle = self._cycle
        if cycle is None:
            return None
        n = cycle.expected
        if len(cycle.general) < n:
            return None
        if self._expect_quality and len(cycle.quality) < n:
            return None
        if self._expect_extended and len(cycle.extended) < n:
            return None
        return self._emit(cycle)

    def _close_by_end(self) -> RadarObjectList | None:
        cycle = self._cycle
        if cycle is None:
            return None
        n = cycle.expected
        # A cycle that ended with every general message but none of a kind tells us the
        # radar does not send that kind (any more).
        if len(cycle.general) >= n and n > 0:
            if not cycle.quality:
                self._expect_quality = False
            if not cycle.extended:
                self._expect_extended = False
        if (
            len(cycle.general) >= n
            and len(cycle.quality) in (0, n)
            and len(cycle.extended) in (0, n)
        ):
            return self._emit(cycle)
        self._cycle = None
        self.counters["partial_cycles"] += 1
        return None

    def _emit(self, cycle: _Cycle) -> RadarObjectList:
        self._cycle = None
        self.counters["cycles"] += 1
        return RadarObjectList(
            sensor_id=self.sensor_id,
            cycle_counter=cycle.counter,
            timestamp=cycle.timestamp,
            objects=tuple(
                _object(oid, general, cycle.quality.get(oid), cycle.extended.get(oid))
                for oid, general in cycle.general.items()
            ),
        )


def _object(
    object_id: int,
    general: dict[str, float],
    quality: dict[str, float] | None,
    extended: dict[str, float] | None,
) -> RadarObject:
    return RadarObject(
        object_id=object_id,
        dist_long_m=general["Obj_DistLong"],
        dist_lat_m=general["Obj_DistLat"],
        vrel_long_mps=general["Obj_VrelLong"],
        vrel_lat_mps=general["Obj_VrelLat"],
        dyn_prop=int(general["Obj_DynProp"]),
        rcs_dbsm=general["Obj_RCS"],
        obj_class=None if extended is None else int(extended["Obj_Class"]),
        length_m=None if extended is None else extended["Obj_Length"],
        width_m=None if extended is None else extended["Obj_Width"],
        prob_of_exist_code=None if quality is None else int(quality["Obj_ProbOfExist"]),
    )


def encode_object_list(
    db: Database, sensor_id: int, cycle_counter: int, objects: Sequence[RadarObject]
) -> list[tuple[int, bytes]]:
    """Encode one cycle as ``(arbitration_id, payload)`` frames in bus order.

    Takes the id-0 ARS408 database. Quality and extended messages are sent for every object
    when any object has those fields (missing ones encode as code 0 / 0 m); signals a
    ``RadarObject`` does not carry take their DBC start value. Raises ``ValueError`` for a
    sensor id outside 0..7, more than 255 objects or a value outside its signal's range.
    """
    if not 0 <= sensor_id <= 7:
        raise ValueError(f"ARS408 sensor id {sensor_id} not in 0..7")
    if len(objects) > 255:
        raise ValueError(f"{len(objects)} objects, the ARS408 list holds at most 255")
    offset = SENSOR_ID_STRIDE * sensor_id
    frames = [
        _encode(
            db,
            STATUS,
            offset,
            {
                "Obj_NofObjects": len(objects),
                "Obj_MeasCounter": cycle_counter % _COUNTER_MODULO,
            },
        )
    ]
    for obj in objects:
        frames.append(
            _encode(
                db,
                GENERAL,
                offset,
                {
                    "Obj_ID": obj.object_id,
                    "Obj_DistLong": obj.dist_long_m,
                    "Obj_DistLat": obj.dist_lat_m,
                    "Obj_VrelLong": obj.vrel_long_mps,
                    "Obj_VrelLat": obj.vrel_lat_mps,
                    "Obj_DynProp": obj.dyn_prop,
                    "Obj_RCS": obj.rcs_dbsm,
                },
            )
        )
    if any(obj.prob_of_exist_code is not None for obj in objects):
        for obj in objects:
            frames.append(
                _encode(
                    db,
                    QUALITY,
                    offset,
                    {
                        "Obj_ID": obj.object_id,
                        "Obj_ProbOfExist": obj.prob_of_exist_code or 0,
                    },
                )
            )
    if any(obj.obj_class is not None or obj.length_m is not None for obj in objects):
        for obj in objects:
            frames.append(
                _encode(
                    db,
                    EXTENDED,
                    offset,
                    {
                        "Obj_ID": obj.object_id,
                        "Obj_Class": obj.obj_class or 0,
                        "Obj_Length": obj.length_m or 0.0,
                        "Obj_Width": obj.width_m or 0.0,
                    },
                )
            )
    return frames


def _encode(db: Database, name: str, id_offset: int, values: dict[str, float]) -> tuple[int, bytes]:
    message = db.get_message_by_name(name)
    full: dict[str, float] = {}
    for signal in message.signals:
        if signal.name in values:
            full[signal.name] = values[signal.name]
        else:
            raw = signal.raw_initial if signal.raw_initial is not None else 0
            full[signal.name] = raw * signal.scale + signal.offset
    try:
        payload = message.encode(full, scaling=True, strict=True)
    except CantoolsError as err:
        raise ValueError(f"{name}: {err}") from err
    return int(message.frame_id) + id_offset, bytes(payload)
