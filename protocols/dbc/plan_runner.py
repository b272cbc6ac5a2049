"""Run compiled message plans (``protocols.dbc.plan_compiler``) over payloads: each signal's
raw bits shifted and masked out of 64-bit words, then scaled, as cantools computes them.

A message alone: ``decode_signals`` (any plan: word reads through ``PayloadWords``,
multiplexing, rows cantools would refuse). Messages whose plan is one ``SignalBatch`` (lean
ones) are decoded many at a time by ``protocols.dbc.block_runner``.

Multiplexing follows cantools' codec tree: a signal is present in a frame when its
multiplexer is present and holds one of the signal's multiplexer ids; a present multiplexer
holding a value no signal (and no value-table entry) is defined for makes cantools refuse the
whole frame, and so do we.
"""

from __future__ import annotations

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
