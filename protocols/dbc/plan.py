"""A DBC message compiled for numpy: per signal, which 64-bit word of the payload to read and how.

Signals are read from big- or little-endian 64-bit words taken at a byte offset of the
payload, so a signal anywhere in a 64-byte CAN FD payload costs one or two shifts and a mask.
A signal spanning nine bytes (possible only when it is longer than 56 bits and not byte
aligned) is assembled from two adjacent words.

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


@dataclass(frozen=True)
class MessagePlan:
    """A message compiled for the numpy path; signals in dependency order (multiplexers first)."""

    message: Message
    signals: tuple[SignalPlan, ...] | None  # None: decoded frame by frame with cantools
    width: int  # bytes of zero-padded payload the word reads need

    @property
    def length(self) -> int:
        return int(self.message.length)

    @property
    def multiplexed(self) -> bool:
        return any(s.is_multiplexer for s in self.signals or ())


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
    return MessagePlan(message, _dependency_order(plans), width)


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
    """The 64-bit words of a group of frames' payloads, built on first use."""

    def __init__(self, payload: npt.NDArray[np.uint8], length: int, width: int) -> None:
        # Bytes past the message length are not the message's: zero them like cantools' trim.
        self._padded = np.zeros((payload.shape[0], width), dtype=np.uint8)
        copied = min(length, payload.shape[1], width)
        self._padded[:, :copied] = payload[:, :copied]
        self._words: dict[tuple[int, bool], U64Array] = {}

    def word(self, byte: int, big_endian: bool) -> U64Array:
        key = (byte, big_endian)
        word = self._words.get(key)
        if word is None:
            raw = np.ascontiguousarray(self._padded[:, byte : byte + 8])
            view = raw.view(">u8" if big_endian else "<u8").reshape(-1)
            word = view.astype(np.uint64, copy=False)  # no copy for native byte order
            self._words[key] = word
        return word


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


def decode_signals(
    plan: MessagePlan, payload: npt.NDArray[np.uint8]
) -> tuple[dict[str, FloatArray], BoolArray]:
    """Decode every signal of ``plan`` for each payload row.

    Returns the physical values by signal name (NaN where a multiplexed signal is absent) and
    a mask of the rows cantools would refuse (a multiplexer value it has no entry for).
    """
    n = payload.shape[0]
    words = PayloadWords(payload, plan.length, plan.width)
    values: dict[str, FloatArray] = {}
    mux_numbers: dict[str, npt.NDArray[np.int64]] = {}
    refused = np.zeros(n, dtype=bool)
    for sig in plan.signals or ():
        value = physical(sig, extract_raw(sig, words))
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
        values[sig.name] = value
    return values, refused
