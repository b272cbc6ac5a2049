"""Decode the lean messages of a batch of frames (those whose whole decode is one
``SignalBatch``) as a few 2-D blocks: ``LeanTable``.

The messages present in a batch are put in bins of messages with about as many frames; each
bin is one block of values, ``float64[signals of its messages, frames of its busiest
message]``, a message's rows padded to the bin's width with values nobody reads. A block
costs a dozen numpy calls whatever its messages and signals: each row's payload word for
every frame read (a bin of a few messages: each message's word shifted straight into a kept
buffer, one call per message; a bin of many: one gather of rows of a strided view of the
payloads), then a shift right, a mask, the conversion, a multiply and an add, each with
per-row parameters broadcast as column vectors (no per-(signal, frame) parameter arrays).
The Python work per batch is per bin, plus one comparison per message to bin it; where each
message's values are is worked out only when a message is looked up (``Placement``).

A table keeps buffers between batches (a fresh array of a batch's size, freed and made again
batch after batch, is paged in again each time once glibc trims its heap): one decoder is for
one thread at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from protocols.dbc.plan_compiler import BoolArray, FloatArray, SignalBatch, U64Array

IndexArray = npt.NDArray[np.intp]

ALONE_WASTE = 1024
"""Padding (signal, frame) pairs a message may add to a bin whose width is more than twice
its frame count; beyond that it starts a bin of its own (measured: a bin costs about as much
as a few thousand padded pairs)."""
_PLAN_CACHE = 512  # bins remembered (a bus's mix repeats burst after burst)
_RUNS = 12
"""Bins with at most this many runs of rows reading one word (``BinPlan.runs``) shift each
run's word straight into a kept buffer, one call per run; others gather every row's word at
once (one call, but a new array per batch: measured, at this size and below the calls are
cheaper, and no fresh array of the block's size is paged in per batch)."""
_BIG = 1 << 62


@dataclass(frozen=True, eq=False)
class BinPlan:
    """The rows of one bin (the signals of its slots, slot after slot, each in its DBC
    order) and their parameters as column vectors (``float64``/``int64``/``uint64[R, 1]``).

    ``slot_of_row`` and ``word`` give each row's word: the payload word ``word`` of the
    frames of slot ``slot_of_row``; ``big_endian`` (None: no row reads one) says which rows
    read the byte-swapped copy. ``masks`` is None when the right shift alone is the decode
    (all rows signed, arithmetic; or all unsigned, logical); ``scales`` None when all are 1,
    ``offsets`` when adding them changes nothing.
    """

    slots: tuple[int, ...]
    first_rows: tuple[int, ...]  # each slot's first row in the block
    # Rows reading the same word of the same slot's frames, one after the other: (first row,
    # end row, slot, word + (big-endian: 1 << 62, the swapped copy)); None: too many to
    # read run by run (see ``_RUNS``).
    runs: tuple[tuple[int, int, int, int], ...] | None
    slot_of_row: IndexArray
    word: IndexArray
    big_endian: npt.NDArray[np.int64] | None
    lefts: U64Array
    rights: npt.NDArray[Any]
    signed: bool
    masks: npt.NDArray[np.int64] | None
    scales: FloatArray | None
    offsets: FloatArray | None


class Placement(Mapping[int, tuple[int, int, int, int]]):
    """Where each slot decoded in blocks is: ``placement[slot] = (block, first row, frames,
    first frame in message order)``; worked out on first use (a consumer that looks nothing
    up pays nothing per message)."""

    __slots__ = ("_bins", "_first_frames", "_frames", "_placed")

    def __init__(self, bins: list[BinPlan], frames: list[int], first_frames: list[int]) -> None:
        self._bins, self._frames, self._first_frames = bins, frames, first_frames
        self._placed: dict[int, tuple[int, int, int, int]] | None = None

    def _dict(self) -> dict[int, tuple[int, int, int, int]]:
        if self._placed is None:
            frames, first_frames = self._frames, self._first_frames
            self._placed = {
                slot: (block, first, frames[slot], first_frames[slot])
                for block, plan in enumerate(self._bins)
                for slot, first in zip(plan.slots, plan.first_rows, strict=True)
            }
        return self._placed

    def __getitem__(self, slot: int) -> tuple[int, int, int, int]:
        return self._dict()[slot]

    def __iter__(self) -> Iterator[int]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())


@dataclass(frozen=True, eq=False)
class DecodedBlocks:
    """What ``LeanTable.decode`` returns: the blocks, and where each decoded slot's values
    are."""

    blocks: list[FloatArray]
    placed: Placement


