"""Decode the lean messages of a batch of frames (those whose whole decode is one
``SignalBatch``) as a few 2-D blocks: ``LeanTable``.

``load`` gathers the batch's payload words once, in message order, into a kept buffer. The
messages present in a batch are put in bins of messages with about as many frames; each bin
is one block of values, ``float64[signals of its messages, frames of its busiest
message]``, a message's rows padded to the bin's width with values nobody reads. A block
costs a dozen numpy calls whatever its messages and signals: each row's payload word for
every frame read (a bin of a few messages: each message's word shifted straight into a kept
buffer, one call per message; a bin of many: one gather of the few distinct words its rows
read, from a strided view of the payloads, then a take of whole rows repeating them for
their rows), then a shift right, a mask, the conversion, a multiply and an add, each with
per-row parameters broadcast as column vectors (no per-(signal, frame) parameter arrays).
A bin's messages are in the order of their kind (signed or not, scaled, with an offset), so
that each pass after the shifts is one range of rows, only the rows that need it; messages
of raw unsigned integers are binned apart, except in the usual batch (messages of about as
many frames), one bin made without a loop over its messages. The Python work per batch is
per bin. Where each message's values are is worked out only when a message is looked up
(``Placement``). Where the package was built with its compiled kernels (``kernels``), a
block is instead one call, one pass over each row's frames (``BinPlan.kernel_rows``: the
same passes, row by row), the same values.

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

from protocols.dbc.kernels import KERNEL_ROW, DecodeKernels
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


def _kind(signed: bool, scaled: bool, offset: bool) -> int:
    """A lean slot's place in a bin (``LeanTable.kinds``): slots without a signed signal
    first, those with one after, the slots needing an offset in the middle and the scaled
    ones around them, so that each pass is one range of rows."""
    if signed:
        return 3 if offset else 4 if scaled else 5
    return 2 if offset else 1 if scaled else 0


@dataclass(frozen=True, eq=False)
class BinPlan:
    """The rows of one bin (the signals of its slots, slot after slot, each in its DBC
    order) and their parameters as column vectors (``float64``/``int64``/``uint64[R, 1]``).

    The slots are in the order of their kind (``LeanTable.kinds``), so that each pass
    beyond the shifts covers one range of rows, only as many as need it: the rows of slots
    without a signed signal are shifted right logically (``logical``), the others
    arithmetically, the unsigned rows among those masked (``masks``), then the scaled rows
    multiplied (``scales``) and the rows whose offset changes a value added to
    (``offsets``). A range may take in rows that do not need its pass, where the pass
    changes nothing (a mask of all ones on a signed row, a scale of 1, an offset of 0 with
    a positive scale).

    ``slot_of_row`` gives each row's slot; the rows read the payload words ``key_*`` (of a
    slot's frames, a word, from the byte-swapped copy or not), row ``r`` the one numbered
    ``row_key[r]``: a bin whose rows read few distinct words gathers those, then repeats
    them for their rows from there (a small, cached array). ``masks`` is None when the
    right shift alone is the decode (all rows signed, arithmetic; or all unsigned,
    logical); ``scales`` None when all are 1, ``offsets`` when adding them changes nothing.
    """

    slots: tuple[int, ...]
    first_rows: tuple[int, ...]  # each slot's first row in the block
    # (slot, first row, end row, signal names) of each slot.
    members: tuple[tuple[int, int, int, tuple[str, ...]], ...]
    # Rows reading the same word of the same slot's frames, one after the other: (first row,
    # end row, slot, word + (big-endian: 1 << 62, the swapped copy)); None: too many to
    # read run by run (see ``_RUNS``).
    runs: tuple[tuple[int, int, int, int], ...] | None
    slot_of_row: IndexArray
    # The distinct words the rows read (slot, word, big-endian: 1, else 0), in row order,
    # and which one each row reads (None: each its own).
    key_slot: IndexArray
    key_word: IndexArray
    key_big: npt.NDArray[np.int64] | None
    row_key: IndexArray | None
    lefts: U64Array
    # Rows [0, logical) are shifted right logically by ``logical_rights``, the others
    # arithmetically by ``arithmetic_rights``.
    logical: int
    logical_rights: U64Array
    arithmetic_rights: npt.NDArray[np.int64]
    # (first row, end row, parameters of those rows); None: no row needs the pass.
    masks: tuple[int, int, npt.NDArray[np.int64]] | None
    scales: tuple[int, int, FloatArray] | None
    offsets: tuple[int, int, FloatArray] | None
    # Every row's parameters for the compiled kernel (``KERNEL_ROW``), the passes above
    # row by row.
    kernel_rows: npt.NDArray[Any]
    # (where the byte-swapped copy is, ``key_offsets`` for it): the last one made.
    _offsets: list[Any] = field(default_factory=list)

    def key_offsets(self, swapped_at: int) -> IndexArray:
        """Where each distinct word is read from, relative to its slot's first word in
        ``LeanTable``'s buffer: its word, plus ``swapped_at`` for the byte-swapped copy
        (kept: the copy stays where it is as long as the buffer does)."""
        cache = self._offsets
        if not cache or cache[0] != swapped_at:
            offsets = self.key_word.copy()
            if self.key_big is not None:
                offsets += self.key_big * swapped_at
            cache[:] = [swapped_at, offsets]
        offsets_now: IndexArray = cache[1]
        return offsets_now


class Placement(Mapping[int, tuple[int, int, int, int]]):
    """Where each slot decoded in blocks is: ``placement[slot] = (block, first row, frames,
    first frame in message order)``; worked out on first use (a consumer that looks nothing
    up pays nothing per message). ``bins``: each block's plan; ``frames`` and
    ``first_frames``: of each slot, by slot (what ``DecodedBatch`` reads when it makes every
    message at once)."""

    __slots__ = ("_placed", "bins", "first_frames", "frames")

    def __init__(self, bins: list[BinPlan], frames: list[int], first_frames: list[int]) -> None:
        self.bins, self.frames, self.first_frames = bins, frames, first_frames
        self._placed: dict[int, tuple[int, int, int, int]] | None = None

    def _dict(self) -> dict[int, tuple[int, int, int, int]]:
        if self._placed is None:
            frames, first_frames = self.frames, self.first_frames
            self._placed = {
                slot: (block, first, frames[slot], first_frames[slot])
                for block, plan in enumerate(self.bins)
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
    ``rights`` (64 - length): logically for the rows of a message without a signed signal,
    else arithmetically (sign-extends the signed rows), the unsigned rows among those then
    masked to their length by ``masks`` (-1 for a signed row).
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
    most_signals: int  # of any slot
    names: tuple[tuple[str, ...], ...]  # each slot's signals (empty: not lean)
    # Each slot's kind, the order of slots in a bin (see ``BinPlan``): 0-2 without a signed
    # signal (0: raw unsigned integers, 1: scaled, 2: an offset), 3-5 with one (3: an
    # offset, 4: scaled, 5: neither).
    kinds: tuple[int, ...]
    needs_offset: BoolArray  # each row's offset changes some value (not 0, or scale <= 0)
    _any_big_endian: bool
    # The compiled block decode (``kernels``), or None for the numpy passes.
    kernel: DecodeKernels | None = None
    _plans: dict[tuple[int, ...], BinPlan] = field(default_factory=dict)
    _scratch: list[U64Array] = field(default_factory=list)
    # Where the byte-swapped copy ``load`` made starts in the buffer (a third of it in).
    _swapped_box: list[int] = field(default_factory=lambda: [0])

    @staticmethod
    def build(batches: tuple[SignalBatch | None, ...], kernel: DecodeKernels | None) -> LeanTable:
        """The table of ``batches``, indexed by slot (None: a slot that is not lean), its
        blocks decoded by ``kernel`` (None: by the numpy passes)."""
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
        all_scales = rows(scales, np.float64)
        # Adding a zero offset still turns -0.0 (raw 0 times a negative scale, or a negative
        # raw times 0) into 0.0, as cantools' ``raw * scale + offset`` does.
        needs_offset = (rows(offsets, np.float64) != 0.0) | (all_scales <= 0.0)
        kinds = tuple(
            0
            if count == 0
            else _kind(
                bool(signed[end - count : end].any()),
                bool((all_scales[end - count : end] != 1.0).any()),
                bool(needs_offset[end - count : end].any()),
            )
            for end, count in zip(ends.tolist(), counts, strict=True)
        )
        return LeanTable(
            counts=tuple(counts),
            rows_of=rows_of,
            word=words[:, 0] // 8,
            big_endian=words[:, 1] != 0,
            lefts=rows([b.lefts for b in present], np.uint64),
            rights=rights,
            signed=signed,
            masks=masks.astype(np.int64),
            scales=all_scales,
            offsets=rows(offsets, np.float64),
            most_signals=max(counts, default=0),
            names=tuple(() if b is None else b.names for b in batches),
            kinds=kinds,
            needs_offset=needs_offset,
            _any_big_endian=bool(words[:, 1].any()),
            kernel=kernel,
        )

    def load(self, words: npt.NDArray[np.unsignedinteger[Any]], known: IndexArray) -> U64Array:
        """Gather the payload words of the frames ``known`` (rows of ``words``: ``uint64[N,
        C]`` read little-endian, any strides) into the kept buffer, in that order; returns
        them as native ``uint64[M, C]``, a view of the buffer valid until the next ``load``.

        The buffer holds them flat, then, a third of the buffer in (where it stays while
        the buffer does: the bins' read offsets are kept), their byte-swapped copy when a row
        of the table reads big-endian words, with room after each for the widest bin's reads
        past the last frame (a buffer of the batch's size made anew each time would be paged
        in anew).
        """
        frames, columns = known.shape[0], words.shape[1]
        little = self.words_buffer(frames, columns)[: frames * columns].reshape(frames, columns)
        if words.dtype == little.dtype:
            # mode "clip": with the default, numpy copies into ``out`` through a buffer.
            words.take(known, axis=0, out=little, mode="clip")
        else:  # little-endian words on a big-endian host
            little[:] = np.take(words, known, axis=0)
        self.loaded(little)
        return little

    def words_buffer(self, frames: int, columns: int) -> U64Array:
        """The kept buffer's first part, room for ``frames`` frames of ``columns`` words (as
        ``load`` fills it; ``loaded`` once they are there)."""
        size = frames * columns
        need = 3 * size + columns
        if not self._scratch or self._scratch[0].shape[0] < need:
            self._scratch[:1] = [np.zeros(max(need, 1 << 16), dtype=np.uint64)]
        return self._scratch[0][:size]

    def loaded(self, little: U64Array) -> None:
        """``little`` (``uint64[M, C]``, the start of ``words_buffer``) holds the frames'
        words: add their byte-swapped copy when a row reads big-endian words."""
        source = self._scratch[0]
        # The byte-swapped copy at a fixed place (the bins' read offsets stay the same).
        swapped_at = source.shape[0] // 3
        if self._any_big_endian:
            # The words seen in the other byte order, cast to native while copying: the
            # bytes of each word reversed, in one pass.
            flat = little.reshape(-1)
            source[swapped_at : swapped_at + flat.shape[0]] = flat.view(flat.dtype.newbyteorder())
        self._swapped_box[0] = swapped_at

    def decode(
        self,
        little: U64Array,
        slots: list[int],
        sizes: list[int],
        first_frames: list[int],
        alone_from: int,
    ) -> DecodedBlocks:
        """Decode the frames of ``slots`` (ascending), ``sizes[s]`` of slot ``s`` from row
        ``first_frames[s]`` of ``little``, what ``load`` returned (``C`` at least the columns
        of every slot's batch). A slot with ``alone_from`` (signal, frame) pairs or more
        gets a bin of its own.
        """
        bins: list[tuple[list[int], int]] = []
        frames = list(map(sizes.__getitem__, slots))
        width = max(frames)
        if 2 * min(frames) >= width and self.most_signals * width < alone_from:
            # The usual batch: messages of about as many frames, none alone, one bin (what
            # ``_bins`` gives them, without its Python work per message; measured on the
            # Toyota powertrain mix, one bin instead of two saves about 5 us a burst).
            bins.append((slots, width))
        else:
            # The raw unsigned integers (kind 0) binned apart: their rows need no pass beyond
            # the shifts wherever they are, but a block of every message is one allocation
            # of all the batch's values, and with the last result kept alive, as a consumer
            # does, ARS408 object lists (a status message, then 40 times as many object
            # frames) were decoded in glibc's heap-trim regime (its top given back and
            # faulted in again every burst: 81 page faults per burst, 31 with two blocks).
            kinds = self.kinds
            for group in ([s for s in slots if not kinds[s]], [s for s in slots if kinds[s]]):
                if not group:
                    continue
                group_frames = list(map(sizes.__getitem__, group))
                group_width = max(group_frames)
                if 2 * min(group_frames) >= group_width and (
                    self.most_signals * group_width < alone_from
                ):
                    bins.append((group, group_width))
                else:
                    bins.extend(self._bins(group, group_frames, alone_from))
        source, swapped_at = self._scratch[0], self._swapped_box[0]
        columns = little.shape[1]
        blocks: list[FloatArray] = []
        plans: list[BinPlan] = []
        starts: IndexArray | None = None
        for members, bin_width in bins:
            plan = self._plan(tuple(members))  # the same mix gives the same bins
            plans.append(plan)
            if plan.runs is None and starts is None and self.kernel is None:
                starts = np.array(first_frames, dtype=np.intp)
                if columns != 1:
                    starts *= columns
            blocks.append(
                self._decode_bin(
                    plan, source, swapped_at, columns, starts, first_frames, sizes, bin_width
                )
            )
        return DecodedBlocks(blocks, Placement(plans, sizes, first_frames))

    def _bins(
        self, slots: list[int], frames: list[int], alone_from: int
    ) -> list[tuple[list[int], int]]:
        """``slots`` (``frames[i]`` frames of ``slots[i]``) in bins of messages of about as
        many frames, each with its width: busiest first, a message starts a bin of its own
        when it has ``alone_from`` (signal, frame) pairs or more, or when padding it to the
        bin's width would add more than ``ALONE_WASTE`` pairs and double its frames."""
        counts = self.counts
        bins: list[tuple[list[int], int]] = []
        current: list[int] = []
        width = 0
        for count, slot in sorted(zip(frames, slots, strict=True), key=lambda pair: -pair[0]):
            signals = counts[slot]
            if current and (
                signals * count >= alone_from
                or (2 * count < width and signals * (width - count) > ALONE_WASTE)
            ):
                bins.append((sorted(current), width))
                current = []
            if not current:
                width = count
            current.append(slot)
            if signals * count >= alone_from:
                bins.append((current, width))
                current = []
        if current:
            bins.append((sorted(current), width))
        return bins

    def _plan(self, slots: tuple[int, ...]) -> BinPlan:
        plan = self._plans.get(slots)
        if plan is not None:
            return plan
        if len(self._plans) >= _PLAN_CACHE:
            self._plans.clear()
        given = slots  # the cache's key
        kinds = self.kinds
        slots = tuple(sorted(slots, key=lambda slot: (kinds[slot], slot)))
        rows = np.concatenate([self.rows_of[slot] for slot in slots])
        counts = [self.counts[slot] for slot in slots]
        signed = self.signed[rows]
        scales = self.scales[rows]
        offsets = self.offsets[rows]
        big = self.big_endian[rows]
        logical = sum(count for slot, count in zip(slots, counts, strict=True) if kinds[slot] < 3)
        after = np.arange(len(rows)) >= logical

        def column(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
            return np.ascontiguousarray(values.reshape(-1, 1))

        def cover(
            need: BoolArray, values: npt.NDArray[Any]
        ) -> tuple[int, int, npt.NDArray[Any]] | None:
            where = np.flatnonzero(need)
            if where.shape[0] == 0:
                return None
            begin, end = int(where[0]), int(where[-1]) + 1
            return begin, end, column(values[begin:end])

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
        masks = cover(after & ~signed, self.masks[rows])
        scaled = cover(scales != 1.0, scales)
        offset = cover(self.needs_offset[rows], offsets)
        distinct = list(dict.fromkeys(keys))
        number = {key: i for i, key in enumerate(distinct)}
        first_rows = tuple(int(c) for c in np.cumsum([0, *counts[:-1]]))
        plan = BinPlan(
            slots=slots,
            first_rows=first_rows,
            members=tuple(
                (slot, first, first + count, self.names[slot])
                for slot, first, count in zip(slots, first_rows, counts, strict=True)
            ),
            runs=tuple(runs) if len(runs) <= _RUNS else None,
            slot_of_row=np.repeat(np.array(slots, dtype=np.intp), counts),
            key_slot=np.array([slot for slot, _ in distinct], dtype=np.intp),
            key_word=np.array([word & ~_BIG for _, word in distinct], dtype=np.intp),
            key_big=(
                np.array([int(word >= _BIG) for _, word in distinct], dtype=np.int64)
                if big.any()
                else None
            ),
            row_key=(
                None
                if len(distinct) == len(keys)
                else np.array([number[key] for key in keys], dtype=np.intp)
            ),
            lefts=column(self.lefts[rows]),
            logical=logical,
            logical_rights=column(self.rights[rows[:logical]].astype(np.uint64)),
            arithmetic_rights=column(self.rights[rows[logical:]]),
            masks=masks,
            scales=scaled,
            offsets=offset,
            kernel_rows=_kernel_rows(
                np.repeat(slots, counts),
                self.word[rows],
                big,
                self.lefts[rows],
                self.rights[rows],
                logical,
                (masks, scaled, offset),
            ),
        )
        self._plans[given] = plan
        return plan

    def _decode_bin(
        self,
        plan: BinPlan,
        source: U64Array,
        swapped_at: int,
        columns: int,
        starts: IndexArray | None,
        first_frames: list[int],
        sizes: list[int],
        width: int,
    ) -> FloatArray:
        kernel = self.kernel
        if kernel is not None:
            # One pass over each row's frames (the passes below sweep the block ten times).
            out: FloatArray = np.empty((len(plan.slot_of_row), width))
            kernel.decode_rows(
                plan.kernel_rows, source, first_frames, sizes, out, width, columns, swapped_at
            )
            return out
        # The raw words are shifted in a kept buffer: only the values are a new array (a
        # fresh array of the block's size is paged in anew, burst after burst).
        rows = len(plan.slot_of_row)
        if len(self._scratch) < 2 or self._scratch[1].shape[0] < rows * width:
            self._scratch[1:] = [np.empty(max(rows * width, 1 << 15), dtype=np.uint64)]
        raw = self._scratch[1][: rows * width].reshape(rows, width)
        if plan.runs is not None:
            # Each run's word of its slot's frames (a strided slice of the buffer) shifted
            # straight into the buffer: no gather.
            step = width * columns
            for begin, end, slot, word in plan.runs:
                offset = first_frames[slot] * columns + (word & ~_BIG)
                if word & _BIG:
                    offset += swapped_at
                np.left_shift(
                    source[offset : offset + step : columns],
                    plan.lefts[begin:end],
                    out=raw[begin:end],
                )
        else:
            # Word k is read at ``first[k] + j * columns`` (frame j of its slot): rows of a
            # strided view of the buffer, gathered in one fancy index, then repeated for
            # the rows reading each (a take of whole rows of a small array: cheaper than
            # gathering every row from the buffer).
            assert starts is not None
            first = starts.take(plan.key_slot)  # ``starts``: each slot's first word
            first += plan.key_offsets(swapped_at)
            window: U64Array = np.ndarray(
                (source.shape[0] - (width - 1) * columns, width),
                dtype=np.uint64,
                buffer=source,
                strides=(8, 8 * columns),
            )
            if plan.row_key is None:
                np.left_shift(window[first], plan.lefts, out=raw)
            else:
                window[first].take(plan.row_key, axis=0, out=raw, mode="clip")
                np.left_shift(raw, plan.lefts, out=raw)
        # Every raw value fits in int64 (lengths below 64), and int64 converts faster.
        integers = raw.view(np.int64)
        logical = plan.logical
        if logical:
            unsigned = raw[:logical]
            np.right_shift(unsigned, plan.logical_rights, out=unsigned)
        if logical < rows:
            either = integers[logical:]
            np.right_shift(either, plan.arithmetic_rights, out=either)
        if plan.masks is not None:
            begin, end, masks = plan.masks
            masked = integers[begin:end]
            np.bitwise_and(masked, masks, out=masked)
        values: FloatArray = integers.astype(np.float64)
        if plan.scales is not None:
            begin, end, scales = plan.scales
            values[begin:end] *= scales
        if plan.offsets is not None:
            begin, end, offsets = plan.offsets
            values[begin:end] += offsets
        return values


def _kernel_rows(
    slots: IndexArray,
    words: IndexArray,
    big: BoolArray,
    lefts: U64Array,
    rights: npt.NDArray[np.int64],
    logical: int,
    passes: tuple[tuple[int, int, npt.NDArray[Any]] | None, ...],
) -> npt.NDArray[Any]:
    """Each row's parameters for the compiled kernel: a row takes part in the mask, the
    multiply and the add of ``passes`` (``BinPlan.masks``, ``scales``, ``offsets``) as it does
    in the numpy passes, where the others leave it unchanged (a mask of -1, a scale of 1)."""
    rows = np.zeros(len(slots), dtype=KERNEL_ROW)
    rows["slot"], rows["word"], rows["big"] = slots, words, big
    rows["left"], rows["right"] = lefts.astype(np.int64), rights
    rows["arithmetic"][logical:] = 1
    rows["mask"], rows["scale"] = -1, 1.0
    for name, given in zip(("mask", "scale", "offset"), passes, strict=True):
        if given is not None:
            begin, end, values = given
            rows[name][begin:end] = values.reshape(-1)
            if name == "offset":
                rows["add"][begin:end] = 1
    return rows
