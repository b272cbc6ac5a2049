"""Every message of every DBC in the corpus decodes like cantools, on hypothesis frames.

The corpus: opendbc and cantools test files (``tests/data/opendbc``, ``tests/data/cantools``)
and the shipped DBCs (Toyota, Hongqi, Haval, ARS408 sensor ids 0 and 1). Frames have
DLC = message length, except some shorter (counted as ``short_frame``) or longer (trimmed, as
cantools does). Multiplexed messages get a valid multiplexer value written into most frames,
so their branches are exercised rather than only refused; J1939 messages are sent with other
priorities, source and destination addresses.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

import cantools
import numpy as np
import pytest
from cantools.database.can import Message
from cantools.database.can.signal import Signal
from hypothesis import given, settings
from hypothesis import strategies as st

import protocols.dbc.vector_decoder as vector_decoder
from hal.can.frames import make_batch
from protocols.dbc import LoadedDbc, VectorDecoder, j1939_pgn, load_dbc
from protocols.dbc.vector_decoder import TOGETHER_BELOW
from tests.protocols.test_dbc_decoder import _cantools_decode, _same

PROJECT = Path(__file__).resolve().parents[2]
SHIPPED = PROJECT / "protocols" / "dbc" / "files"
DATA = PROJECT / "tests" / "data"

CORPUS: dict[str, Path] = {
    **{f"opendbc/{p.stem}": p for p in sorted((DATA / "opendbc").glob("*.dbc"))},
    **{f"cantools/{p.stem}": p for p in sorted((DATA / "cantools").glob("*.dbc"))},
    **{f"shipped/{p.stem}": p for p in sorted(SHIPPED.glob("*.dbc"))},
}
REJECTED_BY_CANTOOLS = {
    "opendbc/honda_civic_touring_2016_can_generated",
    "opendbc/hyundai_can_generated",
    "opendbc/tesla_can",
}


@cache
def _loaded(label: str) -> LoadedDbc:
    return load_dbc(CORPUS[label])


def test_corpus_is_complete() -> None:
    # The 14 opendbc files of the corpus: 10 here, the Toyota and Haval ones shipped (and the
    # Hongqi one both); the 9 cantools files; the 5 shipped files (ARS408 ids 0 and 1).
    assert len([k for k in CORPUS if k.startswith("opendbc/")]) == 10
    assert len([k for k in CORPUS if k.startswith("cantools/")]) == 9
    assert {k for k in CORPUS if k.startswith("shipped/")} == {
        "shipped/ars408_id0",
        "shipped/ars408_id1",
        "shipped/gwm_haval_h6_phev_2024",
        "shipped/hongqi_hs5",
        "shipped/toyota_nodsu_pt_generated",
    }
    assert sum(len(_loaded(k).database.messages) for k in CORPUS) == 1226


def _valid_multiplexer_ids(message: Message) -> dict[str, list[int]]:
    ids: dict[str, set[int]] = {}
    for signal in message.signals:
        if signal.multiplexer_signal is not None and signal.multiplexer_ids:
            ids.setdefault(signal.multiplexer_signal, set()).update(signal.multiplexer_ids)
    for signal in message.signals:
        if signal.is_multiplexer and signal.choices:
            ids.setdefault(signal.name, set()).update(int(k) for k in signal.choices)
    return {name: sorted(values) for name, values in ids.items()}


def _write_raw(data: bytearray, signal: Signal, length: int, raw: int) -> None:
    """Write ``raw`` into the signal's bits (a test helper; cantools checks the decoding)."""
    raw &= (1 << signal.length) - 1
    if signal.byte_order == "little_endian":
        value = int.from_bytes(data[:length], "little")
        mask = ((1 << signal.length) - 1) << signal.start
        value = (value & ~mask) | (raw << signal.start)
        data[:length] = value.to_bytes(length, "little")
    else:
        msb = 8 * (signal.start // 8) + 7 - signal.start % 8
        shift = 8 * length - (msb + signal.length)
        value = int.from_bytes(data[:length], "big")
        mask = ((1 << signal.length) - 1) << shift
        value = (value & ~mask) | (raw << shift)
        data[:length] = value.to_bytes(length, "big")


def _frame_for(message: Message, payload: bytes, selector: int) -> bytes:
    data = bytearray(payload[: message.length])
    if selector % 5 == 0:
        return bytes(data)  # random multiplexer values: mostly refused, like cantools
    for name, ids in _valid_multiplexer_ids(message).items():
        signal = message.get_signal_by_name(name)
        value = ids[(selector // 5) % len(ids)]
        raw = round((value - float(signal.offset)) / float(signal.scale))
        _write_raw(data, signal, message.length, raw)
    return bytes(data)


def _j1939_id(message: Message, selector: int) -> int:
    """Another id of the same PGN: other priority and source (and destination) address."""
    frame_id = int(message.frame_id)
    priority = selector % 8
    source = (selector >> 3) & 0xFF
    frame_id = (frame_id & 0x03FFFF00) | (priority << 26) | source
    if (frame_id >> 16) & 0xFF < 240:  # PDU1: the PDU-specific byte is a destination address
        frame_id = (frame_id & ~0xFF00) | (((selector >> 11) & 0xFF) << 8)
    return frame_id


FRAME_LENGTHS: tuple[int, ...] = (*range(9), 12, 16, 20, 24, 32, 48, 64)


def _frame_length(size: int) -> int:
    """The shortest CAN or CAN FD frame length that holds ``size`` bytes."""
    return next(length for length in FRAME_LENGTHS if length >= size)


FRAMES = st.lists(
    st.tuples(
        st.binary(min_size=64, max_size=64),
        st.integers(0, 2**20),
        # None: the message's length (rounded up to a frame length: a DBC may say 10 bytes,
        # a frame has 12); lengths no frame has are the decoder's bad_length, tested apart.
        st.one_of(st.none(), st.none(), st.sampled_from(FRAME_LENGTHS)),
    ),
    min_size=1,
    max_size=3,
)


@pytest.mark.parametrize("together_below", [0, TOGETHER_BELOW], ids=["alone", "together"])
@pytest.mark.parametrize("label", sorted(CORPUS))
@settings(max_examples=8, deadline=None)
@given(frames=FRAMES)
def test_every_message_decodes_like_cantools(
    label: str, together_below: int, frames: list[tuple[bytes, int, int | None]]
) -> None:
    # Both ways of decoding a lean message: alone, or together with the others (a few frames
    # per message as here always go together unless told not to).
    with mock.patch.object(vector_decoder, "TOGETHER_BELOW", together_below):
        _decodes_like_cantools(label, frames)


def _decodes_like_cantools(label: str, frames: list[tuple[bytes, int, int | None]]) -> None:
    db = _loaded(label).database
    decoder = VectorDecoder(db)
    rows: list[tuple[float, int, bytes, int]] = []
    expected: list[tuple[Message, dict[str, Any] | None]] = []
    shorts = 0
    for message in db.messages:
        for payload, selector, dlc in frames:
            data = _frame_for(message, payload, selector)
            size = _frame_length(message.length) if dlc is None else dlc
            if size < message.length:
                data = data[:size]
                shorts += 1
            else:
                data = data + payload[len(data) : size]  # excess bytes: cantools trims them
            frame_id = int(message.frame_id)
            if message.protocol == "j1939":
                frame_id = _j1939_id(message, selector)
            flags = 0x01 if message.is_extended_frame else 0
            rows.append((float(len(rows)), frame_id, data, flags))
            cantools_result = None
            if size >= message.length:
                try:
                    cantools_result = _cantools_decode(message, data[: message.length])
                except cantools.database.DecodeError:
                    cantools_result = None  # cantools refuses it: so must we
            expected.append((message, cantools_result))
    result = decoder.decode_batch(make_batch(rows))
    refused = sum(1 for _, d in expected if d is None) - shorts
    assert decoder.rejects["short_frame"] == shorts
    assert decoder.rejects["decode_error"] == refused
    assert decoder.rejects["unknown_id"] == 0
    for name, decoded in result.items():
        for pos, row in enumerate(decoded.index.tolist()):
            message, want = expected[row]
            assert message.name == name
            assert want is not None, (name, rows[row][2].hex())
            assert decoded.arbitration_id is not None
            assert int(decoded.arbitration_id[pos]) == rows[row][1]
            for signal in message.signals:
                actual = float(decoded.signals[signal.name][pos])
                if signal.name not in want:
                    assert math.isnan(actual), (name, signal.name)
                else:
                    value = float(want[signal.name])
                    assert _same(value, actual), (label, name, signal.name, rows[row][2].hex())
    decoded_rows = sum(len(d.index) for d in result.values())
    assert decoded_rows == sum(1 for _, d in expected if d is not None)


@pytest.mark.parametrize(
    "label",
    sorted(k for k in CORPUS if any(m.is_multiplexed() for m in _loaded(k).database.messages)),
)
def test_every_multiplexer_value_of_every_multiplexed_message(label: str) -> None:
    """Exhaustive, not sampled: each valid value of each multiplexer, on 0x00 and 0xFF bytes."""
    db = _loaded(label).database
    decoder = VectorDecoder(db)
    rows: list[tuple[float, int, bytes, int]] = []
    wants: list[dict[str, Any]] = []
    for message in (m for m in db.messages if m.is_multiplexed()):
        for name, ids in _valid_multiplexer_ids(message).items():
            signal = message.get_signal_by_name(name)
            for value in ids:
                for fill in (0x00, 0xFF):
                    data = bytearray([fill] * message.length)
                    _write_raw(data, signal, message.length, value)
                    try:
                        want = _cantools_decode(message, bytes(data))
                    except cantools.database.DecodeError:
                        continue  # a nested multiplexer holds an undefined value
                    flags = 0x01 if message.is_extended_frame else 0
                    rows.append((float(len(rows)), int(message.frame_id), bytes(data), flags))
                    wants.append(want)
    assert rows
    result = decoder.decode_batch(make_batch(rows))
    assert sum(decoder.rejects.values()) == 0
    assert sum(len(d.index) for d in result.values()) == len(rows)
    for name, decoded in result.items():
        message = db.get_message_by_name(name)
        for pos, row in enumerate(decoded.index.tolist()):
            for signal in message.signals:
                actual = float(decoded.signals[signal.name][pos])
                if signal.name in wants[row]:
                    assert _same(float(wants[row][signal.name]), actual), (name, signal.name)
                else:
                    assert math.isnan(actual), (name, signal.name)


def test_every_message_of_the_corpus_is_vectorised() -> None:
    for label in CORPUS:
        db = _loaded(label).database
        assert VectorDecoder(db).vectorised == {m.name for m in db.messages}, label


def test_the_three_files_cantools_rejects_load_with_exactly_what_was_dropped() -> None:
    civic = _loaded("opendbc/honda_civic_touring_2016_can_generated")
    assert [(d.line, d.text) for d in civic.dropped] == [
        (211, 'CM_ SG_ 304 "Seems to be platform-agnostic";'),
        (212, 'CM_ SG_ 316 "Should exist on Nidec";'),
    ]
    assert all("Invalid syntax" in d.cause for d in civic.dropped)
    assert len(civic.database.messages) == 38
    hyundai = _loaded("opendbc/hyundai_can_generated")
    assert [d.line for d in hyundai.dropped] == [1659, 1660]
    assert hyundai.dropped[0].text.startswith('CM_ 145 "Contains signal with accelerator')
    assert hyundai.dropped[1].text.startswith('CM_ 512 "Contains signal with gear shifter')
    assert len(hyundai.database.messages) == 146
    tesla = _loaded("opendbc/tesla_can")
    assert [d.line for d in tesla.dropped] == [783]
    assert tesla.dropped[0].text.startswith('VAL_ 568 UI_mapSpeedLimit 31 "SNA"')
    assert tesla.dropped[0].text.endswith('0 "UNKNOWN" ;')
    assert "unused VAL_ entries" in tesla.dropped[0].cause
    assert len(tesla.database.messages) == 44
    for loaded in (civic, hyundai, tesla):
        # After the drops they load strictly: the relaxations are exactly the drops.
        assert loaded.relaxations == tuple(
            f"dropped line {d.line}: {d.text} (cantools: {d.cause})" for d in loaded.dropped
        )
    # What was dropped is the only difference: comments and one value table.
    assert tesla.database.get_message_by_frame_id(568).name == "UI_driverAssistRoadSign"
    assert hyundai.database.get_message_by_frame_id(145).comment is None
    for label in CORPUS:
        assert bool(_loaded(label).dropped) == (label in REJECTED_BY_CANTOOLS), label


def test_j1939_pgn_masks_priority_source_and_pdu1_destination() -> None:
    db = _loaded("cantools/j1939").database
    pdu1 = db.get_message_by_name("Message1")  # PF 52: PDU1
    pdu2 = db.get_message_by_name("Message2")  # PF 240: PDU2
    # The values of cantools.j1939.pgn_from_frame_id for these ids.
    pgns = {pdu1.frame_id: 0x13400, pdu2.frame_id: 0x1F010, 0x18FEF100: 0xFEF1}
    pgns |= {0x0CF00400: 0xF004, 0x18EA00FF: 0xEA00, 0x1BEA1234: 0x3EA00}
    for frame_id, pgn in pgns.items():
        assert j1939_pgn(frame_id) == pgn, hex(frame_id)
    decoder = VectorDecoder(db)
    ids = [
        pdu1.frame_id,  # exact
        (pdu1.frame_id & 0x03FF0000) | (3 << 26) | 0x7700 | 0x42,  # other DA, SA, priority
        (pdu2.frame_id & 0x03FFFF00) | (7 << 26) | 0x99,  # other SA and priority
        (pdu2.frame_id & 0x03FF00FF) | 0x1100,  # other group extension: another PGN
    ]
    batch = make_batch([(float(i), fid, bytes([i + 1] * 8), 1) for i, fid in enumerate(ids)])
    result = decoder.decode_batch(batch)
    assert result["Message1"].index.tolist() == [0, 1]
    assert result["Message1"].signals["Signal1"].tolist() == [1.0, 2.0]
    assert result["Message2"].index.tolist() == [2]
    assert decoder.rejects["unknown_id"] == 1
    got_ids = result["Message1"].arbitration_id
    assert got_ids is not None
    assert np.array_equal(got_ids, np.array(ids[:2], np.uint32))
