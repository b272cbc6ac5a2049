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
from protocols.dbc.block_runner import ALONE_WASTE, BinPlan, LeanTable
from protocols.dbc.kernels import compiled_kernels
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
    db: Database, names: tuple[str, ...] | None, counts: list[int], seed: int, compiled: bool
) -> None:
    ids, data, lengths, extended = _frames_of(db, names, counts, seed)
    decoder = VectorDecoder(db, names, compiled=compiled)
    assert decoder.compiled == compiled
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


def test_the_compiled_kernels_are_built() -> None:
    assert compiled_kernels is not None, (
        "protocols/dbc/_kernels.c was not built: install a C compiler and Python's "
        "headers (Debian: apt-get install gcc python3-dev), then pip install -e . again"
    )


# Both ways of grouping and decoding: the compiled kernels (the default) and numpy passes.
WAYS = pytest.mark.parametrize("compiled", [True, False], ids=["kernel", "numpy"])


@WAYS
@pytest.mark.parametrize("dbc", DBCS)
@settings(max_examples=15, deadline=None)
@given(counts=COUNTS, seed=st.integers(0, 2**16))
def test_every_signal_of_every_frame_is_cantools_value(
    dbc: str, counts: list[int], seed: int, compiled: bool
) -> None:
    _assert_like_cantools(_db(dbc), None, counts, seed, compiled)


@WAYS
@settings(max_examples=25, deadline=None)
@given(counts=COUNTS, seed=st.integers(0, 2**16))
def test_ars408_object_lists_decode_like_cantools(
    counts: list[int], seed: int, compiled: bool
) -> None:
    _assert_like_cantools(_db("ars408_id0.dbc"), OBJECT_LISTS, counts, seed, compiled)


def _table(db: Database, names: tuple[str, ...]) -> LeanTable:
    plans = [compile_message(db.get_message_by_name(name)) for name in names]
    assert all(plan.batch_only is not None for plan in plans)
    return LeanTable.build(tuple(plan.batch_only for plan in plans), compiled_kernels)


def test_messages_of_very_different_counts_get_bins_of_their_own() -> None:
    table = _table(_db("ars408_id0.dbc"), OBJECT_LISTS)
    # Status and quality are raw integers (kind 0), general and extended scaled, with
    # offsets (kind 2): general and extended share a bin; quality is binned apart from
    # them, and the status (3 signals) would waste more than ALONE_WASTE padded pairs next
    # to it.
    assert table.kinds == (0, 2, 0, 2)
    frames = [400, 390, 380, 10]
    assert ALONE_WASTE < 3 * (390 - 10)
    total = sum(frames)
    little = table.load(
        np.arange(total, dtype=np.uint64).reshape(-1, 1), np.arange(total, dtype=np.intp)
    )
    sizes, starts = [10, 400, 390, 380], [1170, 0, 400, 790]  # by slot: status is slot 0
    blocks = table.decode(little, [0, 1, 2, 3], sizes, starts, 1 << 30)
    placed = blocks.placed
    assert len(blocks.blocks) == 3
    assert placed[1][0] == placed[3][0]
    assert len({placed[slot][0] for slot in range(4)}) == 3
    assert placed[0][2:] == (10, 1170)
    assert placed[2][1:] == (0, 390, 400)
    assert placed[3][1:] == (7, 380, 790)
    assert blocks.blocks[placed[1][0]].shape == (7 + 7, 400)
    assert blocks.blocks[placed[2][0]].shape == (10, 390)
    assert blocks.blocks[placed[0][0]].shape == (3, 10)
    # A message at ``alone_from`` pairs or more is alone.
    alone = table.decode(little, [0, 1, 2, 3], sizes, starts, 7 * 390)
    assert len(alone.blocks) == 4


@pytest.mark.parametrize("dbc", DBCS)
def test_each_pass_of_a_bin_covers_every_row_that_needs_it(dbc: str) -> None:
    """The slots of a bin in the order of their kind; each pass beyond the shifts is one
    range of rows, and every row it leaves out needs nothing of it."""
    db = _db(dbc)
    plans = [compile_message(message) for message in db.messages]
    table = LeanTable.build(tuple(plan.batch_only for plan in plans), compiled_kernels)
    lean = [slot for slot, count in enumerate(table.counts) if count]
    if not lean:
        pytest.skip("no lean message")
    little = table.load(np.zeros((1, 8), dtype=np.uint64), np.zeros(1, dtype=np.intp))
    blocks = table.decode(little, lean, [1] * len(table.counts), [0] * len(table.counts), 1 << 30)
    bins = blocks.placed.bins
    assert sorted(slot for plan in bins for slot in plan.slots) == lean
    for plan in bins:
        _assert_ranges(table, plan)


def _assert_ranges(table: LeanTable, plan: BinPlan) -> None:
    assert [table.kinds[slot] for slot in plan.slots] == sorted(table.kinds[s] for s in plan.slots)
    rows = np.concatenate([table.rows_of[slot] for slot in plan.slots])
    assert [m[3] for m in plan.members] == [table.names[slot] for slot in plan.slots]
    signed, scales = table.signed[rows], table.scales[rows]
    assert not signed[: plan.logical].any()
    arithmetic = np.arange(len(rows)) >= plan.logical

    def outside(cover: tuple[int, int, np.ndarray] | None) -> np.ndarray:
        out = np.ones(len(rows), dtype=bool)
        if cover is not None:
            out[cover[0] : cover[1]] = False
        return out

    assert not (arithmetic & ~signed & outside(plan.masks)).any()
    assert (scales[outside(plan.scales)] == 1.0).all()
    assert not table.needs_offset[rows][outside(plan.offsets)].any()
    for cover, values in (
        (plan.masks, table.masks[rows]),
        (plan.scales, scales),
        (plan.offsets, table.offsets[rows]),
    ):
        if cover is not None:
            np.testing.assert_array_equal(cover[2].reshape(-1), values[cover[0] : cover[1]])


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


@pytest.mark.parametrize("dbc", DBCS)
def test_every_message_at_once_is_what_looking_each_up_gives(dbc: str) -> None:
    db = _db(dbc)
    ids, data, lengths, extended = _frames_of(db, None, [0, 3, 40, 90, 7], seed=5)
    times = np.arange(len(ids), dtype=float)
    looked_up = VectorDecoder(db).decode(ids, data, lengths, times, extended)
    at_once = VectorDecoder(db).decode(ids, data, lengths, times, extended)
    first = next(iter(at_once))
    assert at_once[first] is at_once[first]  # looked up before going through them all
    everything = dict(at_once.items())
    # The decoder's message order, as iterating gives it, each message once.
    order = [m.name for m in db.messages]
    assert list(everything) == list(at_once) == sorted(everything, key=order.index)
    assert list(at_once.values()) == list(everything.values())
    assert everything[first] is at_once[first]
    assert all(at_once[name] is message for name, message in everything.items())
    assert len(everything) == len(looked_up) > 1
    for name in looked_up:
        want, got = looked_up[name], everything[name]
        assert list(got.signals) == list(want.signals)
        for signal, values in want.signals.items():
            np.testing.assert_array_equal(got.signals[signal], values)
        np.testing.assert_array_equal(got.timestamp, want.timestamp)
        np.testing.assert_array_equal(got.index, want.index)
        assert got.arbitration_id is not None
        assert want.arbitration_id is not None
        np.testing.assert_array_equal(got.arbitration_id, want.arbitration_id)
