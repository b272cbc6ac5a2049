"""Run compiled message plans (``protocols.dbc.plan_compiler``) over payloads: each signal's
raw bits shifted and masked out of 64-bit words, then scaled, as cantools computes them.

A message alone: ``decode_signals`` (any plan: word reads through ``PayloadWords``,
multiplexing, rows cantools would refuse) or ``decode_aligned`` (a plan that is one
``SignalBatch``: a handful of numpy calls over aligned words). Many lean messages at once:
``BatchTable``, one pass over every (signal, frame) pair of a batch of frames. Python work per
batch of frames is then per message, not per signal, which is what makes a batch of a few
thousand frames cheap.

Multiplexing follows cantools' codec tree: a signal is present in a frame when its
multiplexer is present and holds one of the signal's multiplexer ids; a present multiplexer
holding a value no signal (and no value-table entry) is defined for makes cantools refuse the
whole frame, and so do we.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from protocols.dbc.plan_compiler import (
    BoolArray,
    FloatArray,
    MessagePlan,
    SignalBatch,
    SignalPlan,
    U64Array,
)

_U64 = np.uint64


class PayloadWords:
    """The 64-bit words of a group of frames' payloads, built on first use.

    Takes ``payload: uint8[M, W]`` (one row per frame, left-aligned), the message length, the
    padded width the plan's reads need, and optionally the payload's 8-byte aligned words
    already read as native ``uint64[M, ceil(W / 8)]``: ``little`` little-endian, ``big``
    big-endian. An aligned word is then a column of those (no copy); any other word comes
    from a zero-padded copy of the payload.
    """

    def __init__(
        self,
        payload: npt.NDArray[np.uint8],
        length: int,
        width: int,
        little: U64Array | None = None,
        big: U64Array | None = None,
    ) -> None:
        self._payload = payload
        self._length = length
        self._width = width
        self._aligned = {False: little, True: big}
        self._padded: npt.NDArray[np.uint8] | None = None
        self._words: dict[tuple[int, bool], U64Array] = {}

    @property
    def rows(self) -> int:
        """The number of frames."""
        return int(self._payload.shape[0])

    def word(self, byte: int, big_endian: bool) -> U64Array:
        """The word of 8 payload bytes from ``byte`` on, read big- or little-endian."""
        key = (byte, big_endian)
        word = self._words.get(key)
        if word is not None:
            return word
        aligned = self._aligned[big_endian]
        if aligned is not None and byte % 8 == 0 and byte // 8 < aligned.shape[1]:
            # Bytes past the message length are left in: a signal inside the message never
            # reads them, its shifts drop them.
            word = aligned[:, byte // 8]
        else:
            raw = np.ascontiguousarray(self._padded_payload()[:, byte : byte + 8])
            view = raw.view(">u8" if big_endian else "<u8").reshape(-1)
            word = view.astype(np.uint64, copy=False)  # no copy for native byte order
        self._words[key] = word
        return word

    def _padded_payload(self) -> npt.NDArray[np.uint8]:
        if self._padded is None:
            # Bytes past the message length are not the message's: zero them like cantools'
            # trim, for reads that straddle the end of the payload array.
            self._padded = np.zeros((self._payload.shape[0], self._width), dtype=np.uint8)
            copied = min(self._length, self._payload.shape[1], self._width)
            self._padded[:, :copied] = self._payload[:, :copied]
        return self._padded


def extract_raw(sig: SignalPlan, words: PayloadWords) -> U64Array:
    """The signal's raw bits, right-aligned in uint64."""
    w0 = words.word(sig.word_byte, sig.big_endian)
    if sig.big_endian:
        end = sig.bit_offset + sig.length
        if sig.two_words:
            extra = end - 64
            w1 = words.word(sig.word_byte + 8, True)
            raw = (w0 << _U64(extra)) | (w1 >> _U64(64 - extra))
        else:
            raw = w0 >> _U64(64 - end) if end < 64 else w0
    elif sig.two_words:
        w1 = words.word(sig.word_byte + 8, False)
        raw = (w0 >> _U64(sig.bit_offset)) | (w1 << _U64(64 - sig.bit_offset))
    else:
        raw = w0 >> _U64(sig.bit_offset) if sig.bit_offset else w0
    if sig.length < 64:
        raw = raw & _U64((1 << sig.length) - 1)
    return raw


