"""The benchmark's array building (raw ``(t, id, bytes)`` tuples -> decoder arrays) in each of
its paths, and the decoder's output layout (signal order, input-order index)."""

from __future__ import annotations

import numpy as np

from firmware_py.bench.decode_bench import DEFAULT_DBC, decode_frames, frame_mix
from protocols.dbc import DecodedMessage, VectorDecoder, load_dbc

DB = load_dbc(DEFAULT_DBC).database


def _reference(
    decoder: VectorDecoder, frames: list[tuple[float, int, bytes]]
) -> dict[str, DecodedMessage]:
    """The same frames through ``decode`` with arrays built the plain way, row by row."""
    width = max(8, *(len(data) for _, _, data in frames))
    data = np.zeros((len(frames), width), dtype=np.uint8)
    for row, (_, _, payload) in enumerate(frames):
        data[row, : len(payload)] = np.frombuffer(payload, dtype=np.uint8)
    return decoder.decode(
        [f[1] for f in frames], data, [len(f[2]) for f in frames], [f[0] for f in frames]
    )


def _assert_same(got: dict[str, DecodedMessage], want: dict[str, DecodedMessage]) -> None:
    assert got.keys() == want.keys()
    for name, message in want.items():
        np.testing.assert_array_equal(got[name].index, message.index)
        np.testing.assert_array_equal(got[name].timestamp, message.timestamp)
        assert list(got[name].signals) == list(message.signals)
        for signal, values in message.signals.items():
            np.testing.assert_array_equal(got[name].signals[signal], values)


def test_mixed_lengths_full_frames_and_long_payloads_build_the_same_arrays() -> None:
    frames = frame_mix(DB, 400, seed=3).frames
    assert {len(data) for _, _, data in frames} != {8}  # the mix has short messages
    decoder = VectorDecoder(DB)
    _assert_same(decode_frames(decoder, frames), _reference(decoder, frames))
    full = [(t, i, data) for t, i, data in frames if len(data) == 8]
    _assert_same(decode_frames(decoder, full), _reference(decoder, full))
    # A 64-byte (CAN FD) and a 300-byte payload (no CAN at all) of unknown ids: counted.
    odd = [*full[:5], (9.0, 0x7FE, bytes(64)), (9.1, 0x7FD, bytes(300))]
    fresh = VectorDecoder(DB)
    _assert_same(decode_frames(fresh, odd), _reference(VectorDecoder(DB), odd))
    assert fresh.rejects["unknown_id"] == 2


def test_signals_keep_the_dbc_order_and_index_points_at_the_input_rows() -> None:
    frames = frame_mix(DB, 300, seed=4).frames
    decoded = decode_frames(VectorDecoder(DB), frames)
    for name, message in decoded.items():
        dbc = DB.get_message_by_name(name)
        assert list(message.signals) == [s.name for s in dbc.signals]
        assert all(frames[row][1] == dbc.frame_id for row in message.index.tolist())
        assert np.all(np.diff(message.index) > 0)  # each message's frames in input order
