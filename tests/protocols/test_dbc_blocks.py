"""Lean messages decoded in blocks (``protocols.dbc.block_runner``): messages of very
different frame counts in one batch, bins of their own, padding that never shows, and every
signal of every frame the same value as cantools (bit for bit) on hypothesis payloads, for
the shipped DBCs and the ARS408 object lists."""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from cantools.database.can import Database
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.dbc import VectorDecoder, load_dbc
from protocols.dbc.block_runner import ALONE_WASTE, LeanTable
from protocols.dbc.plan_compiler import compile_message
from protocols.radar.ars408 import EXTENDED, GENERAL, QUALITY, STATUS
from tests.protocols.test_dbc_decoder import _cantools_decode

SHIPPED = Path(__file__).resolve().parents[2] / "protocols" / "dbc" / "files"
DBCS = sorted(p.name for p in SHIPPED.glob("*.dbc"))
OBJECT_LISTS = (STATUS, GENERAL, QUALITY, EXTENDED)


@cache
def _db(name: str) -> Database:
    return load_dbc(SHIPPED / name).database


def _frames_of(
    db: Database, names: tuple[str, ...] | None, counts: list[int], seed: int
) -> tuple[list[int], np.ndarray, list[int], list[bool]]:
    """Frames of the named messages (all when None), ``counts[i % len(counts)]`` of the
    i-th, random payloads of the message's length, in a shuffled order."""
    messages = [m for m in db.messages if names is None or m.name in names]
    rng = np.random.default_rng(seed)
    picked = np.repeat(
        np.arange(len(messages)), [counts[i % len(counts)] for i in range(len(messages))]
    )
    rng.shuffle(picked)
    ids = [int(messages[i].frame_id) for i in picked]
    extended = [bool(messages[i].is_extended_frame) for i in picked]
    lengths = [int(messages[i].length) for i in picked]
    data = rng.integers(0, 256, (len(picked), 64), dtype=np.uint8)
    return ids, data, lengths, extended


def _same_bits(ours: float, theirs: float) -> bool:
    if math.isnan(ours) or math.isnan(theirs):
        return math.isnan(ours) and math.isnan(theirs)
    return ours == theirs and math.copysign(1.0, ours) == math.copysign(1.0, theirs)


def _assert_like_cantools(
    db: Database, names: tuple[str, ...] | None, counts: list[int], seed: int
) -> None:
    ids, data, lengths, extended = _frames_of(db, names, counts, seed)
    decoder = VectorDecoder(db, names)
    decoded = decoder.decode(ids, data, lengths, np.arange(len(ids), dtype=float), extended)
    seen = 0
    for name, message in decoded.items():
        msg = db.get_message_by_name(name)
        assert len(message.timestamp) == len(message.index)
        for pos, row in enumerate(message.index.tolist()):
            assert ids[row] == int(msg.frame_id)
            assert message.timestamp[pos] == row
            # Raises where cantools refuses a frame we decoded.
            want = _cantools_decode(msg, data[row, : msg.length].tobytes())
            for signal, values in message.signals.items():
                assert len(values) == len(message.index)
                if signal in want:
                    value = float(want[signal])
                    assert _same_bits(float(values[pos]), value), (name, signal, row)
            seen += 1
    assert seen + sum(decoder.rejects.values()) == len(ids)


# Frame counts per message from none to hundreds: messages of very different counts in a
# batch (bins of their own), and of about the same (sharing a bin, padded to the busiest).
COUNTS = st.lists(st.sampled_from([0, 1, 2, 3, 7, 40, 41, 90, 300]), min_size=1, max_size=6)


@pytest.mark.parametrize("dbc", DBCS)
@settings(max_examples=15, deadline=None)
@given(counts=COUNTS, seed=st.integers(0, 2**16))
def test_every_signal_of_every_frame_is_cantools_value(
    dbc: str, counts: list[int], seed: int
) -> None:
    _assert_like_cantools(_db(dbc), None, counts, seed)


@settings(max_examples=25, deadline=None)
@given(counts=COUNTS, seed=st.integers(0, 2**16))
def test_ars408_object_lists_decode_like_cantools(counts: list[int], seed: int) -> None:
    _assert_like_cantools(_db("ars408_id0.dbc"), OBJECT_LISTS, counts, seed)


def _table(db: Database, names: tuple[str, ...]) -> LeanTable:
    plans = [compile_message(db.get_message_by_name(name)) for name in names]
    assert all(plan.batch_only is not None for plan in plans)
    return LeanTable.build(tuple(plan.batch_only for plan in plans))


def test_messages_of_very_different_counts_get_bins_of_their_own() -> None:
    table = _table(_db("ars408_id0.dbc"), OBJECT_LISTS)
    # Busiest first: general, quality and extended share a bin; the status (3 signals)
    # would waste more than ALONE_WASTE padded pairs there.
    frames = [400, 390, 380, 10]
    assert ALONE_WASTE < 3 * (400 - 10)
    total = sum(frames)
    little = np.arange(total, dtype=np.uint64).reshape(-1, 1)
    starts = np.array([1170, 0, 400, 790], dtype=np.intp)  # by slot: status is slot 0
    blocks = table.decode(little, [1, 2, 3, 0], frames, starts, 1 << 30, [10, 400, 390, 380])
    assert len(blocks.blocks) == 2
    assert {blocks.placed[slot][0] for slot in (1, 2, 3)} == {0}
    assert blocks.placed[0][0] == 1
    assert blocks.placed[0][2:] == (10, 1170)
    assert blocks.placed[2] == (0, 7, 390, 400)
    assert blocks.blocks[0].shape == (7 + 10 + 7, 400)
    assert blocks.blocks[1].shape == (3, 10)
    # A message at ``alone_from`` pairs or more is alone.
    alone = table.decode(little, [1, 2, 3, 0], frames, starts, 7 * 390, [10, 400, 390, 380])
    assert len(alone.blocks) == 4


def test_a_message_in_a_wider_bin_gets_only_its_own_frames() -> None:
    db = _db("toyota_nodsu_pt_generated.dbc")
    speed, rpm = db.get_message_by_name("SPEED"), db.get_message_by_name("ENGINE_RPM")
    ids = [int(speed.frame_id)] * 50 + [int(rpm.frame_id)] * 30
    data = np.zeros((80, 8), dtype=np.uint8)
    data[50:, :] = 0xFF
    decoded = VectorDecoder(db).decode(ids, data, [8] * 80, np.arange(80.0))
    assert len(decoded["SPEED"].index) == 50
    assert len(decoded["ENGINE_RPM"].index) == 30
    for values in decoded["ENGINE_RPM"].signals.values():
        assert values.shape == (30,)
        assert len(set(values.tolist())) == 1  # all 0xFF payloads, no padding read