def physical(sig: SignalPlan, raw: U64Array) -> FloatArray:
    """Raw bits to physical values (float64), as cantools' ``raw * scale + offset``."""
    value: npt.NDArray[Any]
    if sig.is_float:
        if sig.length == 16:
            value = raw.astype(np.uint16).view(np.float16)
        elif sig.length == 32:
            value = raw.astype(np.uint32).view(np.float32)
        else:
            value = raw.view(np.float64)
    elif sig.signed and sig.length == 64:
        value = raw.view(np.int64)
    elif sig.signed:
        sign = np.int64(1 << (sig.length - 1))
        value = (raw.astype(np.int64) ^ sign) - sign  # two's complement of `length` bits
    else:
        value = raw
    # Same operation order as cantools (raw * scale + offset) so results are bit-identical.
    if sig.is_float:
        with np.errstate(invalid="ignore"):  # signalling NaNs stay NaN, quietly
            value = value.astype(np.float64)
    result: FloatArray = value.astype(np.float64) * sig.scale + sig.offset
    return result


def decode_batch_signals(batch: SignalBatch, words: PayloadWords) -> FloatArray:
    """Physical values of every signal of ``batch``: ``float64[signals, frames]``.

    Same values as ``extract_raw`` + ``physical`` (and cantools): the raw integer, then
    ``raw * scale + offset`` in float64, in that order, so results are bit-identical.
    """
    if len(batch.words) == 1:
        raw = words.word(*batch.words[0]) << batch.lefts
    else:
        raw = np.take(np.stack([words.word(*key) for key in batch.words]), batch.word_index, 0)
        np.left_shift(raw, batch.lefts, out=raw)
    return _batch_values(batch, raw)


