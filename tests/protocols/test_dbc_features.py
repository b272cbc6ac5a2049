"""Vectorised decoding of CAN FD payloads, IEEE floats, extended multiplexing, value tables.

Golden values are encoded with cantools and must come back exactly from our decoder.
"""

from __future__ import annotations

import math

import cantools
import numpy as np
import pytest
from cantools.database.can import Database
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.can.frames import make_batch
from protocols.dbc import VectorDecoder

# A 64-byte CAN FD message with signals across 8-byte word boundaries, including 64-bit
# signals spanning nine bytes (Intel and Motorola), and an extended-multiplexed message
# (SG_MUL_VAL_ ranges, a nested multiplexer, two multiplexers side by side).
FEATURES_DBC = """VERSION ""
NS_ :
BS_:
BU_: ECU
BO_ 1536 FD64: 64 ECU
 SG_ IntelSpan : 4|64@1+ (1,0) [0|0] "" ECU
 SG_ MotoSpan : 83|64@0- (1,0) [0|0] "" ECU
 SG_ IntelTail : 470|20@1- (0.25,-1) [0|0] "" ECU
 SG_ MotoTail : 503|13@0+ (2,0) [0|0] "" ECU
 SG_ Double : 200|64@1- (1,0) [0|0] "" ECU
 SG_ FloatMoto : 271|32@0- (1,0) [0|0] "" ECU
BO_ 1537 XMUX: 8 ECU
 SG_ Top M : 0|4@1+ (1,0) [0|0] "" ECU
 SG_ Ranged m1 : 8|8@1+ (1,0) [0|0] "" ECU
 SG_ Inner m2M : 4|4@1+ (1,0) [0|0] "" ECU
 SG_ Deep m0 : 16|16@1- (0.5,0) [0|0] "" ECU
 SG_ Side M : 32|8@1+ (1,0) [0|0] "" ECU
 SG_ SideA m7 : 40|24@1+ (1,0) [0|0] "" ECU
SIG_VALTYPE_ 1536 Double : 2;
SIG_VALTYPE_ 1536 FloatMoto : 1;
VAL_ 1537 Side 7 "seven" 9 "nine" ;
SG_MUL_VAL_ 1537 Ranged Top 1-3, 5-5;
SG_MUL_VAL_ 1537 Inner Top 2-2, 4-4;
SG_MUL_VAL_ 1537 Deep Inner 0-0, 6-8;
SG_MUL_VAL_ 1537 SideA Side 7-7;
"""


def _db() -> Database:
    db = cantools.database.load_string(FEATURES_DBC, database_format="dbc")
    assert isinstance(db, Database)
    return db


DB = _db()


def _decode_one(frame_id: int, data: bytes) -> dict[str, float]:
    decoder = VectorDecoder(DB)
    result = decoder.decode_batch(make_batch([(0.0, frame_id, data)]))
    assert sum(decoder.rejects.values()) == 0, decoder.rejects
    (decoded,) = result.values()
    return {name: float(values[0]) for name, values in decoded.signals.items()}


@pytest.mark.parametrize(
    "values",
    [
        {
            "IntelSpan": 0xFEDCBA9876543211,
            "MotoSpan": -0x123456789ABCDEF,
            "IntelTail": -1234.75,
            "MotoTail": 8190,
            "Double": -1.2345678901234567e300,
            "FloatMoto": 3.5,
        },
        # Small magnitudes: float64 holds them exactly, so every low bit is checked (a 64-bit
        # value above 2**53 loses its low bits in the float64 arrays, as in any float).
        {
            "IntelSpan": 0x1F,
            "MotoSpan": -0x1F,
            "IntelTail": 3.25,
            "MotoTail": 6,
            "Double": 5e-324,
            "FloatMoto": -2.0,
        },
        {
            "IntelSpan": (1 << 53) - 3,
            "MotoSpan": (1 << 52) + 7,
            "IntelTail": -1.0,
            "MotoTail": 0,
            "Double": 1.0,
            "FloatMoto": 2.0**-149,  # the smallest float32 denormal
        },
    ],
)
def test_can_fd_signals_across_word_boundaries_golden(values: dict[str, int | float]) -> None:
    data = DB.encode_message("FD64", values)
    assert len(data) == 64
    decoded = _decode_one(0x600, data)
    for name, value in values.items():
        assert decoded[name] == float(value), name


