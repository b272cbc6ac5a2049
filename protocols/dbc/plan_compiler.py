"""Compile a DBC message into a plan for numpy: per signal, which 64-bit word of the payload
to read and how (``compile_message``); ``protocols.dbc.plan_runner`` runs the plans.

Signals are read from big- or little-endian 64-bit words taken at a byte offset of the
payload, so a signal anywhere in a 64-byte CAN FD payload costs one or two shifts and a mask.
A signal spanning nine bytes (possible only when it is longer than 56 bits and not byte
aligned) is assembled from two adjacent words.

Most signals are integers read from an 8-byte aligned word: those of a message are compiled
together into a ``SignalBatch`` (one shift, mask, sign bit, scale and offset per signal), so
all of them are decoded by a handful of 2-D numpy operations (signals x frames) instead of a
handful of operations per signal.

Multiplexing follows cantools' codec tree: each multiplexed signal gets a table of the
multiplexer values it is present for (``SG_MUL_VAL_`` ranges included, as cantools expands
them), and each multiplexer the values cantools accepts (see ``decode_signals``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from cantools.database.can import Message
from cantools.database.can.signal import Signal

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
    scale is 1, ``offsets`` when adding them changes nothing (all 0, every scale positive).
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
    # Adding a zero offset still turns -0.0 (raw 0 times a negative scale, a negative raw
    # times a scale of 0) into 0.0, as cantools' ``raw * scale + offset`` does: it is skipped
    # only where it changes nothing.
    unshifted = all(s.offset == 0.0 and s.scale > 0.0 for s in signals)
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
