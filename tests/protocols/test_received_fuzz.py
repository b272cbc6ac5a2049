"""Received inputs fuzzed near their valid shape: radar frames (a real cycle, then bytes
overwritten, frames dropped, repeated, re-addressed, cut), TSCBM datagrams and V2X frames
with bytes changed. Nothing raises but the documented ``ProtocolError`` subclass (the radar
assembler raises nothing at all on frames), and nothing non-finite comes out.

Arbitrary bytes are fuzzed in ``test_tscbm``, ``test_csae53`` and ``test_finite_outputs``, and
non-finite decoded radar values in ``test_radar_non_finite``: random bytes rarely get past a
length or header check, so these start from valid inputs and break them a little.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from hal.can.frames import FLAG_EXTENDED, empty_batch
from protocols.envelope import non_finite_fields
from protocols.errors import TscbmError, V2xError
from protocols.radar import (
    RadarDefinition,
    RadarObject,
    RadarObjectList,
    RadarObjectListAssembler,
    ars408_database,
    ars408_definition,
    encode_object_list,
    load_radar_definition,
    shipped_definition,
)
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.spat import decode_tscbm, encode_tscbm
from protocols.spat import to_spat as tscbm_to_spat
from protocols.v2x import (
    KINDS,
    decode_message_frame,
    encode_bsm,
    encode_spat,
    station_id_bytes,
    to_spat,
    to_vehicle_state,
)
from tests.protocols.test_finite_outputs import floats_in
from tests.protocols.test_tscbm import messages as tscbm_messages

ARS408 = ars408_definition()
ESR = load_radar_definition(shipped_definition("delphi_esr"))
Frame = tuple[float, int, bytes, int]  # timestamp, id, payload, flags
TSCBM_REASONS = {
    "bad_length",
    "bad_header",
    "bad_phase_count",
    "bad_phase_number",
    "duplicate_phase",
}


# --- radar ------------------------------------------------------------------------------------


def _ids(definition: RadarDefinition, sensor_id: int) -> list[int]:
    db = definition.database
    offset = definition.id_stride * sensor_id
    return [db.get_message_by_name(name).frame_id + offset for name in definition.messages]


def _ars408_cycle(sensor_id: int, counter: int, count: int) -> list[tuple[int, bytes]]:
    objects = [
        RadarObject(i, 10.0 + i, 1.0, -2.0, 0.0, 1, 5.0, 1, 4.0, 2.0, 7) for i in range(count)
    ]
    return encode_object_list(ars408_database(), sensor_id, counter, objects)


def _esr_cycle(sensor_id: int, rng: random.Random, fill: int) -> list[tuple[int, bytes]]:
    """The header and every slot message, payloads all ``fill`` (0 or 0xFF) or random."""
    frames = []
    for frame_id, name in zip(_ids(ESR, sensor_id), ESR.messages, strict=True):
        length = ESR.database.get_message_by_name(name).length
        payload = bytes([fill] * length) if fill >= 0 else rng.randbytes(length)
        frames.append((frame_id, payload))
    return frames


@st.composite
def radar_input(draw: st.DrawFn) -> tuple[RadarDefinition, int, list[Frame], list[int]]:
    """A definition, a sensor id, two or three cycles of its frames broken a little, and where
    to split them into batches."""
    definition = draw(st.sampled_from([ARS408, ESR]))
    sensor_id = draw(st.integers(0, definition.max_sensor_id))
    rng = random.Random(draw(st.integers(0, 2**32)))
    frames: list[tuple[int, bytes]] = []
    for _ in range(draw(st.integers(2, 3))):
        if definition is ARS408:
            frames += _ars408_cycle(sensor_id, draw(st.integers(0, 65535)), draw(st.integers(0, 5)))
        else:
            frames += _esr_cycle(sensor_id, rng, draw(st.sampled_from([0, 0xFF, -1, -1])))
    ids = _ids(definition, sensor_id)
    out: list[Frame] = [(0.01 * i, fid, data, 0) for i, (fid, data) in enumerate(frames)]
    for _ in range(draw(st.integers(0, 12))):
        if not out:
            break
        at = draw(st.integers(0, len(out) - 1))
        time, fid, data, flags = out[at]
        change = draw(
            st.sampled_from(["byte", "bytes", "drop", "repeat", "readdress", "cut", "flags", "t"])
        )
        if change == "byte" and data:
            position = draw(st.integers(0, len(data) - 1))
            data = data[:position] + bytes([draw(st.integers(0, 255))]) + data[position + 1 :]
        elif change == "bytes":
            data = draw(st.binary(min_size=len(data), max_size=len(data)))
        elif change == "drop":
            del out[at]
            continue
        elif change == "repeat":
            out.insert(at, out[at])
            continue
        elif change == "readdress":
            fid = draw(st.one_of(st.sampled_from(ids), st.integers(0, 0x1FFFFFFF)))
        elif change == "cut":
            data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
        elif change == "flags":
            flags = draw(st.integers(0, 255))
        else:
            time = draw(st.floats(allow_nan=True, allow_infinity=True))
        out[at] = (time, fid, data, flags)
    cuts = sorted(draw(st.lists(st.integers(0, len(out)), max_size=3)))
    return definition, sensor_id, out, cuts


def _batch(frames: list[Frame]) -> Any:
    """A frame batch as a port fills it; ``dlc`` is the payload length (a cut frame keeps the
    zeros after it, as a short frame does)."""
    batch = empty_batch(len(frames))
    for row, (time, fid, data, flags) in enumerate(frames):
        batch[row]["timestamp"] = time
        batch[row]["arbitration_id"] = fid
        batch[row]["flags"] = flags | (FLAG_EXTENDED if fid > 0x7FF else 0)
        batch[row]["dlc"] = len(data)
        batch[row]["data"][: len(data)] = np.frombuffer(data, dtype=np.uint8)
    return batch


def _finite(lists: list[RadarObjectList]) -> bool:
    values = [lst.timestamp for lst in lists] + [
        value for lst in lists for obj in lst.objects for value in obj if isinstance(value, float)
    ]
    return all(math.isfinite(value) for value in values)


@settings(max_examples=150, deadline=None)
@given(radar_input())
def test_broken_radar_cycles_never_raise_and_give_finite_objects(
    case: tuple[RadarDefinition, int, list[Frame], list[int]],
) -> None:
    definition, sensor_id, frames, cuts = case
    assembler = RadarObjectListAssembler(definition, sensor_id)
    lists: list[RadarObjectList] = []
    for start, stop in zip([0, *cuts], [*cuts, len(frames)], strict=True):
        lists += assembler.feed_batch(_batch(frames[start:stop]))
    last = assembler.flush()
    lists += [] if last is None else [last]
    event(f"{definition.name}: {min(len(lists), 2)} lists")
    assert _finite(lists)
    assert assembler.counters["cycles"] == len(lists)
    assert all(lst.sensor_id == sensor_id for lst in lists)
    for lst in lists:
        assert all(isinstance(obj.object_id, int) for obj in lst.objects)
        assert len({obj.object_id for obj in lst.objects}) == len(lst.objects)
    assert all(count >= 0 for count in assembler.counters.values())


def test_the_fuzzed_cycles_do_come_out_unbroken() -> None:
    # The starting point of the fuzz is valid: without changes every cycle but the last,
    # closed by the next header (or flush), is a list.
    for definition, frames in [
        (ARS408, _ars408_cycle(3, 10, 4) + _ars408_cycle(3, 11, 2)),
        (ESR, _esr_cycle(0, random.Random(1), -1) + _esr_cycle(0, random.Random(2), 0)),
    ]:
        sensor_id = 3 if definition is ARS408 else 0
        assembler = RadarObjectListAssembler(definition, sensor_id)
        batch = _batch([(0.01 * i, fid, data, 0) for i, (fid, data) in enumerate(frames)])
        lists = assembler.feed_batch(batch)
        last = assembler.flush()
        lists += [] if last is None else [last]
        assert len(lists) == 2, definition.name
        assert _finite(lists)


# --- TSCBM ------------------------------------------------------------------------------------


@settings(max_examples=300)
@given(
    message=tscbm_messages,
    changes=st.lists(st.tuples(st.integers(0, 244), st.integers(0, 255)), max_size=6),
    groups=st.none() | st.dictionaries(st.integers(0, 20), st.integers(0, 255), max_size=20),
)
def test_tscbm_datagrams_with_bytes_changed_decode_or_raise_a_tscbm_error(
    message: Any, changes: list[tuple[int, int]], groups: dict[int, int] | None
) -> None:
    data = bytearray(encode_tscbm(message))
    for position, value in changes:
        data[position] = value
    reason = None
    try:
        decoded = decode_tscbm(bytes(data))
    except TscbmError as err:
        reason = err.reason
    event(f"tscbm: {reason or 'decoded'}")
    if reason is not None:
        assert reason in TSCBM_REASONS
        return
    assert all(1 <= p.phase <= 16 for p in decoded.phases)
    spat = tscbm_to_spat(decoded, intersection_id=7, signal_groups=groups)
    assert non_finite_fields(spat) == []
    assert all(0 <= p.min_end_s <= p.max_end_s for p in spat.phases)


# --- V2X --------------------------------------------------------------------------------------

FINITE = st.floats(-1e6, 1e6)


@st.composite
def v2x_frame(draw: st.DrawFn) -> bytes:
    """A BSM or SPaT we encode (any finite values), then bits flipped, bytes set, the frame
    cut or extended."""
    if draw(st.booleans()):
        state = pb.VehicleState(
            position=pb.Position(latitude_deg=draw(FINITE), longitude_deg=draw(FINITE)),
            speed_mps=draw(FINITE),
            heading_rad=draw(FINITE),
            yaw_rate_rad_s=draw(FINITE),
            lateral_accel_mps2=draw(FINITE),
            steering_wheel_angle_rad=draw(FINITE),
        )
        data = encode_bsm(
            state, vehicle_id=station_id_bytes(7), msg_cnt=draw(st.integers(0, 127)), unix_s=1e9
        )
    else:
        spat = pb.SignalPhaseTiming(intersection_id=draw(st.integers(0, 65535)))
        for group in range(1, draw(st.integers(1, 16)) + 1):
            end = draw(st.floats(0, 4000))
            spat.phases.append(
                pb.PhaseState(
                    signal_group=group,
                    state=draw(st.sampled_from(list(pb.SignalState.values()))),
                    min_end_s=end,
                    max_end_s=end,
                    likely_end_s=end,
                )
            )
        data = encode_spat(spat, msg_cnt=draw(st.integers(0, 127)), unix_s=1e9)
    frame = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(frame) - 1))
        change = draw(st.sampled_from(["flip", "set", "cut", "extend"]))
        if change == "flip":
            frame[at] ^= 1 << draw(st.integers(0, 7))
        elif change == "set":
            frame[at] = draw(st.integers(0, 255))
        elif change == "cut":
            del frame[max(1, at) :]  # an empty frame is tested apart (reason "empty")
        elif change == "extend":
            frame += draw(st.binary(min_size=1, max_size=8))
    return bytes(frame)


@settings(max_examples=400, deadline=None)
@given(v2x_frame())
def test_v2x_frames_with_bits_changed_decode_or_raise_a_v2x_error(data: bytes) -> None:
    reason = None
    try:
        kind, fields = decode_message_frame(data)
    except V2xError as err:
        reason = err.reason
    event(f"v2x: {reason or 'decoded'}")
    if reason is not None:
        assert reason in ("empty", "malformed")
        return
    assert kind in KINDS.values()
    assert all(math.isfinite(value) for value in floats_in(fields))
    if kind == "bsm":
        assert non_finite_fields(to_vehicle_state(fields)) == []
    if kind == "spat":
        assert all(non_finite_fields(spat) == [] for spat in to_spat(fields))
