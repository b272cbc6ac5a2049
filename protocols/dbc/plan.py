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

from dataclasses import dataclass, field, replace
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
    # For a multiplexed signal: whether it is present, by position of the multiplexer's value
    # in the multiplexer's ``valid_ids``, then False for a value not there (see
    # ``decode_signals``). None: never present (no ids, or no such multiplexer).
    mux_table: BoolArray | None = None


@dataclass(frozen=True, eq=False)
class SignalBatch:
    """Integer signals of one message read from aligned words, decoded as one 2-D operation.

    A signal is extracted by two shifts: left by ``lefts`` to put its most significant bit at
    bit 63, right by ``rights`` (64 - length) to bring it down: logically when no signal is
    signed, else arithmetically (which sign-extends the signed ones), the unsigned ones then
    masked to their length by ``masks`` (all ones for a signed signal; None: no unsigned
    signal). Arrays are column vectors (one row per signal, in ``names`` order) so they
    broadcast against a row of frames. ``words`` lists the distinct ``(word_byte, big_endian)``
    words; ``word_index`` says which one each signal reads. ``scales`` is None when every
    scale is 1, ``offsets`` when adding them changes nothing (all 0, no scale negative).
    """

    names: tuple[str, ...]
    words: tuple[tuple[int, bool], ...]
    word_index: npt.NDArray[np.intp]
    lefts: U64Array
    rights: U64Array
    signed: bool  # some signal is signed: shift arithmetically
    masks: npt.NDArray[np.int64] | None
    scales: FloatArray | None
    offsets: FloatArray | None
    columns: int  # aligned 64-bit words of payload the batch reads (highest word + 1)


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
    by_name = {p.name: p for p in plans}
    ordered = _dependency_order([_with_mux_table(p, by_name) for p in plans])
    batched = tuple(p for p in ordered if _batchable(p))
    rest = tuple(p for p in ordered if not _batchable(p))
    multiplexed = any(p.is_multiplexer or p.multiplexer is not None for p in ordered)
    return MessagePlan(message, ordered, width, _compile_batch(batched), rest, multiplexed)


def _with_mux_table(plan: SignalPlan, by_name: dict[str, SignalPlan]) -> SignalPlan:
    parent = None if plan.multiplexer is None else by_name.get(plan.multiplexer)
    if parent is None or parent.valid_ids is None or plan.multiplexer_ids is None:
        return plan
    table = np.append(np.isin(parent.valid_ids, plan.multiplexer_ids), False)
    return replace(plan, mux_table=table)


def _batchable(sig: SignalPlan) -> bool:
    # 64-bit integers are left out so that every batched raw value fits in int64.
    return not sig.is_float and not sig.two_words and sig.word_byte % 8 == 0 and sig.length < 64


def _compile_batch(signals: tuple[SignalPlan, ...]) -> SignalBatch | None:
    if not signals:
        return None
    words: dict[tuple[int, bool], int] = {}
    for sig in signals:
        words.setdefault((sig.word_byte, sig.big_endian), len(words))

    def column(values: list[int] | list[float], dtype: type[np.generic]) -> npt.NDArray[Any]:
        return np.array(values, dtype=dtype).reshape(-1, 1)

    # Motorola: ``bit_offset`` is the MSB's position in the big-endian word, counted from its
    # top; Intel: the LSB's position from the bottom of the little-endian word.
    lefts = [s.bit_offset if s.big_endian else 64 - (s.bit_offset + s.length) for s in signals]
    signed = any(s.signed for s in signals)
    unsigned = not all(s.signed for s in signals)
    unscaled = all(s.scale == 1.0 for s in signals)
    # Adding a zero offset still turns -0.0 (raw 0 times a negative scale) into 0.0, as
    # cantools' ``raw * scale + offset`` does: it is skipped only where it changes nothing.
    unshifted = all(s.offset == 0.0 and s.scale >= 0.0 for s in signals)
    return SignalBatch(
        names=tuple(s.name for s in signals),
        words=tuple(words),
        word_index=np.array([words[(s.word_byte, s.big_endian)] for s in signals], dtype=np.intp),
        lefts=column(lefts, np.uint64),
        rights=column([64 - s.length for s in signals], np.uint64),
        signed=signed,
        masks=(
            column([-1 if s.signed else (1 << s.length) - 1 for s in signals], np.int64)
            if signed and unsigned
            else None
        ),
        scales=None if unscaled else column([s.scale for s in signals], np.float64),
        offsets=None if unshifted else column([s.offset for s in signals], np.float64),
        columns=1 + max(byte // 8 for byte, _ in words),
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
