"""What ``DecodedBatch`` gives without keeping the input: a message's ``arbitration_id``
(for 11-bit ids made from its message's id, not gathered from the batch), ``timestamp`` and
``index`` cut on first read, and ``signals`` of messages made all at once by ``values()``,
all equal to what the input frames say, however the result is gone through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cantools
import numpy as np
import numpy.typing as npt
from cantools.database.can import Database
from hypothesis import given, settings
from hypothesis import strategies as st

import protocols.dbc
from hal.can.frames import empty_batch
from protocols.dbc import DecodedBatch, VectorDecoder, load_dbc

TOYOTA = load_dbc(
    Path(protocols.dbc.__file__).parent / "files" / "toyota_nodsu_pt_generated.dbc"
).database

# A lean message, a multiplexed one and one with a float signal (the last two decoded on
# their own, not in the blocks), all with 11-bit ids.
MIXED_DBC = """VERSION ""
NS_ :
BS_:
BU_: ECU
BO_ 256 Lean: 8 ECU
 SG_ Speed : 7|16@0+ (0.01,0) [0|0] "" ECU
 SG_ Count : 16|8@1+ (1,0) [0|0] "" ECU
BO_ 512 Muxed: 8 ECU
 SG_ Selector M : 0|4@1+ (1,0) [0|0] "" ECU
 SG_ First m0 : 8|16@1- (0.5,0) [0|0] "" ECU
 SG_ Second m1 : 8|8@1+ (1,0) [0|0] "" ECU
BO_ 768 Floaty: 8 ECU
 SG_ Value : 0|32@1- (1,0) [0|0] "" ECU
 SG_ Flag : 32|1@1+ (1,0) [0|0] "" ECU
SIG_VALTYPE_ 768 Value : 1;
"""


def _mixed() -> Database:
    db = cantools.database.load_string(MIXED_DBC, database_format="dbc")
    assert isinstance(db, Database)
    return db


MIXED = _mixed()


def _batch(frames: list[tuple[int, int, bytes]]) -> npt.NDArray[Any]:
    batch = empty_batch(len(frames))
    for i, (frame_id, length, data) in enumerate(frames):
        batch[i]["timestamp"] = 1000.0 + 0.5 * i
        batch[i]["arbitration_id"] = frame_id
        batch[i]["dlc"] = length
        batch[i]["data"][:8] = np.frombuffer(data, dtype=np.uint8)
    return batch


def _assert_cuts_match_input(decoded: DecodedBatch, batch: npt.NDArray[Any]) -> None:
    for message in decoded.values():
        index = message.index
        assert index.shape[0] > 0
        np.testing.assert_array_equal(message.timestamp, batch["timestamp"][index])
        ids = message.arbitration_id
        assert ids is not None
        assert ids.dtype == np.uint32
        np.testing.assert_array_equal(ids, batch["arbitration_id"][index])
        for values in message.signals.values():
            assert values.shape == index.shape


def _frames(db: Database, draw: Any, count: int) -> list[tuple[int, int, bytes]]:
    known = [int(m.frame_id) for m in db.messages]
    frame_id = st.one_of(st.sampled_from(known), st.integers(0, 0x7FF))
    return [
        (
            draw(frame_id),
            draw(st.sampled_from([8, 8, 8, 2])),  # some too short for their message
            draw(st.binary(min_size=8, max_size=8)),
        )
        for _ in range(count)
    ]


@settings(max_examples=60, deadline=None)
@given(data=st.data(), count=st.integers(1, 120), looked_up=st.integers(0, 3))
def test_ids_times_and_rows_are_the_input_frames(
    data: st.DataObject, count: int, looked_up: int
) -> None:
    for db in (TOYOTA, MIXED):
        # The first frame is one of a message, whole: some frame is decoded.
        known = int(db.messages[0].frame_id), int(db.messages[0].length), bytes(8)
        batch = _batch([known, *_frames(db, data.draw, count)])
        decoded = VectorDecoder(db).decode_batch(batch)
        assert decoded
        # Some messages looked up first (made one by one), then every message at once.
        for name in list(decoded)[:looked_up]:
            np.testing.assert_array_equal(
                decoded[name].arbitration_id, batch["arbitration_id"][decoded[name].index]
            )
        _assert_cuts_match_input(decoded, batch)


def test_messages_made_at_once_equal_those_looked_up() -> None:
    rng = np.random.default_rng(7)
    known = [int(m.frame_id) for m in TOYOTA.messages]
    frames = [
        (int(rng.choice(known)), 8, rng.integers(0, 256, 8, dtype=np.uint8).tobytes())
        for _ in range(3000)
    ]
    batch = _batch(frames)
    decoder = VectorDecoder(TOYOTA)
    every = decoder.decode_batch(batch)
    one_by_one = decoder.decode_batch(batch)
    made = dict(every.items())
    assert list(made) == list(one_by_one)
    for name, message in made.items():
        alone = one_by_one[name]
        assert isinstance(message.signals, dict)
        assert list(message.signals) == list(alone.signals)
        for signal, values in message.signals.items():
            np.testing.assert_array_equal(values, alone.signals[signal])
        np.testing.assert_array_equal(message.timestamp, alone.timestamp)
        np.testing.assert_array_equal(message.index, alone.index)
        np.testing.assert_array_equal(message.arbitration_id, alone.arbitration_id)
        assert repr(message) == repr(alone)