def test_extended_multiplexing_golden() -> None:
    cases: list[tuple[dict[str, int | float], dict[str, float]]] = [
        ({"Top": 1, "Ranged": 200, "Side": 9}, {"Ranged": 200, "Side": 9}),
        ({"Top": 5, "Ranged": 3, "Side": 7, "SideA": 70000}, {"Ranged": 3, "SideA": 70000}),
        (
            {"Top": 2, "Ranged": 11, "Inner": 7, "Deep": -100.5, "Side": 9},
            {"Ranged": 11, "Inner": 7, "Deep": -100.5},
        ),
        ({"Top": 4, "Inner": 8, "Deep": 3.5, "Side": 9}, {"Inner": 8, "Deep": 3.5}),
    ]
    for values, present in cases:
        decoded = _decode_one(0x601, DB.encode_message("XMUX", values, strict=False))
        for name in ("Ranged", "Inner", "Deep", "SideA"):
            if name in present:
                assert decoded[name] == present[name], (values, name)
            else:
                assert math.isnan(decoded[name]), (values, name)


def test_an_undefined_multiplexer_value_is_refused_like_cantools() -> None:
    decoder = VectorDecoder(DB)
    frames = [
        bytes([0x01, 5, 0, 0, 9, 0, 0, 0]),  # Top 1, Side 9 ("nine": a value-table value)
        bytes([0x06, 5, 0, 0, 9, 0, 0, 0]),  # Top 6: no signal for it
        bytes([0x01, 5, 0, 0, 8, 0, 0, 0]),  # Side 8: neither a signal nor a table value
        bytes([0x32, 0, 0, 0, 9, 0, 0, 0]),  # Top 2, Inner 3: nested value undefined
    ]
    for data in frames[1:]:
        with pytest.raises(cantools.database.DecodeError):
            DB.decode_message("XMUX", data)
    result = decoder.decode_batch(make_batch([(float(i), 0x601, d) for i, d in enumerate(frames)]))
    assert result["XMUX"].index.tolist() == [0]
    assert decoder.rejects["decode_error"] == 3


@settings(max_examples=60, deadline=None)
@given(data=st.binary(min_size=64, max_size=64), mux=st.sampled_from([0, 1, 2, 3, 4, 5]))
def test_features_decode_like_cantools(data: bytes, mux: int) -> None:
    frames = [(0.0, 0x600, data), (1.0, 0x601, bytes([mux | (data[0] & 0xF0)]) + data[1:8])]
    result = VectorDecoder(DB).decode_batch(make_batch(frames))
    for frame_id, payload in ((0x600, data), (0x601, frames[1][2])):
        message = DB.get_message_by_frame_id(frame_id)
        try:
            want = DB.decode_message(frame_id, payload, decode_choices=False)
        except cantools.database.DecodeError:
            assert message.name not in result
            continue
        assert isinstance(want, dict)
        got = result[message.name].signals
        for signal in message.signals:
            actual = float(got[signal.name][0])
            if signal.name not in want:
                assert math.isnan(actual)
                continue
            wanted = want[signal.name]
            assert isinstance(wanted, int | float)
            value = float(wanted)
            if math.isnan(value):
                assert math.isnan(actual)
            else:
                assert math.isclose(value, actual, rel_tol=1e-9, abs_tol=1e-12), signal.name


def test_value_tables_keep_codes_and_offer_the_lookup() -> None:
    decoder = VectorDecoder(DB)
    assert decoder.choices("XMUX", "Side") == {7: "seven", 9: "nine"}
    assert decoder.choices("XMUX", "Top") == {}
    names = decoder.choice_names("XMUX", "Side", np.array([9.0, 7.0, 8.0, np.nan]))
    assert names.tolist() == ["nine", "seven", None, None]
    result = decoder.decode_batch(make_batch([(0.0, 0x601, bytes([1, 0, 0, 0, 9, 0, 0, 0]))]))
    assert result["XMUX"].signals["Side"].tolist() == [9.0]  # the code, not the name
    with pytest.raises(ValueError, match=r"no signal .Nope.*Top"):
        decoder.choices("XMUX", "Nope")
    with pytest.raises(ValueError, match="no message named 'NOPE'"):
        decoder.choices("NOPE", "Side")


def test_short_fd_frames_are_rejects_and_classic_width_arrays_work() -> None:
    decoder = VectorDecoder(DB)
    assert decoder.decode([0x600], np.zeros((1, 8), np.uint8), [8], [0.0]) == {}
    assert decoder.rejects["short_frame"] == 1
    data = np.array([[1, 1, 1, 1, 9, 1, 1, 1]], np.uint8)
    result = decoder.decode([0x601], data, [8], [0.0])
    assert result["XMUX"].signals["Ranged"].tolist() == [1.0]
