"""Decode many CAN frames at once: DBC signals extracted with numpy shifts and masks.

Each message is compiled once into a plan (per signal: which 64-bit view of the payload, the
shift, the mask, sign and scaling). A batch is grouped by (id, extendedness) with numpy, and
every signal of a message is then a few vector operations over all its frames.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from cantools.database.can import Database, Message
from cantools.database.can.signal import Signal
from cantools.errors import Error as CantoolsError

_EXTENDED_KEY = np.uint64(1 << 32)
_FLAG_EXTENDED = 0x01  # the frame-batch flag bits (documented with the batch layout)
_FLAG_NOT_DATA = 0x08 | 0x10  # error frames and remote requests carry no signals
_U64 = np.uint64

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]


@dataclass(frozen=True)
class DecodedMessage:
    """All frames of one message in a batch, in input order.

    ``timestamp`` and every array in ``signals`` have one entry per decoded frame; ``index``
    is each frame's row in the input arrays, to restore the order across messages.
    """

    timestamp: FloatArray
    signals: dict[str, FloatArray]
    index: IndexArray


@dataclass(frozen=True)
class _SignalPlan:
    name: str
    big_endian: bool
    shift: int
    length: int
    signed: bool
    is_float: bool
    scale: float
    offset: float


@dataclass(frozen=True)
class _MessagePlan:
    message: Message
    signals: tuple[_SignalPlan, ...] | None  # None: decoded frame by frame with cantools

    @property
    def length(self) -> int:
        return int(self.message.length)


class VectorDecoder:
    """Decode frame arrays into per-message signal arrays for the messages of a DBC.

    Non-multiplexed messages of at most 8 bytes are decoded vectorised. Multiplexed messages,
    longer (CAN FD) messages and messages whose signals overrun their length fall back to
    cantools frame by frame; a signal absent from a frame (another multiplexer value) is NaN.

    ``rejects`` counts frames not decoded, by reason: ``short_frame`` (dlc below the message
    length), ``unknown_id`` (no selected message has that id), ``not_data`` (error or remote
    frame), ``decode_error`` (cantools refused a fallback frame). Decoding never raises on
    frame contents.
    """

    def __init__(self, db: Database, messages: Iterable[str] | None = None) -> None:
        """Compile ``messages`` (names; all messages of ``db`` when None).

        Raises ``ValueError`` for a name ``db`` does not have.
        """
        selected: list[Message] = []
        if messages is None:
            selected = list(db.messages)
        else:
            for name in messages:
                try:
                    selected.append(db.get_message_by_name(name))
                except KeyError:
                    raise ValueError(f"no message named {name!r} in the database") from None
        self._plans: dict[int, _MessagePlan] = {
            _key(int(m.frame_id), bool(m.is_extended_frame)): _compile(m) for m in selected
        }
        self.rejects: Counter[str] = Counter()
        self.vectorised: frozenset[str] = frozenset(
            p.message.name for p in self._plans.values() if p.signals is not None
        )
        """Names of the messages on the numpy path (the others fall back to cantools)."""

    def decode(
        self,
        arbitration_id: npt.ArrayLike,
        data: npt.ArrayLike,
        dlc: npt.ArrayLike,
        timestamp: npt.ArrayLike,
        is_extended: npt.ArrayLike | None = None,
    ) -> dict[str, DecodedMessage]:
        """Decode frames given as parallel arrays.

        Takes ``arbitration_id: uint32[N]``, ``data: uint8[N, W]`` (W >= 8, payload
        left-aligned), ``dlc: uint8[N]`` (payload bytes), ``timestamp: float64[N]`` and
        optionally ``is_extended: bool[N]`` (default: ids above 0x7FF are extended).
        Returns decoded messages by name; messages without a decodable frame are absent.
        Raises ``ValueError`` when the shapes disagree.
        """
        ids = np.asarray(arbitration_id, dtype=np.uint32).reshape(-1)
        payload = np.asarray(data, dtype=np.uint8)
        lengths = np.asarray(dlc, dtype=np.int64).reshape(-1)
        times = np.asarray(timestamp, dtype=np.float64).reshape(-1)
        n = ids.shape[0]
        if payload.ndim != 2 or payload.shape[0] != n or payload.shape[1] < 8:
            raise ValueError(f"data must have shape (N={n}, W>=8), got {payload.shape}")
        if lengths.shape[0] != n or times.shape[0] != n:
            raise ValueError("arbitration_id, dlc and timestamp must have the same length")
        extended = (
            ids > 0x7FF if is_extended is None else np.asarray(is_extended, dtype=bool).reshape(-1)
        )
        if extended.shape[0] != n:
            raise ValueError("is_extended must have the same length as arbitration_id")
        return self._decode(ids, payload, lengths, times, extended, np.arange(n, dtype=np.intp))

    def decode_batch(self, batch: npt.NDArray[Any]) -> dict[str, DecodedMessage]:
        """Decode a frame batch: a structured array with fields ``timestamp``,
        ``arbitration_id``, ``flags``, ``dlc`` and ``data`` (flag 0x01 = extended id).

        Error and remote frames are counted as ``not_data``. Returns as ``decode``.
        """
        flags = batch["flags"]
        is_data = (flags & _FLAG_NOT_DATA) == 0
        self.rejects["not_data"] += int(batch.shape[0] - np.count_nonzero(is_data))
        rows = np.flatnonzero(is_data)
        return self._decode(
            batch["arbitration_id"][rows].astype(np.uint32),
            batch["data"][rows],
            batch["dlc"][rows].astype(np.int64),
            batch["timestamp"][rows].astype(np.float64),
            (flags[rows] & _FLAG_EXTENDED) != 0,
            rows.astype(np.intp),
        )

    def _decode(
        self,
        ids: npt.NDArray[np.uint32],
        payload: npt.NDArray[np.uint8],
        lengths: npt.NDArray[np.int64],
        times: FloatArray,
        extended: npt.NDArray[np.bool_],
        rows: IndexArray,
    ) -> dict[str, DecodedMessage]:
        out: dict[str, DecodedMessage] = {}
        if ids.shape[0] == 0:
            return out
        keys = ids.astype(np.uint64) | np.where(extended, _EXTENDED_KEY, _U64(0))
        unique, inverse = np.unique(keys, return_inverse=True)
        # A stable sort keeps each message's frames in input (time) order.
        order = np.argsort(inverse, kind="stable")
        bounds = np.cumsum(np.bincount(inverse, minlength=unique.shape[0]))[:-1]
        for key, group in zip(unique.tolist(), np.split(order, bounds), strict=True):
            plan = self._plans.get(key)
            if plan is None:
                self.rejects["unknown_id"] += int(group.shape[0])
                continue
            long_enough = lengths[group] >= plan.length
            self.rejects["short_frame"] += int(group.shape[0] - np.count_nonzero(long_enough))
            group = group[long_enough]
            if group.shape[0] == 0:
                continue
            if plan.signals is None:
                decoded = self._decode_slow(plan.message, payload[group], times[group], rows[group])
            else:
                decoded = _decode_fast(plan, payload[group], times[group], rows[group])
            if decoded is not None:
                out[plan.message.name] = decoded
        return out

    def _decode_slow(
        self,
        message: Message,
        payload: npt.NDArray[np.uint8],
        times: FloatArray,
        rows: IndexArray,
    ) -> DecodedMessage | None:
        names = [s.name for s in message.signals]
        values = np.full((len(names), payload.shape[0]), np.nan)
        good = np.zeros(payload.shape[0], dtype=bool)
        for i in range(payload.shape[0]):
            try:
                decoded = message.decode_simple(
                    payload[i, : message.length].tobytes(), decode_choices=False, scaling=True
                )
            except (CantoolsError, ValueError):  # bad bytes are counted, never raised
                self.rejects["decode_error"] += 1
                continue
            good[i] = True
            for j, name in enumerate(names):
                value = decoded.get(name)
                if isinstance(value, int | float):
                    values[j, i] = value
        if not good.any():
            return None
        return DecodedMessage(
            timestamp=times[good],
            signals={name: values[j, good] for j, name in enumerate(names)},
            index=rows[good],
        )


def _key(frame_id: int, extended: bool) -> int:
    return frame_id | (1 << 32 if extended else 0)


def _compile(message: Message) -> _MessagePlan:
    length = int(message.length)
    if message.is_multiplexed() or length > 8:
        return _MessagePlan(message, None)
    plans = []
    for signal in message.signals:
        plan = _compile_signal(signal)
        end = plan.shift + plan.length if not plan.big_endian else 64 - plan.shift
        # A relaxed DBC may place a signal past the message end; cantools refuses such frames.
        if end > 8 * length:
            return _MessagePlan(message, None)
        plans.append(plan)
    return _MessagePlan(message, tuple(plans))


def _compile_signal(signal: Signal) -> _SignalPlan:
    length = int(signal.length)
    big_endian = signal.byte_order == "big_endian"
    if big_endian:
        # cantools numbers Motorola start bits in "sawtooth" order: convert to the MSB-first
        # bit position, then to a right shift of the big-endian 64-bit word.
        msb_first = 8 * (signal.start // 8) + (7 - signal.start % 8)
        shift = 64 - (msb_first + length)
    else:
        shift = int(signal.start)
    return _SignalPlan(
        name=signal.name,
        big_endian=big_endian,
        shift=shift,
        length=length,
        signed=bool(signal.is_signed),
        is_float=bool(signal.is_float),
        scale=float(signal.scale),
        offset=float(signal.offset),
    )


def _decode_fast(
    plan: _MessagePlan, payload: npt.NDArray[np.uint8], times: FloatArray, rows: IndexArray
) -> DecodedMessage:
    # Bytes past the message length are not the message's: zero them like cantools' trim.
    head = np.zeros((payload.shape[0], 8), dtype=np.uint8)
    head[:, : plan.length] = payload[:, : plan.length]
    little = head.view("<u8").reshape(-1).astype(np.uint64)
    big = head.view(">u8").reshape(-1).astype(np.uint64)
    signals: dict[str, FloatArray] = {}
    for sig in plan.signals or ():
        word = big if sig.big_endian else little
        raw = word >> _U64(sig.shift) if sig.shift else word
        if sig.length < 64:
            raw = raw & _U64((1 << sig.length) - 1)
        signals[sig.name] = _physical(sig, raw)
    return DecodedMessage(timestamp=times, signals=signals, index=rows)


def _physical(sig: _SignalPlan, raw: npt.NDArray[np.uint64]) -> FloatArray:
    value: npt.NDArray[Any]
    if sig.is_float:
        value = raw.astype(np.uint32).view(np.float32) if sig.length == 32 else raw.view(np.float64)
    elif sig.signed and sig.length == 64:
        value = raw.view(np.int64)
    elif sig.signed:
        sign = np.int64(1 << (sig.length - 1))
        value = (raw.astype(np.int64) ^ sign) - sign  # two's complement of `length` bits
    else:
        value = raw
    # Same operation order as cantools (raw * scale + offset) so results are bit-identical.
    return value.astype(np.float64) * sig.scale + sig.offset
