"""The compiled kernels (``protocols/dbc/_kernels.c``) on their own. ``decode_rows``: each
value is numpy's, element by element, for any parameters; frames past a row's own are left
untouched. ``group_standard``: numpy's grouping (a stable sort by bucket) and gathers, for
any batch. Bad parameters raise ``ValueError`` (never a read or write out of bounds)."""

from __future__ import annotations

from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.can.frames import FLAG_EXTENDED, FLAG_NOT_DATA, empty_batch
from protocols.dbc import DecodedMessage, VectorDecoder, load_dbc
from protocols.dbc.kernels import KERNEL_ROW, compiled_kernels


def _kernel() -> Any:
    assert compiled_kernels is not None, "the kernels are not built (see test_dbc_blocks)"
    return compiled_kernels


def _expected(row: Any, word: np.uint64) -> float:
    """Numpy's passes on one word, as ``LeanTable._decode_bin`` makes them."""
    x = np.left_shift(word, np.uint64(row["left"]))
    if row["arithmetic"]:
        value = np.right_shift(x.view(np.int64), np.int64(row["right"]))
    else:
        value = np.right_shift(x, np.uint64(row["right"])).view(np.int64)
    value = np.bitwise_and(value, np.int64(row["mask"]))
    with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN are values too
        result = np.float64(value) * np.float64(row["scale"])
        if row["add"]:
            result = result + np.float64(row["offset"])
    return float(result)


@st.composite
def _cases(draw: st.DrawFn) -> tuple[Any, ...]:
    slots = draw(st.integers(1, 4))
    columns = draw(st.integers(1, 3))
    sizes = draw(st.lists(st.integers(0, 6), min_size=slots, max_size=slots))
    first_frames = [sum(sizes[:i]) for i in range(slots)]
    frames = sum(sizes)
    swapped_at = frames * columns + draw(st.integers(0, 2))
    source = np.array(
        draw(
            st.lists(
                st.integers(0, 2**64 - 1),
                min_size=swapped_at + frames * columns,
                max_size=swapped_at + frames * columns,
            )
        ),
        dtype=np.uint64,
    )
    count = draw(st.integers(0, 5))
    rows = np.zeros(count, dtype=KERNEL_ROW)
    finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
    for row in rows:
        row["slot"] = draw(st.integers(0, slots - 1))
        row["word"] = draw(st.integers(0, columns - 1))
        row["big"] = draw(st.integers(0, 1))
        row["left"] = draw(st.integers(0, 63))
        row["right"] = draw(st.integers(0, 63))
        row["arithmetic"] = draw(st.integers(0, 1))
        row["mask"] = draw(st.sampled_from([-1, 0, 1, 0xFF, 2**40 - 1]))
        row["scale"] = draw(st.one_of(st.just(1.0), finite))
        row["offset"] = draw(finite)
        row["add"] = draw(st.integers(0, 1))
    width = max(sizes) + draw(st.integers(0, 2))
    return rows, source, first_frames, sizes, width, columns, swapped_at


@settings(max_examples=300, deadline=None)
@given(case=_cases())
def test_each_value_is_numpys(case: tuple[Any, ...]) -> None:
    rows, source, first_frames, sizes, width, columns, swapped_at = case
    out = np.full((len(rows), width), 7.5)
    _kernel().decode_rows(rows, source, first_frames, sizes, out, width, columns, swapped_at)
    for r, row in enumerate(rows):
        slot = int(row["slot"])
        base = first_frames[slot] * columns + int(row["word"]) + int(row["big"]) * swapped_at
        for j in range(width):
            got = out[r, j]
            if j >= sizes[slot]:
                assert got == 7.5  # not the row's frame: untouched
                continue
            want = _expected(row, source[base + j * columns])
            assert np.float64(got).tobytes() == np.float64(want).tobytes(), (r, j)


def _good() -> tuple[Any, ...]:
    rows = np.zeros(2, dtype=KERNEL_ROW)
    rows["slot"] = [0, 1]
    rows["left"], rows["right"], rows["mask"], rows["scale"] = 56, 56, -1, 1.0
    source = np.arange(8, dtype=np.uint64)
    return rows, source, [0, 3], [3, 4], np.zeros((2, 4)), 4, 1, 0


