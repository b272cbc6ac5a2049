"""The benchmark's path (the SocketCAN reader's raw slots -> the port's parse -> FrameBatch ->
``decode_batch``) against plainly built arrays; the decoder's two ways of decoding a lean
message (together with others, or alone) and its reading of batches, and its output layout
(signal order, input-order index)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from unittest import mock

import numpy as np
import pytest

import protocols.dbc.vector_decoder as vector_decoder
from firmware_py.benchmarks.decode import (
    DEFAULT_DBC,
    Frame,
    decode_burst,
    frame_mix,
    socketcan_burst,
    socketcan_bursts,
)
from hal.can.frames import CAN_ERR_FLAG, CAN_RTR_FLAG, FRAME_DTYPE, make_batch
from hal.can.socketcan_structs import CAN_MTU, CANFD_MTU, pack_frame
from protocols.dbc import DecodedMessage, VectorDecoder, load_dbc
from tests.protocols.test_dbc_corpus import CORPUS, _loaded

DB = load_dbc(DEFAULT_DBC).database


def _reference(decoder: VectorDecoder, frames: list[Frame]) -> Mapping[str, DecodedMessage]:
    """The same frames through ``decode`` with arrays built the plain way, row by row."""
    width = max(8, *(len(data) for _, _, data in frames))
    data = np.zeros((len(frames), width), dtype=np.uint8)
    for row, (_, _, payload) in enumerate(frames):
        data[row, : len(payload)] = np.frombuffer(payload, dtype=np.uint8)
    return decoder.decode(
        [f[1] for f in frames], data, [len(f[2]) for f in frames], [f[0] for f in frames]
    )


def _assert_same(got: Mapping[str, DecodedMessage], want: Mapping[str, DecodedMessage]) -> None:
    assert got.keys() == want.keys()
    for name, message in want.items():
        np.testing.assert_array_equal(got[name].index, message.index)
        # Timestamps went through struct timespec: nanoseconds, not float64 bits.
        np.testing.assert_allclose(got[name].timestamp, message.timestamp, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(got[name].arbitration_id, message.arbitration_id)
        assert list(got[name].signals) == list(message.signals)
        for signal, values in message.signals.items():
            np.testing.assert_array_equal(got[name].signals[signal], values)


def _assert_identical(
    got: Mapping[str, DecodedMessage], want: Mapping[str, DecodedMessage]
) -> None:
    """Same messages in the same order, every array the same bits (-0.0 and NaNs too)."""
    assert list(got) == list(want)
    for name, message in want.items():
        for field in ("timestamp", "index", "arbitration_id"):
            assert getattr(got[name], field).tobytes() == getattr(message, field).tobytes()
        assert list(got[name].signals) == list(message.signals)
        for signal, values in message.signals.items():
            assert got[name].signals[signal].tobytes() == values.tobytes(), (name, signal)


def test_raw_slots_decode_like_plain_arrays() -> None:
    frames = frame_mix(DB, 400, seed=3).frames
    assert {len(data) for _, _, data in frames} != {8}  # the mix has short messages
    burst = socketcan_burst(frames)
    assert burst.sizes == [CAN_MTU] * len(frames)
    assert len(burst.slots) == CANFD_MTU * len(frames)
    _assert_same(decode_burst(VectorDecoder(DB), burst), _reference(VectorDecoder(DB), frames))


def test_bursts_split_the_frames_in_reads_of_the_batch_size() -> None:
    frames = frame_mix(DB, 1000, seed=7).frames
    bursts = socketcan_bursts(frames, 300)
    assert [len(b.sizes) for b in bursts] == [300, 300, 300, 100]
    decoder = VectorDecoder(DB)
    for i, burst in enumerate(bursts):
        want = _reference(VectorDecoder(DB), frames[300 * i : 300 * (i + 1)])
        _assert_same(decode_burst(decoder, burst), want)


def test_fd_records_29_bit_ids_and_short_frames() -> None:
    full = [f for f in frame_mix(DB, 50, seed=5).frames if len(f[2]) == 8][:5]
    odd = [
        *full,
        (9.0, 0x7FE, bytes(64)),  # a CAN FD record of an unknown id
        (9.1, 0x1ABCDE, bytes(8)),  # a 29-bit id the DBC does not have
        (9.2, full[0][1], full[0][2][:3]),  # shorter than its message
    ]
    burst = socketcan_burst(odd)
    assert burst.sizes[len(full)] == CANFD_MTU
    decoder = VectorDecoder(DB)
    _assert_same(decode_burst(decoder, burst), _reference(VectorDecoder(DB), odd))
    assert decoder.rejects["unknown_id"] == 2
    assert decoder.rejects["short_frame"] == 1


def test_error_and_remote_frames_are_counted_and_index_stays_the_slot_number() -> None:
    frames = frame_mix(DB, 6, seed=6).frames
    burst = socketcan_burst(frames)
    slots = bytearray(burst.slots)
    for row, flag in ((1, CAN_ERR_FLAG), (4, CAN_RTR_FLAG)):
        slots[row * CANFD_MTU : row * CANFD_MTU + CAN_MTU] = pack_frame(0x20 | flag, bytes(8))
    mixed = replace(burst, slots=bytes(slots))
    rows = np.array([0, 2, 3, 5])
    # The data frames alone, with their index mapped back to slot numbers.
    want = {
        name: DecodedMessage(m.timestamp, m.signals, rows[m.index], m.arbitration_id)
        for name, m in _reference(VectorDecoder(DB), [frames[r] for r in rows]).items()
    }
    decoder = VectorDecoder(DB)
    _assert_same(decode_burst(decoder, mixed), want)
    assert decoder.rejects["not_data"] == 2


def test_signals_keep_the_dbc_order_and_index_points_at_the_input_rows() -> None:
    frames = frame_mix(DB, 300, seed=4).frames
    decoded = decode_burst(VectorDecoder(DB), socketcan_burst(frames))
    for name, message in decoded.items():
        dbc = DB.get_message_by_name(name)
        assert list(message.signals) == [s.name for s in dbc.signals]
        assert all(frames[row][1] == dbc.frame_id for row in message.index.tolist())
        assert np.all(np.diff(message.index) > 0)  # each message's frames in input order


# Every corpus DBC that defines messages (one cantools test file defines none).
WITH_MESSAGES = [label for label in sorted(CORPUS) if _loaded(label).database.messages]


@pytest.mark.parametrize("label", WITH_MESSAGES)
def test_lean_messages_decode_to_the_same_bits_together_or_alone(label: str) -> None:
    db = _loaded(label).database
    messages = db.messages
    rng = np.random.default_rng(11)
    picked = rng.integers(0, len(messages), 3000)
    ids = [int(messages[i].frame_id) for i in picked]
    extended = [bool(messages[i].is_extended_frame) for i in picked]
    lengths = [int(messages[i].length) for i in picked]
    data = rng.integers(0, 256, (len(picked), 64), dtype=np.uint8)
    stamps = np.arange(len(picked), dtype=np.float64)

    def decoded(together_below: int) -> Mapping[str, DecodedMessage]:
        with mock.patch.object(vector_decoder, "TOGETHER_BELOW", together_below):
            return VectorDecoder(db).decode(ids, data, lengths, stamps, extended)

    alone, together = decoded(0), decoded(1 << 40)
    assert alone
    _assert_identical(together, alone)
    _assert_identical(decoded(200), alone)  # some of each, in the decoder's message order


def test_batches_with_another_layout_decode_the_same() -> None:
    frames = frame_mix(DB, 500, seed=9).frames
    batch = make_batch(frames)
    want = VectorDecoder(DB).decode_batch(batch)
    # Narrower payloads than the messages read (no word view: copied and zero-padded), a
    # wider record, and a strided batch.
    narrow = np.dtype([("timestamp", "f8"), ("arbitration_id", "u4"), ("flags", "u1"),
                       ("dlc", "u1"), ("data", "u1", (8,))])  # fmt: skip
    wide = np.dtype([*FRAME_DTYPE.descr, ("extra", "u1", (5,))])
    for dtype in (narrow, wide):
        other = np.zeros(len(batch), dtype=dtype)
        for field in ("timestamp", "arbitration_id", "flags", "dlc"):
            other[field] = batch[field]
        other["data"] = batch["data"][:, : other["data"].shape[1]]
        _assert_identical(VectorDecoder(DB).decode_batch(other), want)
    doubled = np.repeat(batch, 2)[::2]
    _assert_identical(VectorDecoder(DB).decode_batch(doubled), want)


def test_the_result_is_a_mapping_in_the_decoders_order_built_on_lookup() -> None:
    frames = frame_mix(DB, 300, seed=12).frames
    decoder = VectorDecoder(DB)
    decoded = decode_burst(decoder, socketcan_burst(frames))
    present = {DB.get_message_by_frame_id(frame_id).name for _, frame_id, _ in frames}
    assert list(decoded) == [m.name for m in DB.messages if m.name in present]
    assert len(decoded) == len(present)
    name = next(iter(decoded))
    absent = next(m.name for m in DB.messages if m.name not in present)
    assert name in decoded
    assert absent not in decoded
    assert 42 not in decoded  # type: ignore[comparison-overlap]  # any key: False, no error
    assert decoded.get(absent) is None
    assert decoded.get("no such message") is None
    with pytest.raises(KeyError):
        decoded[absent]
    message = decoded[name]
    assert decoded[name] is message  # made once, on the first lookup
    signals = message.signals
    assert list(signals) == [s.name for s in DB.get_message_by_name(name).signals]
    assert "no such signal" not in signals
    with pytest.raises(KeyError):
        signals["no such signal"]
    assert name in repr(decoded)
    assert "frames" in repr(message)


def test_a_result_stays_valid_while_later_bursts_are_decoded() -> None:
    frames = frame_mix(DB, 3000, seed=13).frames
    first, *later = socketcan_bursts(frames, 1000)
    want = decode_burst(VectorDecoder(DB), first)
    decoder = VectorDecoder(DB)
    decoded = decode_burst(decoder, first)  # nothing looked up yet
    for burst in later:
        decode_burst(decoder, burst)
    _assert_identical(decoded, want)
