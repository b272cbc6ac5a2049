"""The vectorised DBC decoder against cantools, frame for frame; the relaxed DBC loader."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cantools
import numpy as np
import numpy.typing as npt
import pytest
from cantools.database.can import Database, Message
from cantools.database.utils import create_encode_decode_formats, decode_data
from hypothesis import given
from hypothesis import strategies as st

from hal.can.frames import FRAME_DTYPE, make_batch
from protocols.dbc import DecodedMessage, VectorDecoder, load_dbc
from protocols.errors import DbcLoadError, ProtocolError

PROJECT = Path(__file__).resolve().parents[2]
DBC_FILES = PROJECT / "protocols" / "dbc" / "files"
DATA = PROJECT / "tests" / "data"
ARS408_LOG = DATA / "ars408" / "candump-2026-06-24_154259.log"

# Intel and Motorola, signed, IEEE floats, one id both standard and extended, a multiplexed
# message, a 3-byte message and a full 64-bit Motorola word.
SYNTHETIC_DBC = """VERSION ""
NS_ :
BS_:
BU_: ECU
BO_ 2147484672 EXT_MSG: 8 ECU
 SG_ SignedIntel : 0|12@1- (0.5,-3) [0|0] "" ECU
 SG_ SignedMoto : 23|12@0- (1,0) [0|0] "" ECU
 SG_ Float32 : 32|32@1- (1,0) [0|0] "" ECU
BO_ 1024 STD_MSG: 8 ECU
 SG_ Double : 0|64@1- (1,0) [0|0] "" ECU
BO_ 1025 MUXED: 8 ECU
 SG_ Mux M : 0|8@1+ (1,0) [0|0] "" ECU
 SG_ A m0 : 8|16@1+ (1,0) [0|0] "" ECU
 SG_ B m1 : 15|16@0- (2,1) [0|0] "" ECU
BO_ 1026 SHORT3: 3 ECU
 SG_ X : 7|20@0+ (0.1,5) [0|0] "" ECU
 SG_ Y : 16|3@1- (1,0) [0|0] "" ECU
BO_ 1027 BIG64: 8 ECU
 SG_ W : 7|64@0+ (1,0) [0|0] "" ECU
BO_ 1028 FLOAT_MOTO: 8 ECU
 SG_ F : 7|32@0- (2,0.5) [0|0] "" ECU
SIG_VALTYPE_ 2147484672 Float32 : 1;
SIG_VALTYPE_ 1024 Double : 2;
SIG_VALTYPE_ 1028 F : 1;
"""


def _toyota() -> Database:
    return load_dbc(DBC_FILES / "toyota_nodsu_pt_generated.dbc").database


def _ars408() -> Database:
    return load_dbc(DBC_FILES / "ars408_id0.dbc", encoding="cp1252").database


def _synthetic() -> Database:
    db = cantools.database.load_string(SYNTHETIC_DBC, database_format="dbc")
    assert isinstance(db, Database)
    return db


DATABASES = {"toyota": _toyota(), "ars408": _ars408(), "synthetic": _synthetic()}


def _same(expected: float, actual: float) -> bool:
    if math.isnan(expected) or math.isnan(actual):
        return math.isnan(expected) and math.isnan(actual)
    return math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-12)


def _cantools_decode(message: Message, data: bytes) -> dict[str, Any]:
    """cantools' decoding; signal by signal where overlapping signals (a relaxed DBC) make
    cantools refuse the whole message, still with cantools' own bit unpacking."""
    try:
        decoded = message.decode(data, decode_choices=False, scaling=True)
        assert isinstance(decoded, dict)
        return decoded
    except cantools.database.DecodeError:
        if message.is_multiplexed():
            raise
    result: dict[str, Any] = {}
    for signal in message.signals:
        formats = create_encode_decode_formats([signal], message.length)
        result |= decode_data(data, message.length, [signal], formats, False, True, False, True)
    return result


def _assert_matches_cantools(
    db: Database,
    frame_ids: list[int],
    extended: list[bool],
    payloads: list[bytes],
    decoded: Mapping[str, DecodedMessage],
) -> int:
    """Check every decoded row against cantools; returns the number of rows checked."""
    checked = 0
    for name, result in decoded.items():
        message = db.get_message_by_name(name)
        assert result.timestamp.shape == result.index.shape
        for row_pos, row in enumerate(result.index.tolist()):
            assert frame_ids[row] == message.frame_id
            assert extended[row] == message.is_extended_frame
            expected = _cantools_decode(message, payloads[row][: message.length])
            for signal in message.signals:
                actual = float(result.signals[signal.name][row_pos])
                if signal.name not in expected:  # a multiplexed signal not in this frame
                    assert math.isnan(actual), (name, signal.name)
                    continue
                value = float(expected[signal.name])
                assert _same(value, actual), (name, signal.name, payloads[row].hex(), value)
            checked += 1
    return checked


