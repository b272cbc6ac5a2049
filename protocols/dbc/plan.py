"""A DBC message compiled for numpy: per signal, which 64-bit word of the payload to read and how.

Signals are read from big- or little-endian 64-bit words taken at a byte offset of the
payload, so a signal anywhere in a 64-byte CAN FD payload costs one or two shifts and a mask.
A signal spanning nine bytes (possible only when it is longer than 56 bits and not byte
aligned) is assembled from two adjacent words.

Most signals are integers read from an 8-byte aligned word: those of a message are compiled
together into a ``SignalBatch`` (one shift, mask, sign bit, scale and offset per signal), so
all of them are decoded by a handful of 2-D numpy operations (signals x frames) instead of a
handful of operations per signal. Python work per batch of frames is then per message, not
per signal, which is what makes a batch of a few thousand frames cheap.

Multiplexing follows cantools' codec tree: a signal is present in a frame when its
multiplexer is present and holds one of the signal's multiplexer ids (``SG_MUL_VAL_`` ranges
included, as cantools expands them); a present multiplexer holding a value no signal (and no
value-table entry) is defined for makes cantools refuse the whole frame, and so do we.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from cantools.database.can import Message
from cantools.database.can.signal import Signal

_U64 = np.uint64
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
U64Array = npt.NDArray[np.uint64]


@dataclass(frozen=True, eq=False)
class SignalPlan:
    """How to extract one signal; ``word_byte`` is the payload byte its 64-bit word starts at."""

    name: str
    big_endian: bool
    word_byte: int
    bit_offset: int  # Intel: right shift in the LE word; Motorola: MSB position in the BE word
    two_words: bool  # the signal reaches into the word at ``word_byte + 8``
    length: int
    signed: bool
    is_float: bool
    scale: float
    offset: float
    multiplexer: str | None  # the signal selecting this one (None: always present)
    multiplexer_ids: npt.NDArray[np.int64] | None  # values of ``multiplexer`` it is in
    is_multiplexer: bool  # other signals depend on this one's value
    valid_ids: npt.NDArray[np.int64] | None  # for a multiplexer: values cantools accepts


@dataclass(frozen=True, eq=False)
class SignalBatch:
    """Integer signals of one message read from aligned words, decoded as one 2-D operation.

    A signal is extracted by two shifts: left by ``lefts`` to put its most significant bit at
    bit 63, right by ``rights`` (64 - length) to bring it down, arithmetically for the first
    ``signed`` signals (which sign-extends them) and logically for the others. Arrays are
    column vectors (one row per signal) so they broadcast against a row of frames.
    ``words`` lists the distinct ``(word_byte, big_endian)`` words; ``word_index`` says which
    one each signal reads; ``output`` gives each signal's row, in the message's order.
    ``scales`` is None when every scale is 1, ``offsets`` when every offset is 0.
    """

    names: tuple[str, ...]
    words: tuple[tuple[int, bool], ...]
    word_index: npt.NDArray[np.intp]
    lefts: U64Array
    rights: U64Array
    signed: int
    scales: FloatArray | None
    offsets: FloatArray | None
    columns: int  # aligned 64-bit words of payload the batch reads (highest word + 1)
    output: tuple[tuple[str, int], ...]  # (name, row) in the message's signal order


@dataclass(frozen=True)
class MessagePlan:
    """A message compiled for the numpy path; signals in dependency order (multiplexers first).

    ``batch`` holds the signals decoded together, ``rest`` those decoded one by one (floats,
    signals of two words or of a word not 8-byte aligned, 64-bit integers).
    """

    message: Message
    signals: tuple[SignalPlan, ...] | None  # None: decoded frame by frame with cantools
    width: int  # bytes of zero-padded payload the word reads need
    batch: SignalBatch | None = None
    rest: tuple[SignalPlan, ...] = ()
    multiplexed: bool = False  # some signal selects or is selected by another

    @property
    def batch_only(self) -> SignalBatch | None:
        """The batch, when it is the whole decode (no other signal, no multiplexing)."""
        return self.batch if not self.rest and not self.multiplexed else None

    @property
    def length(self) -> int:
        """The message length in bytes."""
        return int(self.message.length)


def compile_message(message: Message) -> MessagePlan:
    """Compile ``message``; messages numpy cannot decode exactly get ``signals=None``.

    Those are messages with a signal past the message end (only a relaxed DBC has them) or a
    float signal of a width numpy has no type for.
    """
    length = int(message.length)
    plans: list[SignalPlan] = []
    children: dict[str, set[int]] = {}
    for signal in message.signals:
        if signal.multiplexer_signal is not None and signal.multiplexer_ids is not None:
            children.setdefault(signal.multiplexer_signal, set()).update(signal.multiplexer_ids)
    width = 8
    for signal in message.signals:
        plan = _compile_signal(signal, children)
        if plan is None or _end_bit(signal) > 8 * length:
            return MessagePlan(message, None, 0)
        width = max(width, plan.word_byte + (16 if plan.two_words else 8))
        plans.append(plan)
    ordered = _dependency_order(plans)
    batched = tuple(p for p in ordered if _batchable(p))
    rest = tuple(p for p in ordered if not _batchable(p))
    multiplexed = any(p.is_multiplexer or p.multiplexer is not None for p in ordered)
    return MessagePlan(message, ordered, width, _compile_batch(batched), rest, multiplexed)


def _batchable(sig: SignalPlan) -> bool:
    # 64-bit integers are left out so that every batched raw value fits in int64.
    return not sig.is_float and not sig.two_words and sig.word_byte % 8 == 0 and sig.length < 64


def _compile_batch(signals: tuple[SignalPlan, ...]) -> SignalBatch | None:
    if not signals:
        return None
    order = {s.name: i for i, s in enumerate(signals)}
    # Signed signals first: the arithmetic right shift then applies to one slice of rows.
    signals = tuple(sorted(signals, key=lambda s: not s.signed))
    names = tuple(s.name for s in signals)
    words: dict[tuple[int, bool], int] = {}
    for sig in signals:
        words.setdefault((sig.word_byte, sig.big_endian), len(words))

    def column(values: list[int] | list[float], dtype: type[np.generic]) -> npt.NDArray[Any]:
        return np.array(values, dtype=dtype).reshape(-1, 1)

    # Motorola: ``bit_offset`` is the MSB's position in the big-endian word, counted from its
    # top; Intel: the LSB's position from the bottom of the little-endian word.
    lefts = [s.bit_offset if s.big_endian else 64 - (s.bit_offset + s.length) for s in signals]
    unscaled = all(s.scale == 1.0 for s in signals)
    unshifted = all(s.offset == 0.0 for s in signals)
    return SignalBatch(
        names=names,
        words=tuple(words),
        word_index=np.array([words[(s.word_byte, s.big_endian)] for s in signals], dtype=np.intp),
        lefts=column(lefts, np.uint64),
        rights=column([64 - s.length for s in signals], np.uint64),
        signed=sum(1 for s in signals if s.signed),
        scales=None if unscaled else column([s.scale for s in signals], np.float64),
        offsets=None if unshifted else column([s.offset for s in signals], np.float64),
        columns=1 + max(byte // 8 for byte, _ in words),
        output=tuple(
            sorted(((name, row) for row, name in enumerate(names)), key=lambda o: order[o[0]])
        ),
    )


def _end_bit(signal: Signal) -> int:
    if signal.byte_order == "big_endian":
        return _msb_position(signal) + int(signal.length)
    return int(signal.start) + int(signal.length)


def _msb_position(signal: Signal) -> int:
    # cantools numbers Motorola start bits in "sawtooth" order (bit 7 of byte 0 is 7, its
    # bit 0 is 0, then 15..8): convert to the MSB-first position in the payload.
    start = int(signal.start)
    return 8 * (start // 8) + (7 - start % 8)


def _compile_signal(signal: Signal, children: dict[str, set[int]]) -> SignalPlan | None:
    length = int(signal.length)
    if signal.is_float and length not in (16, 32, 64):
        return None
    big_endian = signal.byte_order == "big_endian"
    first_bit = _msb_position(signal) if big_endian else int(signal.start)
    first_byte, last_byte = first_bit // 8, (first_bit + length - 1) // 8
    aligned = 8 * (first_byte // 8)
    word_byte = aligned if last_byte < aligned + 8 else first_byte
    bit_offset = first_bit - 8 * word_byte
    valid_ids: npt.NDArray[np.int64] | None = None
    if signal.is_multiplexer:
        ids = set(children.get(signal.name, set()))
        if signal.choices:  # cantools accepts a value-table value even without signals
            ids.update(int(k) for k in signal.choices)
        if ids:
            valid_ids = np.array(sorted(ids), dtype=np.int64)
    return SignalPlan(
        name=signal.name,
        big_endian=big_endian,
        word_byte=word_byte,
        bit_offset=bit_offset,
        two_words=bit_offset + length > 64,
        length=length,
        signed=bool(signal.is_signed),
        is_float=bool(signal.is_float),
        scale=float(signal.scale),
        offset=float(signal.offset),
        multiplexer=signal.multiplexer_signal,
        multiplexer_ids=(
            None
            if signal.multiplexer_ids is None
            else np.array(sorted(set(signal.multiplexer_ids)), dtype=np.int64)
        ),
        is_multiplexer=bool(signal.is_multiplexer) or signal.name in children,
        valid_ids=valid_ids,
    )


def _dependency_order(plans: list[SignalPlan]) -> tuple[SignalPlan, ...]:
    by_name = {p.name: p for p in plans}
    ordered: list[SignalPlan] = []
    done: set[str] = set()

    def visit(plan: SignalPlan, seen: frozenset[str]) -> None:
        if plan.name in done:
            return
        parent = by_name.get(plan.multiplexer) if plan.multiplexer is not None else None
        if parent is not None and parent.name not in seen:  # a cycle would be a broken DBC
            visit(parent, seen | {plan.name})
        done.add(plan.name)
        ordered.append(plan)

    for plan in plans:
        visit(plan, frozenset())
    return tuple(ordered)


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
        base = words.word(*batch.words[0])
    else:
        base = np.stack([words.word(*key) for key in batch.words])[batch.word_index]
    return _batch_values(batch, base)


def decode_aligned(
    batch: SignalBatch, little: U64Array, big: U64Array | None
) -> dict[str, FloatArray]:
    """Decode ``batch`` from payloads given as aligned words: native ``uint64[M, C]``, ``C``
    at least ``batch.columns``, read little-endian (``little``) and big-endian (``big``;
    None: byte-swapped here if needed). Returns the values by signal name, in the message's
    signal order.

    The lean path of a message whose signals are all in its batch: no word cache, no
    padded copy, a dozen numpy calls per message whatever its signal count.
    """

    def column(byte: int, big_endian: bool) -> U64Array:
        nonlocal big
        if not big_endian:
            return little[:, byte // 8]
        if big is None:
            big = little.byteswap()
        return big[:, byte // 8]

    if len(batch.words) == 1:
        base = column(*batch.words[0])
    else:
        base = np.stack([column(*key) for key in batch.words])[batch.word_index]
    rows = list(_batch_values(batch, base))
    return {name: rows[row] for name, row in batch.output}


def _batch_values(batch: SignalBatch, base: npt.NDArray[np.uint64]) -> FloatArray:
    """``base``: the word each signal reads, ``uint64[M]`` (one word) or ``[signals, M]``."""
    raw = base << batch.lefts
    signed = batch.signed
    if signed:
        head = raw[:signed].view(np.int64)
        np.right_shift(head, batch.rights[:signed].view(np.int64), out=head)
    if signed < raw.shape[0]:
        tail = raw[signed:]
        np.right_shift(tail, batch.rights[signed:], out=tail)
    # Every raw value fits in int64 (lengths below 64), and int64 converts faster than uint64.
    integers = raw.view(np.int64)
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
    mux_numbers: dict[str, npt.NDArray[np.int64]] = {}
    refused = np.zeros(n, dtype=bool)
    ordered: dict[str, FloatArray] = {}
    for sig in plan.signals or ():  # dependency order: a multiplexer before its signals
        value = values[sig.name]
        here: BoolArray | None = None
        if sig.multiplexer is not None:
            number = mux_numbers.get(sig.multiplexer)
            if sig.multiplexer_ids is None or number is None:
                here = np.zeros(n, dtype=bool)
            else:
                # Where the multiplexer itself is absent its number is -1, which no id matches.
                here = np.isin(number, sig.multiplexer_ids)
            value = np.where(here, value, np.nan)
        if sig.is_multiplexer:
            finite = np.isfinite(value)
            # cantools takes int() of the scaled value: truncation toward zero. A row where
            # the multiplexer is absent or not finite selects nothing (-1 is no id: ids >= 0).
            number = np.where(finite, np.trunc(np.where(finite, value, 0.0)), -1.0)
            mux_numbers[sig.name] = number.astype(np.int64)
            if sig.valid_ids is not None:
                bad = ~(np.isin(mux_numbers[sig.name], sig.valid_ids) & finite)
                refused |= bad if here is None else bad & here
        ordered[sig.name] = value
    return ordered, refused
