"""``VectorDecoder.decode_batch`` reads a ``FRAME_DTYPE`` batch's ids, flags and lengths as
one word per frame (``_heads``): on any batch (any ids, flags, lengths, payloads; sliced
and strided batches) it decodes exactly what the general path decodes, the same batch in
another layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

import protocols.dbc
from hal.can.frames import (
    FLAG_BRS,
    FLAG_ERROR,
    FLAG_EXTENDED,
    FLAG_FD,
    FLAG_REMOTE,
    FRAME_DTYPE,
    empty_batch,
)
from protocols.dbc import DecodedBatch, VectorDecoder, load_dbc

TOYOTA = load_dbc(
    Path(protocols.dbc.__file__).parent / "files" / "toyota_nodsu_pt_generated.dbc"
).database
KNOWN = sorted(int(m.frame_id) for m in TOYOTA.messages if not m.is_extended_frame)
# The same fields in another order: ``decode_batch``'s general path.
OTHER_LAYOUT = np.dtype(
    [
        ("data", np.uint8, (64,)),
        ("dlc", np.uint8),
        ("flags", np.uint8),
        ("arbitration_id", np.uint32),
        ("timestamp", np.float64),
    ]
)
IDS = st.one_of(st.sampled_from(KNOWN), st.integers(0, 0x7FF), st.integers(0, 2**32 - 1))
LENGTHS = st.one_of(st.integers(0, 8), st.sampled_from([12, 64, 9, 255]))
FLAGS = st.sampled_from([FLAG_EXTENDED, FLAG_ERROR, FLAG_REMOTE, FLAG_FD, FLAG_FD | FLAG_BRS, 0x80])
FRAMES = st.lists(
    st.tuples(IDS, LENGTHS, st.binary(min_size=64, max_size=64), st.one_of(st.just(0), FLAGS)),
    min_size=0,
    max_size=40,
)


def _batch(frames: list[tuple[int, int, bytes, int]], flagged: bool) -> npt.NDArray[Any]:
    """The frames, with their flags when ``flagged``, else all data frames of 11-bit ids."""
    batch = empty_batch(len(frames))
    for i, (frame_id, length, data, flags) in enumerate(frames):
        batch[i]["timestamp"] = 100.0 + i
        batch[i]["arbitration_id"] = frame_id
        batch[i]["dlc"] = length
        batch[i]["flags"] = flags if flagged else 0
        batch[i]["data"] = np.frombuffer(data, dtype=np.uint8)
    return batch


def _assert_same(
    got: DecodedBatch, want: DecodedBatch, got_decoder: VectorDecoder, want_decoder: VectorDecoder
) -> None:
    assert list(got) == list(want)
    for name, message in want.items():
        other = got[name]
        assert list(other.signals) == list(message.signals)
        for signal, values in message.signals.items():
            np.testing.assert_array_equal(other.signals[signal], values)
        np.testing.assert_array_equal(other.timestamp, message.timestamp)
        np.testing.assert_array_equal(other.index, message.index)
        np.testing.assert_array_equal(other.arbitration_id, message.arbitration_id)
    assert +got_decoder.rejects == +want_decoder.rejects


@settings(max_examples=150, deadline=None)
@given(
    frames=FRAMES,
    flagged=st.booleans(),
    step=st.sampled_from([1, 2]),
    start=st.integers(0, 2),
)
def test_batches_decode_as_the_general_path_decodes_them(
    frames: list[tuple[int, int, bytes, int]], flagged: bool, step: int, start: int
) -> None:
    batch = _batch(frames, flagged)[start::step]
    other = np.empty(batch.shape[0], dtype=OTHER_LAYOUT)
    for name in FRAME_DTYPE.names or ():
        other[name] = batch[name]
    ours, general = VectorDecoder(TOYOTA), VectorDecoder(TOYOTA)
    _assert_same(ours.decode_batch(batch), general.decode_batch(other), ours, general)


def test_the_kept_buffer_leaves_earlier_results_alone() -> None:
    """Bursts decoded one after the other by one decoder (the heads' buffer reused, grown
    by a bigger burst) give what fresh decoders give each."""
    rng = np.random.default_rng(3)
    sizes = [50, 5000, 20, 4096]
    bursts = []
    for size in sizes:
        frames = [
            (int(rng.choice(KNOWN)), 8, rng.integers(0, 256, 64, dtype=np.uint8).tobytes(), 0)
            for _ in range(size)
        ]
        bursts.append(_batch(frames, flagged=False))
    decoder = VectorDecoder(TOYOTA)
    results = [decoder.decode_batch(burst) for burst in bursts]
    for burst, result in zip(bursts, results, strict=True):
        fresh = VectorDecoder(TOYOTA)
        want = fresh.decode_batch(burst)
        for name, message in want.items():
            for signal, values in message.signals.items():
                np.testing.assert_array_equal(result[name].signals[signal], values)
            np.testing.assert_array_equal(result[name].arbitration_id, message.arbitration_id)