def test_good_parameters_decode() -> None:
    args = _good()
    _kernel().decode_rows(*args)
    assert args[4].tolist() == [[0.0, 1.0, 2.0, 0.0], [3.0, 4.0, 5.0, 6.0]]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sizes": [3, 5]}, "in a block 4 wide"),
        ({"first_frames": [0, 5]}, "reads past the source"),
        ({"first_frames": [0]}, "first_frames"),
        ({"source": np.arange(6, dtype=np.uint64)}, "reads past the source"),
        ({"swapped_at": 2, "big": 1}, "reads past the source"),
        ({"out": np.zeros((2, 3))}, "out is smaller"),
        ({"columns": 0}, "columns"),
        ({"slot": 2}, "bad slot"),
        ({"word": 1}, "bad slot, word"),
        ({"left": 64}, "shift"),
        ({"right": -1}, "shift"),
        ({"sizes": [3, -1]}, "-1 frames"),
        ({"rows": b"\x00" * 10}, "whole number"),
    ],
)
def test_bad_parameters_raise_value_error(change: dict[str, Any], message: str) -> None:
    rows, source, first_frames, sizes, out, width, columns, swapped_at = _good()
    for field in ("slot", "word", "left", "right", "big"):
        if field in change:
            rows[field][1] = change.pop(field)
    given_args = {
        "rows": rows,
        "source": source,
        "first_frames": first_frames,
        "sizes": sizes,
        "out": out,
        "width": width,
        "columns": columns,
        "swapped_at": swapped_at,
    } | change
    with pytest.raises(ValueError, match=message):
        _kernel().decode_rows(*given_args.values())


def test_a_read_only_out_is_refused() -> None:
    rows, source, first_frames, sizes, out, width, columns, swapped_at = _good()
    out.flags.writeable = False
    with pytest.raises((TypeError, BufferError, ValueError)):
        _kernel().decode_rows(rows, source, first_frames, sizes, out, width, columns, swapped_at)


# --- group_standard ---------------------------------------------------------------------------

SHIPPED = Path(__file__).resolve().parents[2] / "protocols" / "dbc" / "files"
DBCS = sorted(p.name for p in SHIPPED.glob("*.dbc"))


@cache
def _decoders(name: str) -> tuple[VectorDecoder, VectorDecoder]:
    db = load_dbc(SHIPPED / name).database
    return VectorDecoder(db, compiled=True), VectorDecoder(db, compiled=False)


@st.composite
def _batches(draw: st.DrawFn, name: str) -> np.ndarray:
    """Frames of the DBC's messages (some short, some of lengths no frame has), unknown ids,
    ids past 0x7FF, and now and then an extended, error or remote frame."""
    decoder, _ = _decoders(name)
    ids = [int(i) for i in decoder._slot_ids.tolist()] or [0x100]
    count = draw(st.integers(0, 300))
    batch = empty_batch(count)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    batch["data"] = rng.integers(0, 256, (count, 64), dtype=np.uint8)
    batch["timestamp"] = rng.random(count) * 1e9
    known = rng.random(count) < draw(st.sampled_from([0.0, 0.5, 0.9, 1.0]))
    batch["arbitration_id"] = np.where(
        known, rng.choice(ids, count), rng.integers(0, 0x1000, count)
    )
    batch["dlc"] = rng.choice([0, 1, 5, 8, 8, 8, 8, 12, 64, 70, 255], count)
    if count and draw(st.booleans()):
        flag = draw(st.sampled_from([FLAG_EXTENDED, FLAG_NOT_DATA, 0x80]))
        batch["flags"][draw(st.integers(0, count - 1))] = flag
    return batch


