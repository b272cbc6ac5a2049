"""Decode many CAN frames at once: DBC signals extracted with numpy shifts and masks.

Each message is compiled once into a plan (``protocols.dbc.plan``: per signal, which 64-bit
word of the payload, the shift, the mask, sign and scaling, and its multiplexer). A batch is
grouped by message with numpy, and every signal of a message is then a few vector operations
over all its frames.

J1939: a message of a DBC whose protocol is J1939 (cantools' ``Message.protocol``) matches
frames on its parameter group number, whatever their priority and source address. For a PDU1
PGN (PDU format below 240) the PDU-specific byte is the destination address, so it is masked
too; for a PDU2 PGN (240 and above) it is the group extension and is part of the PGN. An exact
29-bit id match wins over a PGN match, and a PGN shared by several messages of the DBC (one per
source address, say) matches only exactly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from cantools.database.can import Database, Message
from cantools.errors import Error as CantoolsError

from protocols.dbc.plan import MessagePlan, compile_message, decode_signals

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
    ``arbitration_id`` is each frame's id (for J1939: priority and source address vary).
    Value-table signals hold their numeric value (the code); see ``VectorDecoder.choices``.
    """

    timestamp: FloatArray
    signals: dict[str, FloatArray]
    index: IndexArray
    arbitration_id: npt.NDArray[np.uint32] | None = None


def j1939_pgn(frame_id: int) -> int:
    """The parameter group number of a 29-bit J1939 id (as ``cantools.j1939.pgn_from_frame_id``).

    EDP, data page and PDU format are part of the PGN; the PDU-specific byte is only for PDU2
    formats (>= 240); for PDU1 it is the destination address.
    """
    pgn = (frame_id >> 8) & 0x3FFFF
    if (pgn >> 8) & 0xFF < 240:
        pgn &= 0x3FF00
    return pgn


