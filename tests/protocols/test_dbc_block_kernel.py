"""The compiled block kernel (``protocols/dbc/_block_kernel.c``) on its own: each value is
numpy's, element by element, for any parameters; bad parameters raise ``ValueError`` (never
a read or write out of bounds); frames past a row's own are left untouched."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.dbc.block_runner import KERNEL_ROW, compiled_kernel


def _kernel() -> Any:
    assert compiled_kernel is not None, "the block kernel is not built (see test_dbc_blocks)"
    return compiled_kernel


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