def _same_message(a: DecodedMessage, b: DecodedMessage) -> None:
    for field in ("timestamp", "index", "arbitration_id"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert list(a.signals) == list(b.signals)
    for signal, values in a.signals.items():
        assert values.tobytes() == b.signals[signal].tobytes(), signal


@pytest.mark.parametrize("name", DBCS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_decode_batch_compiled_is_numpys(name: str, data: st.DataObject) -> None:
    batch = data.draw(_batches(name))
    compiled, plain = _decoders(name)
    if not batch["flags"].any():  # the kernels' batch: grouped by them
        assert compiled._group_standard(batch, _kernel(), 14) is not None
    before = (Counter(compiled.rejects), Counter(plain.rejects))
    ours, theirs = compiled.decode_batch(batch), plain.decode_batch(batch)
    assert list(ours) == list(theirs)
    for message in ours:  # looked up one by one, then every message at once
        _same_message(ours[message], theirs[message])
    for (_, a), (_, b) in zip(ours.items(), theirs.items(), strict=True):
        _same_message(a, b)
    assert compiled.rejects - before[0] == plain.rejects - before[1]


def test_a_strided_batch_and_another_layout_are_grouped_by_numpy() -> None:
    compiled, plain = _decoders("toyota_nodsu_pt_generated.dbc")
    batch = empty_batch(40)
    batch["arbitration_id"] = int(compiled._slot_ids[0])
    batch["dlc"] = 8
    batch["timestamp"] = np.arange(40.0)
    # The id, flags and length where the kernel reads them, the time elsewhere.
    moved = np.zeros(
        40,
        dtype=np.dtype(
            {
                "names": ["arbitration_id", "flags", "dlc", "data", "timestamp"],
                "formats": ["<u4", "u1", "u1", ("u1", (64,)), "<f8"],
                "offsets": [8, 12, 13, 16, 80],
                "itemsize": 88,
            }
        ),
    )
    for field in moved.dtype.names or ():
        moved[field] = batch[field]
    for frames in (batch[::2], moved):
        assert compiled._group_standard(frames, _kernel(), 14) is None or frames is moved
        ours, theirs = compiled.decode_batch(frames), plain.decode_batch(frames)
        assert list(ours) == list(theirs)
        for message in ours:
            _same_message(ours[message], theirs[message])


def _grouping_args(batch: np.ndarray, decoder: VectorDecoder) -> list[Any]:
    tables = decoder._tables
    assert tables.pairs is not None
    n = batch.shape[0]
    return [
        batch,
        batch.dtype.itemsize,
        14,
        1,
        tables.row_of_id,
        tables.pairs,
        tables.pairs.dtype.itemsize,
        FLAG_EXTENDED | FLAG_NOT_DATA,
        len(decoder._plans) + 3,
        np.empty(n, dtype=np.intp),
        np.empty(n, dtype=np.uint64),
        np.empty(n),
    ]


@pytest.mark.parametrize(
    ("index", "value", "message"),
    [
        (1, 13, "layout"),
        (2, 80, "layout"),
        (3, 0, "layout"),
        (6, 4, "layout"),
        (8, 2, "layout"),
        (9, np.empty(3, dtype=np.intp), "smaller than the batch"),
        (10, np.empty(3, dtype=np.uint64), "smaller than the batch"),
        (11, np.empty(3), "smaller than the batch"),
        (8, 4, "bucket"),
    ],
)
def test_group_standard_refuses_bad_parameters(index: int, value: Any, message: str) -> None:
    decoder, _ = _decoders("toyota_nodsu_pt_generated.dbc")
    batch = empty_batch(8)
    batch["arbitration_id"] = int(decoder._slot_ids[-1])
    batch["dlc"] = 8
    args = _grouping_args(batch, decoder)
    args[index] = value
    with pytest.raises(ValueError, match=message):
        _kernel().group_standard(*args)


def test_group_standard_leaves_other_frames_to_numpy_writing_nothing() -> None:
    decoder, _ = _decoders("toyota_nodsu_pt_generated.dbc")
    batch = empty_batch(8)
    batch["flags"][5] = FLAG_EXTENDED
    args = _grouping_args(batch, decoder)
    args[9][:] = -7
    assert _kernel().group_standard(*args) is None
    assert (args[9] == -7).all()