class VectorDecoder:
    """Decode frame arrays into per-message signal arrays for the messages of a DBC.

    Every message is decoded vectorised: Intel and Motorola, signed, IEEE float, scaled,
    multiplexed (extended multiplexing included) and CAN FD payloads up to 64 bytes. Only a
    message with a signal past its own end (a relaxed DBC) falls back to cantools frame by
    frame. A signal absent from a frame (another multiplexer value) is NaN. Where cantools
    refuses a whole message because two of its signals overlap (a relaxed DBC), every signal
    is still decoded on its own bits.

    ``rejects`` counts frames not decoded, by reason: ``short_frame`` (dlc below the message
    length), ``unknown_id`` (no selected message has that id or J1939 PGN), ``not_data``
    (error or remote frame), ``decode_error`` (a multiplexer value the DBC does not define,
    which cantools refuses too). Decoding never raises on frame contents.
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
        self._by_name: dict[str, MessagePlan] = {m.name: compile_message(m) for m in selected}
        self._exact: dict[int, MessagePlan] = {
            _key(int(p.message.frame_id), bool(p.message.is_extended_frame)): p
            for p in self._by_name.values()
        }
        by_pgn: dict[int, list[MessagePlan]] = {}
        for plan in self._by_name.values():
            if plan.message.protocol == "j1939" and plan.message.is_extended_frame:
                by_pgn.setdefault(j1939_pgn(int(plan.message.frame_id)), []).append(plan)
        self._by_pgn = {pgn: plans[0] for pgn, plans in by_pgn.items() if len(plans) == 1}
        self.rejects: Counter[str] = Counter()
        self.vectorised: frozenset[str] = frozenset(
            name for name, p in self._by_name.items() if p.signals is not None
        )
        """Names of the messages on the numpy path (the others fall back to cantools)."""

    def choices(self, message: str, signal: str) -> Mapping[int, str]:
        """The value table of ``signal`` in ``message``: numeric value -> name (empty if none).

        The decoded arrays hold the numeric values; this maps them to the DBC's names.
        Raises ``ValueError`` for a message or signal the decoder does not have.
        """
        sig = self._signal(message, signal)
        if not sig.choices:
            return {}
        return {int(code): str(name) for code, name in sig.choices.items()}

    def choice_names(
        self, message: str, signal: str, values: npt.ArrayLike
    ) -> npt.NDArray[np.object_]:
        """Map an array of decoded values of ``signal`` to value-table names (None where the
        value has no name, or is NaN). Raises ``ValueError`` as ``choices``."""
        sig = self._signal(message, signal)
        array = np.asarray(values, dtype=np.float64)
        out = np.full(array.shape, None, dtype=object)
        for code, name in (sig.choices or {}).items():
            # A value table is keyed by raw value; decoded values are scaled.
            out[array == float(code) * float(sig.scale) + float(sig.offset)] = str(name)
        return out

    def _signal(self, message: str, signal: str) -> Any:
        plan = self._by_name.get(message)
        if plan is None:
            raise ValueError(f"no message named {message!r} in the decoder")
        try:
            return plan.message.get_signal_by_name(signal)
        except KeyError:
            valid = ", ".join(s.name for s in plan.message.signals)
            raise ValueError(
                f"message {message!r} has no signal {signal!r} (it has: {valid})"
            ) from None

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
        left-aligned; W = 64 for CAN FD), ``dlc: uint8[N]`` (payload bytes),
        ``timestamp: float64[N]`` and optionally ``is_extended: bool[N]`` (default: ids above
        0x7FF are extended). Returns decoded messages by name; messages without a decodable
        frame are absent. Raises ``ValueError`` when the shapes disagree.
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

    def _lookup(self, key: int) -> MessagePlan | None:
        plan = self._exact.get(key)
        if plan is None and key & (1 << 32) and self._by_pgn:
            plan = self._by_pgn.get(j1939_pgn(key & 0x1FFFFFFF))
        return plan

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
        # Several ids can be one message (J1939 source addresses): number the messages.
        plans: list[MessagePlan] = []
        slot_of: dict[str, int] = {}
        unique_slot = np.empty(unique.shape[0], dtype=np.intp)
        for i, key in enumerate(unique.tolist()):
            plan = self._lookup(key)
            if plan is None:
                unique_slot[i] = -1
                continue
            slot = slot_of.setdefault(plan.message.name, len(plans))
            if slot == len(plans):
                plans.append(plan)
            unique_slot[i] = slot
        frame_slot = unique_slot[inverse.reshape(-1)]
        unknown = int(np.count_nonzero(frame_slot < 0))
        self.rejects["unknown_id"] += unknown
        if unknown == ids.shape[0]:
            return out
        known = np.flatnonzero(frame_slot >= 0) if unknown else None
        slots = frame_slot if known is None else frame_slot[known]
        # A stable sort keeps each message's frames in input (time) order.
        order = np.argsort(slots, kind="stable")
        if known is not None:
            order = known[order]
        bounds = np.cumsum(np.bincount(slots, minlength=len(plans)))[:-1]
        for plan, group in zip(plans, np.split(order, bounds), strict=True):
            long_enough = lengths[group] >= plan.length
            self.rejects["short_frame"] += int(group.shape[0] - np.count_nonzero(long_enough))
            group = group[long_enough]
            if group.shape[0] == 0:
                continue
            if plan.signals is None:
                decoded = self._decode_slow(plan.message, payload[group], times[group], rows[group])
            else:
                decoded = self._decode_fast(plan, payload[group], times[group], rows[group])
            if decoded is not None:
                group_ids = ids[group]
                if decoded.index.shape[0] != group.shape[0]:  # some frames were refused
                    group_ids = group_ids[np.searchsorted(rows[group], decoded.index)]
                out[plan.message.name] = DecodedMessage(
                    timestamp=decoded.timestamp,
                    signals=decoded.signals,
                    index=decoded.index,
                    arbitration_id=group_ids,
                )
        return out

    def _decode_fast(
        self,
        plan: MessagePlan,
        payload: npt.NDArray[np.uint8],
        times: FloatArray,
        rows: IndexArray,
    ) -> DecodedMessage | None:
        values, refused = decode_signals(plan, payload)
        if not refused.any():
            return DecodedMessage(timestamp=times, signals=values, index=rows)
        self.rejects["decode_error"] += int(np.count_nonzero(refused))
        good = ~refused
        if not good.any():
            return None
        return DecodedMessage(
            timestamp=times[good],
            signals={name: value[good] for name, value in values.items()},
            index=rows[good],
        )

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