def decode_aligned(
    batch: SignalBatch, little: U64Array, scratch: U64Array | None = None
) -> dict[str, FloatArray]:
    """Decode ``batch`` from payloads given as aligned words read little-endian: native
    ``uint64[M, C]``, ``C`` at least ``batch.columns`` (big-endian words are swapped here).
    ``scratch``: room for the raw bits, at least ``signals * M`` words (None: allocated).
    Returns the values by signal name, in the message's signal order.

    The lean path of a message whose signals are all in its batch: no word cache, no
    padded copy, a handful of numpy calls per message whatever its signal count.
    """
    shape = (len(batch.names), little.shape[0])
    if len(batch.words) == 1:
        byte, big_endian = batch.words[0]
        base = little[:, byte // 8]
        if big_endian:
            base = base.byteswap()
        if scratch is None:
            raw = base << batch.lefts
        else:
            raw = np.left_shift(
                base, batch.lefts, out=scratch[: shape[0] * shape[1]].reshape(shape)
            )
    else:
        words = np.empty((len(batch.words), shape[1]), dtype=np.uint64)
        for row, (byte, big_endian) in enumerate(batch.words):
            words[row] = little[:, byte // 8]
            if big_endian:
                words[row].byteswap(inplace=True)
        room = None if scratch is None else scratch[: shape[0] * shape[1]].reshape(shape)
        raw = np.take(words, batch.word_index, axis=0, out=room)
        np.left_shift(raw, batch.lefts, out=raw)
    return dict(zip(batch.names, _batch_values(batch, raw), strict=True))


def _batch_values(batch: SignalBatch, raw: npt.NDArray[np.uint64]) -> FloatArray:
    """``raw``: ``uint64[signals, M]``, each signal's word shifted left by ``lefts`` (its
    most significant bit at bit 63); shifted right here, in place."""
    # Every raw value fits in int64 (lengths below 64), and int64 converts faster than uint64.
    integers = raw.view(np.int64)
    if batch.signed:
        np.right_shift(integers, batch.rights.view(np.int64), out=integers)
        if batch.masks is not None:
            np.bitwise_and(integers, batch.masks, out=integers)
    else:
        np.right_shift(raw, batch.rights, out=raw)
    values: FloatArray
    if batch.scales is None:
        values = integers.astype(np.float64)
    else:
        # The multiply converts to float64 as it goes (one pass instead of astype + multiply);
        # the value is the same: float64(raw) * scale, then + offset, as cantools computes it.
        values = np.multiply(integers, batch.scales, dtype=np.float64)
    if batch.offsets is not None:
        values += batch.offsets
    return values


@dataclass(frozen=True, eq=False)
class BatchTable:
    """The ``SignalBatch`` of many messages as one table, so that the frames of all of them
    are decoded in one numpy pass over every (signal, frame) pair.

    Decoding a message on its own costs a dozen numpy calls whatever its frame count, which
    dominates at a few dozen frames per message (a burst of a few thousand frames of a busy
    bus). Here the calls are per batch of messages; the price is gathering each pair's word
    and parameters, a few more passes over the data. Rows: the signals of each ``SignalBatch``
    in turn, ``first[i]`` the first row of batch ``i`` (None batches have no rows). Shifts
    are arithmetic for every signal, then unsigned ones masked to their length; a scale of 1
    and an offset of 0 are applied like any other: the values are those of
    ``decode_aligned``, bit for bit.
    """

    first: npt.NDArray[np.intp]
    counts: npt.NDArray[np.intp]  # signals per batch
    batch: npt.NDArray[np.intp]  # the batch each row is a signal of
    word: npt.NDArray[np.intp]  # the aligned word each signal reads (payload byte // 8)
    big_endian: BoolArray
    lefts: U64Array
    rights: npt.NDArray[np.int64]
    masks: npt.NDArray[np.int64]
    scales: FloatArray
    offsets: FloatArray
    any_big_endian: bool
    any_unsigned: bool
    any_scaled: bool
    any_offset: bool
    _cache: dict[int, npt.NDArray[np.intp]] = field(default_factory=dict)

    @staticmethod
    def build(batches: tuple[SignalBatch | None, ...]) -> BatchTable:
        """The table of ``batches`` (indexed as given; None: a message without one)."""
        present = [b for b in batches if b is not None]
        counts = np.array([0 if b is None else len(b.names) for b in batches], dtype=np.intp)

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
        return BatchTable(
            first=np.cumsum(counts) - counts,
            counts=counts,
            batch=np.repeat(np.arange(len(batches), dtype=np.intp), counts),
            word=words[:, 0] // 8,
            big_endian=words[:, 1] != 0,
            lefts=rows([b.lefts for b in present], np.uint64),
            rights=rights,
            masks=masks,
            scales=rows(scales, np.float64),
            offsets=rows(offsets, np.float64),
            any_big_endian=bool(words[:, 1].any()),
            any_unsigned=bool((~signed).any()),
            any_scaled=any(b.scales is not None for b in present),
            any_offset=any(b.offsets is not None for b in present),
        )

    def decode(
        self,
        little: U64Array,
        selected: BoolArray,
        starts: npt.NDArray[np.intp],
        frames: npt.NDArray[np.intp],
    ) -> FloatArray:
        """Decode the frames of several batches at once.

        ``little``: payloads as aligned words read little-endian, C-contiguous native
        ``uint64[N, C]`` (``C`` at least every selected batch's ``columns``); indexed by
        batch: ``selected[i]``, whether to decode batch ``i``, from row ``starts[i]`` of
        ``little`` for ``frames[i]`` rows. Returns one block per selected batch, in batch
        order: ``float64[signals, frames[i]]``, row-major, one after the other.
        """
        # One segment per selected table row (a signal of a selected batch): the batch's
        # frames, at the batch's first row of ``little``. Usually every batch is selected
        # (every message in the burst): the table's own arrays are then the segments'.
        chosen = np.take(selected, self.batch)
        rows: npt.NDArray[np.intp] | slice = slice(None)
        if not chosen.all():
            rows = np.flatnonzero(chosen)
        batch = self.batch[rows]
        segment_frames = np.take(frames, batch)
        ends = np.cumsum(segment_frames)
        elements = int(ends[-1]) if len(ends) else 0
        columns = little.shape[1]
        source = little.reshape(-1)
        # Each pair's word, by flat index: the segment's base repeated, plus the element's
        # number times ``columns``. The big-endian words are a byte-swapped copy after the
        # little-endian ones (the copy is of the few words a burst has, not of the pairs).
        base = (np.take(starts, batch) - (ends - segment_frames)) * columns + self.word[rows]
        if self.any_big_endian:
            source = np.concatenate([source, little.byteswap().reshape(-1)])
            base += self.big_endian[rows] * little.size
        index = np.repeat(base, segment_frames)
        index += self._steps(elements, columns)
        raw = np.take(source, index)
        del index
        np.left_shift(raw, np.repeat(self.lefts[rows], segment_frames), out=raw)
        # Every raw value fits in int64 (lengths below 64), and int64 converts faster.
        integers = raw.view(np.int64)
        np.right_shift(integers, np.repeat(self.rights[rows], segment_frames), out=integers)
        if self.any_unsigned:
            np.bitwise_and(integers, np.repeat(self.masks[rows], segment_frames), out=integers)
        values: FloatArray
        if self.any_scaled:
            # float64(raw) * scale, then + offset: cantools' order, so the same values.
            scales = np.repeat(self.scales[rows], segment_frames)
            values = np.multiply(integers, scales, dtype=np.float64)
        else:
            values = integers.astype(np.float64)
        if self.any_offset:
            values += np.repeat(self.offsets[rows], segment_frames)
        return values

    def _steps(self, elements: int, columns: int) -> npt.NDArray[np.intp]:
        """``arange(elements) * columns``, kept between calls (a table decodes burst after
        burst of about the same size)."""
        steps = self._cache.get(columns)
        if steps is None or steps.shape[0] < elements:
            steps = np.arange(max(elements, 4096), dtype=np.intp) * columns
            self._cache[columns] = steps
        return steps[:elements]


def decode_signals(
    plan: MessagePlan, words: PayloadWords
) -> tuple[dict[str, FloatArray], BoolArray | None]:
    """Decode every signal of ``plan`` for each frame of ``words``.

    Returns the physical values by signal name (NaN where a multiplexed signal is absent) and
    a mask of the rows cantools would refuse (a multiplexer value it has no entry for), None
    for a message without multiplexing (no row can be refused).
    """
    values: dict[str, FloatArray] = {}
    if plan.batch is not None:
        values.update(zip(plan.batch.names, decode_batch_signals(plan.batch, words), strict=True))
    for sig in plan.rest:
        values[sig.name] = physical(sig, extract_raw(sig, words))
    if not plan.multiplexed:
        # The plan's signal order (the DBC's, multiplexers first), whatever the decode order.
        return {sig.name: values[sig.name] for sig in plan.signals or ()}, None
    n = words.rows
    # Each multiplexer's value as its position in the multiplexer's valid_ids (len: not
    # there): a child's presence is then one lookup in its table, not a set test per signal.
    positions: dict[str, npt.NDArray[np.intp]] = {}
    refused = np.zeros(n, dtype=bool)
    ordered: dict[str, FloatArray] = {}
    for sig in plan.signals or ():  # dependency order: a multiplexer before its signals
        value = values[sig.name]
        here: BoolArray | None = None
        if sig.multiplexer is not None:
            position = positions.get(sig.multiplexer)
            if sig.mux_table is None or position is None:
                here = np.zeros(n, dtype=bool)
            else:
                here = np.take(sig.mux_table, position)
            value = np.where(here, value, np.nan)
        if sig.is_multiplexer:
            finite = np.isfinite(value)
            # cantools takes int() of the scaled value: truncation toward zero. A row where
            # the multiplexer is absent or not finite selects nothing (-1 is no id: ids >= 0).
            number = np.where(finite, np.trunc(np.where(finite, value, 0.0)), -1.0)
            position, known = _positions(sig.valid_ids, number.astype(np.int64))
            positions[sig.name] = position
            if sig.valid_ids is not None:
                bad = ~(known & finite)
                refused |= bad if here is None else bad & here
        ordered[sig.name] = value
    return ordered, refused


def _positions(
    valid: npt.NDArray[np.int64] | None, number: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.intp], BoolArray]:
    """Each ``number``'s position in the sorted ``valid`` (``len(valid)`` where it is not
    there), and whether it is there."""
    if valid is None or valid.shape[0] == 0:
        return np.zeros(number.shape[0], dtype=np.intp), np.zeros(number.shape[0], dtype=bool)
    position = np.searchsorted(valid, number)
    known = np.take(valid, np.minimum(position, valid.shape[0] - 1)) == number
    return np.where(known, position, valid.shape[0]), known