@pytest.mark.parametrize("db_name", sorted(DATABASES))
@given(
    frames=st.lists(
        st.tuples(st.binary(min_size=8, max_size=8), st.integers(0, 8)), min_size=1, max_size=6
    )
)
def test_every_message_decodes_like_cantools(db_name: str, frames: list[tuple[bytes, int]]) -> None:
    db = DATABASES[db_name]
    decoder = VectorDecoder(db)
    rows: list[tuple[float, int, bytes, int]] = []
    frame_ids: list[int] = []
    extended: list[bool] = []
    payloads: list[bytes] = []
    expected_short = 0
    for message in db.messages:
        for payload, dlc in frames:
            flags = 0x01 if message.is_extended_frame else 0
            rows.append((float(len(rows)), message.frame_id, payload[:dlc], flags))
            frame_ids.append(message.frame_id)
            extended.append(message.is_extended_frame)
            payloads.append(payload[:dlc])
            expected_short += dlc < message.length
    decoded = decoder.decode_batch(make_batch(rows))
    checked = _assert_matches_cantools(db, frame_ids, extended, payloads, decoded)
    assert decoder.rejects["short_frame"] == expected_short
    assert checked + expected_short + decoder.rejects["decode_error"] == len(rows)
    for result in decoded.values():  # rows come back in input (time) order
        assert np.all(np.diff(result.index) > 0)
        assert np.array_equal(result.timestamp, result.index.astype(np.float64))


def _read_candump(path: Path) -> tuple[npt.NDArray[Any], list[bytes]]:
    line_re = re.compile(r"\((\d+\.\d+)\)\s+\S+\s+([0-9A-Fa-f]+)#([0-9A-Fa-f]*)")
    frames: list[tuple[float, int, bytes]] = []
    for line in path.read_text().splitlines():
        match = line_re.fullmatch(line.strip())
        assert match is not None, line
        frames.append((float(match[1]), int(match[2], 16), bytes.fromhex(match[3])))
    return make_batch(frames), [f[2] for f in frames]


def test_real_ars408_capture_decodes_like_cantools() -> None:
    db = DATABASES["ars408"]
    batch, payloads = _read_candump(ARS408_LOG)
    assert batch.shape[0] == 9579
    decoder = VectorDecoder(db)
    decoded = decoder.decode(
        batch["arbitration_id"], batch["data"], batch["dlc"], batch["timestamp"]
    )
    ids = batch["arbitration_id"].tolist()
    checked = _assert_matches_cantools(db, ids, [False] * len(ids), payloads, decoded)
    assert checked == 9579  # the source says every frame of this capture decodes
    assert sum(decoder.rejects.values()) == 0
    assert {"Obj_0_Status", "Obj_1_General", "Obj_2_Quality", "Obj_3_Extended"} <= set(decoded)


def test_every_message_is_vectorised_but_one_overrunning_its_length() -> None:
    for db in DATABASES.values():
        assert VectorDecoder(db).vectorised == {m.name for m in db.messages}
    # A relaxed DBC may place a signal past the message end: cantools refuses such frames,
    # and that message falls back to cantools frame by frame.
    text = SYNTHETIC_DBC.replace("BO_ 1026 SHORT3: 3 ECU", "BO_ 1026 SHORT3: 2 ECU")
    relaxed = cantools.database.load_string(text, database_format="dbc", strict=False)
    assert isinstance(relaxed, Database)
    decoder = VectorDecoder(relaxed)
    assert "SHORT3" not in decoder.vectorised
    assert decoder.decode_batch(make_batch([(0.0, 1026, bytes(2))])) == {}
    assert decoder.rejects["decode_error"] == 1


def test_extendedness_is_part_of_the_id() -> None:
    decoder = VectorDecoder(DATABASES["synthetic"])
    payload = bytes(range(1, 9))
    decoded = decoder.decode_batch(make_batch([(1.0, 0x400, payload, 0), (2.0, 0x400, payload, 1)]))
    assert decoded["STD_MSG"].timestamp.tolist() == [1.0]
    assert decoded["EXT_MSG"].timestamp.tolist() == [2.0]


def test_unknown_ids_short_error_and_remote_frames_are_counted_not_raised() -> None:
    decoder = VectorDecoder(DATABASES["ars408"], messages=["Obj_0_Status"])
    batch = make_batch(
        [
            (0.0, 0x60A, bytes(4)),  # decoded
            (0.1, 0x60A, bytes(3)),  # short
            (0.2, 0x60B, bytes(8)),  # in the DBC but not selected
            (0.3, 0x123, bytes(8)),  # unknown
            (0.4, 0x60A, bytes(4), 0x01),  # extended 0x60A: a different id
            (0.5, 0x60A, bytes(4), 0x08),  # error frame
            (0.6, 0x60A, b"", 0x10),  # remote request
        ]
    )
    decoded = decoder.decode_batch(batch)
    assert list(decoded) == ["Obj_0_Status"]
    assert decoded["Obj_0_Status"].index.tolist() == [0]
    assert dict(decoder.rejects) == {"short_frame": 1, "unknown_id": 3, "not_data": 2}
    assert decoder.decode_batch(np.zeros(0, dtype=FRAME_DTYPE)) == {}