@dataclass(frozen=True, eq=False)
class LeanTable:
    """The ``SignalBatch`` of every lean message of a decoder, as one table of rows (a row
    per signal), from which each bin's ``BinPlan`` is cut.

    Shifts: left by ``lefts`` (the signal's most significant bit to bit 63), then right by
    ``rights`` (64 - length): arithmetically when a row of the bin is signed (sign-extends
    it), the unsigned rows then masked to their length by ``masks`` (-1 for a signed row).
    Values are ``float64(raw) * scale + offset``, cantools' order, so they are the same bit
    for bit.
    """

    counts: tuple[int, ...]  # signals per slot (0: not lean)
    rows_of: tuple[IndexArray, ...]  # each slot's rows
    word: IndexArray
    big_endian: BoolArray
    lefts: U64Array
    rights: npt.NDArray[np.int64]
    signed: BoolArray
    masks: npt.NDArray[np.int64]
    scales: FloatArray
    offsets: FloatArray
    _plans: dict[tuple[int, ...], BinPlan] = field(default_factory=dict)
    _scratch: list[U64Array] = field(default_factory=list)

    @staticmethod
    def build(batches: tuple[SignalBatch | None, ...]) -> LeanTable:
        """The table of ``batches``, indexed by slot (None: a slot that is not lean)."""
        present = [b for b in batches if b is not None]
        counts = [0 if b is None else len(b.names) for b in batches]
        ends = np.cumsum(counts, dtype=np.intp)
        rows_of = tuple(
            np.arange(end - count, end, dtype=np.intp)
            for end, count in zip(ends, counts, strict=True)
        )

        def rows(values: list[npt.NDArray[Any]], dtype: type[np.generic]) -> npt.NDArray[Any]:
            return np.concatenate([np.zeros(0, dtype=dtype), *(v.reshape(-1) for v in values)])

        # (payload byte, big-endian) of each signal's word.
        words = rows([np.array(b.words, dtype=np.intp)[b.word_index] for b in present], np.intp)
        words = words.reshape(-1, 2)
        rights = rows([b.rights for b in present], np.uint64).astype(np.int64)
        signed = rows(
            [
                np.full(len(b.names), b.signed) if b.masks is None else b.masks == -1
                for b in present
            ],
            np.bool_,
        )
        # Lengths are below 64 (batched signals only): the mask fits in int64.
        masks = np.where(signed, np.int64(-1), (np.int64(1) << (64 - rights)) - 1)
        scales = [np.ones(len(b.names)) if b.scales is None else b.scales for b in present]
        offsets = [np.zeros(len(b.names)) if b.offsets is None else b.offsets for b in present]
        return LeanTable(
            counts=tuple(counts),
            rows_of=rows_of,
            word=words[:, 0] // 8,
            big_endian=words[:, 1] != 0,
            lefts=rows([b.lefts for b in present], np.uint64),
            rights=rights,
            signed=signed,
            masks=masks.astype(np.int64),
            scales=rows(scales, np.float64),
            offsets=rows(offsets, np.float64),
        )

    def decode(
        self,
        little: U64Array,
        slots: list[int],
        frames: list[int],
        starts: IndexArray,
        alone_from: int,
        sizes: list[int],
    ) -> DecodedBlocks:
        """Decode the frames of ``slots`` (``frames[i]`` of slot ``slots[i]``, busiest
        first), slot ``s``'s from row ``starts[s]`` of ``little``: payloads as aligned words
        read little-endian, C-contiguous native ``uint64[N, C]``, ``C`` at least the
        columns of every slot's batch. A slot with ``alone_from`` (signal, frame) pairs or
        more gets a bin of its own. ``sizes``: frames of every slot, by slot.
        """
        bins: list[tuple[list[int], int]] = []
        current: list[int] = []
        width = 0
        counts = self.counts
        for slot, count in zip(slots, frames, strict=True):
            signals = counts[slot]
            if current and (
                signals * count >= alone_from
                or (2 * count < width and signals * (width - count) > ALONE_WASTE)
            ):
                bins.append((current, width))
                current = []
            if not current:
                width = count
            current.append(slot)
            if signals * count >= alone_from:
                bins.append((current, width))
                current = []
        if current:
            bins.append((current, width))
        source, size = self._source(little, max(w for _, w in bins))
        columns = little.shape[1]
        blocks: list[FloatArray] = []
        plans: list[BinPlan] = []
        first_frames = starts.tolist()
        for members, width in bins:
            members.sort()  # the plan's key: the same mix gives the same bins
            plan = self._plan(tuple(members))
            plans.append(plan)
            blocks.append(
                self._decode_bin(plan, source, size, columns, starts, first_frames, width)
            )
        return DecodedBlocks(blocks, Placement(plans, sizes, first_frames))

    def _source(self, little: U64Array, width: int) -> tuple[U64Array, int]:
        """The payload words flat, their byte-swapped copy after them when a row reads
        big-endian words, then room for the widest bin's reads past the last frame (kept
        between batches: a buffer of the batch's size made anew each time would be paged
        in anew). Returns the buffer and the size of the words."""
        size = little.size
        columns = little.shape[1]
        need = 2 * size + (width + 1) * columns
        if not self._scratch or self._scratch[0].shape[0] < need:
            self._scratch[:] = [np.zeros(max(need, 1 << 16), dtype=np.uint64)]
        source = self._scratch[0]
        flat = little.reshape(-1)
        source[:size] = flat
        if self.big_endian.any():
            source[size : 2 * size] = flat.byteswap()
        return source, size

    def _plan(self, slots: tuple[int, ...]) -> BinPlan:
        plan = self._plans.get(slots)
        if plan is not None:
            return plan
        if len(self._plans) >= _PLAN_CACHE:
            self._plans.clear()
        rows = np.concatenate([self.rows_of[slot] for slot in slots])
        counts = [self.counts[slot] for slot in slots]
        signed = self.signed[rows]
        scales = self.scales[rows]
        offsets = self.offsets[rows]
        big = self.big_endian[rows]

        def column(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
            return np.ascontiguousarray(values.reshape(-1, 1))

        any_signed = bool(signed.any())
        keys = [
            (slot, int(word) + (_BIG if big_endian else 0))
            for slot, word, big_endian in zip(
                np.repeat(slots, counts).tolist(),
                self.word[rows].tolist(),
                big.tolist(),
                strict=True,
            )
        ]
        runs: list[tuple[int, int, int, int]] = []
        for row, key in enumerate(keys):
            if runs and (runs[-1][2], runs[-1][3]) == key:
                runs[-1] = (runs[-1][0], row + 1, *key)
            else:
                runs.append((row, row + 1, *key))
        plan = BinPlan(
            slots=slots,
            first_rows=tuple(int(c) for c in np.cumsum([0, *counts[:-1]])),
            runs=tuple(runs) if len(runs) <= _RUNS else None,
            slot_of_row=np.repeat(np.array(slots, dtype=np.intp), counts),
            word=self.word[rows],
            big_endian=big.astype(np.int64) if big.any() else None,
            lefts=column(self.lefts[rows]),
            rights=column(self.rights[rows] if any_signed else self.rights[rows].astype(np.uint64)),
            signed=any_signed,
            masks=column(self.masks[rows]) if any_signed and not signed.all() else None,
            scales=None if (scales == 1.0).all() else column(scales),
            # Adding a zero offset still turns -0.0 (raw 0 times a negative scale, or a
            # negative raw times 0) into 0.0, as cantools' ``raw * scale + offset`` does: it
            # is left out only where it changes nothing.
            offsets=None if ((offsets == 0.0) & (scales > 0.0)).all() else column(offsets),
        )
        self._plans[slots] = plan
        return plan

    def _decode_bin(
        self,
        plan: BinPlan,
        source: U64Array,
        size: int,
        columns: int,
        starts: IndexArray,
        first_frames: list[int],
        width: int,
    ) -> FloatArray:
        if plan.runs is not None:
            # Each run's word of its slot's frames (a strided slice of the buffer) shifted
            # straight into a kept buffer: no gather, no new array but the values.
            rows = len(plan.slot_of_row)
            if len(self._scratch) < 2 or self._scratch[1].shape[0] < rows * width:
                self._scratch[1:] = [np.empty(max(rows * width, 1 << 15), dtype=np.uint64)]
            raw = self._scratch[1][: rows * width].reshape(rows, width)
            step = width * columns
            for begin, end, slot, word in plan.runs:
                offset = first_frames[slot] * columns + (word & ~_BIG)
                if word & _BIG:
                    offset += size
                np.left_shift(
                    source[offset : offset + step : columns],
                    plan.lefts[begin:end],
                    out=raw[begin:end],
                )
        else:
            # Row r reads words at ``first[r] + j * columns`` (frame j of its slot): rows of
            # a strided view of the buffer, gathered in one fancy index.
            first = np.take(starts, plan.slot_of_row)
            first *= columns
            first += plan.word
            if plan.big_endian is not None:
                first += plan.big_endian * size
            window: U64Array = np.ndarray(
                (source.shape[0] - (width - 1) * columns, width),
                dtype=np.uint64,
                buffer=source,
                strides=(8, 8 * columns),
            )
            raw = window[first]
            np.left_shift(raw, plan.lefts, out=raw)
        # Every raw value fits in int64 (lengths below 64), and int64 converts faster.
        integers = raw.view(np.int64)
        if plan.signed:
            np.right_shift(integers, plan.rights, out=integers)
            if plan.masks is not None:
                np.bitwise_and(integers, plan.masks, out=integers)
        else:
            np.right_shift(raw, plan.rights, out=raw)
        values: FloatArray = integers.astype(np.float64)
        if plan.scales is not None:
            values *= plan.scales
        if plan.offsets is not None:
            values += plan.offsets
        return values
