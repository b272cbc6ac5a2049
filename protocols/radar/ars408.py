"""Continental ARS408-21 object lists: the generic assembler configured by ``ars408.toml``.

A cycle on the bus is ``Obj_0_Status`` (object count and cycle counter), then one
``Obj_1_General`` per object, then (when configured on the radar) one ``Obj_2_Quality`` and one
``Obj_3_Extended`` per object. Sensor ``n`` sends the same messages at ids + 0x10 * n. The
protocol is described in ``ars408.toml``; this module keeps the ARS408 names and adds the
encoder the simulator uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

from cantools.database.can import Database
from cantools.errors import Error as CantoolsError

from protocols.dbc import load_dbc
from protocols.radar.assembler import RadarObjectListAssembler
from protocols.radar.definition import (
    RadarDefinition,
    load_radar_definition,
    shipped_definition,
)
from protocols.radar.objects import RadarObject, RadarObjectList

__all__ = [
    "ARS408_DBC",
    "SENSOR_ID_STRIDE",
    "Ars408ObjectListAssembler",
    "RadarObject",
    "RadarObjectList",
    "ars408_database",
    "ars408_definition",
    "encode_object_list",
]

ARS408_DBC = Path(__file__).resolve().parents[1] / "dbc" / "files" / "ars408_id0.dbc"
SENSOR_ID_STRIDE = 0x10
STATUS, GENERAL, QUALITY, EXTENDED = (
    "Obj_0_Status",
    "Obj_1_General",
    "Obj_2_Quality",
    "Obj_3_Extended",
)
_COUNTER_MODULO = 1 << 16  # Obj_MeasCounter is 16 bits


@cache
def ars408_database() -> Database:
    """The packaged ARS408 database (sensor id 0), loaded once."""
    return load_dbc(ARS408_DBC, encoding="cp1252").database


@cache
def _packaged_definition() -> RadarDefinition:
    return load_radar_definition(shipped_definition("ars408"), ars408_database())


def ars408_definition(db: Database | None = None) -> RadarDefinition:
    """The ARS408 radar definition (``ars408.toml``), on ``db`` (default: the packaged id-0
    database). Raises ``RadarDefinitionError`` if ``db`` lacks its messages or signals."""
    if db is None:
        return _packaged_definition()
    return load_radar_definition(shipped_definition("ars408"), db)


class Ars408ObjectListAssembler(RadarObjectListAssembler):
    """Assemble complete object lists of one ARS408 sensor (see ``RadarObjectListAssembler``).

    Feed frames (``feed_frames``, ``feed_batch``) or messages already decoded with the id-0
    database (``feed``), in bus order; each returns the object lists completed by that input.
    Quality and extended messages are expected until a cycle ends without them, so a radar
    without them delays its first list by one cycle. ``flush()`` closes the last cycle.
    """

    def __init__(self, sensor_id: int = 0, db: Database | None = None) -> None:
        """Takes the sensor id (0..7) and the id-0 database (default: the packaged one).

        Raises ``ValueError`` for a sensor id outside 0..7.
        """
        super().__init__(ars408_definition(db), sensor_id)


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
                    # No RCS: the DBC's start value, like any signal the object does not carry.
                    **({} if obj.rcs_dbsm is None else {"Obj_RCS": obj.rcs_dbsm}),
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