def test_bad_arguments_are_value_errors() -> None:
    with pytest.raises(ValueError, match="NoSuchMessage"):
        VectorDecoder(DATABASES["ars408"], messages=["NoSuchMessage"])
    decoder = VectorDecoder(DATABASES["ars408"])
    with pytest.raises(ValueError, match="W>=8"):
        decoder.decode([0x60A], np.zeros((1, 4), np.uint8), [4], [0.0])


def test_load_dbc_strict_file_has_no_relaxations() -> None:
    loaded = load_dbc(DBC_FILES / "ars408_id0.dbc")  # not utf-8: falls back to cp1252
    assert loaded.relaxations == ()
    assert loaded.database.get_message_by_name("Obj_1_General").frame_id == 0x60B


def test_load_dbc_relaxes_and_reports_why() -> None:
    loaded = load_dbc(DATA / "opendbc" / "hongqi_hs5.dbc")
    assert len(loaded.relaxations) == 1
    assert "overlapping" in loaded.relaxations[0]
    assert "ABS_3" in loaded.relaxations[0]
    assert len(loaded.database.messages) == 16


def test_load_dbc_raises_when_cantools_cannot_load_it(tmp_path: Path) -> None:
    # A signal definition cantools refuses is never dropped: the error names line and cause.
    path = tmp_path / "bad_signal.dbc"
    path.write_text(
        'VERSION ""\nBO_ 12 FOO: 8 X\n SG_ A : 0|8@1+ (1,0) [0|0] "" X\n'
        ' SG_ B : 0|8@1+ (1,0 [0|0] "" X\n'
    )
    with pytest.raises(DbcLoadError, match=r"(?s)bad_signal\.dbc.*line 4") as info:
        load_dbc(path)
    assert isinstance(info.value, ProtocolError)
    assert info.value.reason == "dbc_load"
    assert info.value.__cause__ is not None


def test_load_dbc_drops_a_comment_cantools_refuses_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "comment.dbc"
    path.write_text(
        'VERSION ""\nBO_ 12 FOO: 8 X\n SG_ A : 0|8@1+ (1,0) [0|0] "" X\n'
        'CM_ SG_ 12 "no signal name;\nsecond line";\nCM_ SG_ 12 A "kept";\n'
        'VAL_ 12 NOPE 1 "one" ;\n'
    )
    loaded = load_dbc(path)
    assert [(d.line, d.text) for d in loaded.dropped] == [
        (4, 'CM_ SG_ 12 "no signal name;\nsecond line";'),
        (7, 'VAL_ 12 NOPE 1 "one" ;'),
    ]
    assert loaded.relaxations[0].startswith("dropped line 4: CM_ SG_ 12")
    assert "Invalid syntax at line 4" in loaded.relaxations[0]
    assert "unused VAL_ entries" in loaded.relaxations[1]
    assert loaded.database.get_message_by_name("FOO").get_signal_by_name("A").comment == "kept"


def test_load_dbc_names_the_line_of_a_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.dbc"
    path.write_text('VERSION ""\nBO_ 12 FOO: 8 X\n SG_ A : 0|8@1+ (1,0) [0|0] "" X\n garbage\n')
    with pytest.raises(DbcLoadError, match="line 4"):
        load_dbc(path)
    with pytest.raises(DbcLoadError, match="cannot read"):
        load_dbc(tmp_path / "missing.dbc")
    path.write_bytes(b'VERSION "\xe9"\n')
    with pytest.raises(DbcLoadError, match="cannot decode"):
        load_dbc(path, encoding="ascii")
    with pytest.raises(ValueError, match="no-such-codec"):
        load_dbc(path, encoding="no-such-codec")


def test_a_zero_scale_keeps_cantools_positive_zero() -> None:
    # cantools computes raw * 0 + 0: +0.0 even for a negative raw value, where raw * 0 alone
    # is -0.0. A multiplexed message takes the compiled per-message path.
    text = SYNTHETIC_DBC.replace(
        "SIG_VALTYPE_ 2147484672",
        'BO_ 1029 MUXZ: 8 ECU\n SG_ Mux M : 0|8@1+ (1,0) [0|0] "" ECU\n'
        ' SG_ Z m1 : 40|8@1- (0,0) [0|0] "" ECU\nSIG_VALTYPE_ 2147484672',
    )
    db = cantools.database.load_string(text, database_format="dbc")
    assert isinstance(db, Database)
    payload = bytes([1, 0, 0, 0, 0, 0xF0, 0, 0])  # multiplexer 1, Z raw -16
    want = _cantools_decode(db.get_message_by_name("MUXZ"), payload)["Z"]
    decoded = VectorDecoder(db).decode_batch(make_batch([(0.0, 1029, payload)]))
    (value,) = decoded["MUXZ"].signals["Z"].tolist()
    assert (value, math.copysign(1.0, value)) == (want, math.copysign(1.0, want)) == (0.0, 1.0)
