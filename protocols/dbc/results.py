"""The result of a decode: ``DecodedBatch`` (messages by name) of ``DecodedMessage`` (one
message's frames as arrays), built lazily from what ``VectorDecoder`` decoded.

Messages decoded together (``plan_runner.BatchTable``) share one array of values
(``DecodedTogether``); a message's ``DecodedMessage`` is cut from it only when looked up.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]


class DecodedMessage:
    """All frames of one message in a batch, in input order.

    ``timestamp`` and every array in ``signals`` have one entry per decoded frame; ``index``
    is each frame's row in the input arrays, to restore the order across messages.
    ``arbitration_id`` is each frame's id (for J1939: priority and source address vary).
    Value-table signals hold their numeric value (the code); see ``VectorDecoder.choices``.
    The arrays may be views of arrays the whole batch shares: copy one before writing to it.
    """

    __slots__ = ("_arbitration_id", "_block", "_index", "_names", "_signals", "_timestamp")

    def __init__(
        self,
        timestamp: FloatArray,
        signals: Mapping[str, FloatArray],
        index: IndexArray,
        arbitration_id: npt.NDArray[np.uint32] | None = None,
    ) -> None:
        self._timestamp = timestamp
        self._signals: Mapping[str, FloatArray] | None = signals
        self._index = index
        self._arbitration_id = arbitration_id
        self._names: tuple[str, ...] = ()
        self._block: FloatArray | None = None

    @staticmethod
    def _of_block(
        timestamp: FloatArray,
        names: tuple[str, ...],
        block: FloatArray,
        index: IndexArray,
        arbitration_id: npt.NDArray[np.uint32],
    ) -> DecodedMessage:
        """The message whose signals are the rows of ``block`` (``float64[signals, frames]``),
        made into ``signals`` when first read."""
        message = DecodedMessage(timestamp, {}, index, arbitration_id)
        message._signals, message._names, message._block = None, names, block
        return message

    @property
    def timestamp(self) -> FloatArray:
        return self._timestamp

    @property
    def signals(self) -> Mapping[str, FloatArray]:
        if self._signals is None:
            assert self._block is not None
            # One row per signal; strict=True would double the cost of this line.
            self._signals = dict(zip(self._names, self._block, strict=False))
        return self._signals

    @property
    def index(self) -> IndexArray:
        return self._index

    @property
    def arbitration_id(self) -> npt.NDArray[np.uint32] | None:
        return self._arbitration_id

    def __repr__(self) -> str:
        return f"<DecodedMessage: {len(self._timestamp)} frames, signals {list(self.signals)}>"


@dataclass(frozen=True, eq=False)
class DecodedTogether:
    """What ``BatchTable`` decoded in one batch, for ``DecodedBatch`` to cut up on demand.

    ``times``, ``rows`` and ``ids``: of the known frames in message order; ``values``: the
    table's output; per decoder slot: ``together`` (decoded here), ``starts`` (first frame in
    message order), ``sizes`` (frames) and ``ends`` (end of its block in ``values``).
    """

    times: FloatArray
    rows: IndexArray
    ids: npt.NDArray[np.uint32]
    values: FloatArray
    together: npt.NDArray[np.bool_]
    starts: npt.NDArray[np.intp]
    sizes: npt.NDArray[np.intp]
    ends: npt.NDArray[np.intp]


@dataclass(frozen=True, eq=False)
class SlotLayout:
    """A decoder's slots as ``DecodedBatch`` needs them: names, slot by name, and the signal
    names of each slot decoded by ``BatchTable`` (the rows of its block; empty for others)."""

    names: tuple[str, ...]
    slot_of: Mapping[str, int]
    signals: tuple[tuple[str, ...], ...]


class DecodedBatch(Mapping[str, DecodedMessage]):
    """The result of a decode: ``DecodedMessage`` by message name, in the decoder's message
    order; messages without a decoded frame are absent.

    Messages decoded together (``BatchTable``: the usual case at a few thousand frames per
    batch) share one array of values; each one's ``DecodedMessage`` (views of it) is made when
    first looked up, so that a consumer pays for the messages it reads, not for every message
    of every batch.
    """

    __slots__ = ("_keys", "_layout", "_messages", "_together")

    def __init__(
        self,
        layout: SlotLayout,
        messages: dict[str, DecodedMessage],
        together: DecodedTogether | None,
    ) -> None:
        self._layout = layout
        self._messages = messages  # decoded on their own, then the others once looked up
        self._together = together
        self._keys: list[str] | None = None

    def __getitem__(self, name: str) -> DecodedMessage:
        message = self._messages.get(name)
        if message is not None:
            return message
        part, slot = self._together, self._layout.slot_of.get(name, -1)
        if part is None or slot < 0 or not part.together[slot]:
            raise KeyError(name)
        start, count, end = int(part.starts[slot]), int(part.sizes[slot]), int(part.ends[slot])
        names = self._layout.signals[slot]
        block = part.values[end - len(names) * count : end].reshape(len(names), count)
        stop = start + count
        message = DecodedMessage._of_block(
            part.times[start:stop], names, block, part.rows[start:stop], part.ids[start:stop]
        )
        self._messages[name] = message
        return message

    def __contains__(self, name: object) -> bool:
        if name in self._messages:
            return True
        part = self._together
        if part is None or not isinstance(name, str):
            return False
        slot = self._layout.slot_of.get(name, -1)
        return slot >= 0 and bool(part.together[slot])

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def __repr__(self) -> str:
        return f"<DecodedBatch: {', '.join(self._names())}>"

    def _names(self) -> list[str]:
        if self._keys is None:
            if self._together is None:
                self._keys = list(self._messages)  # added in slot order
            else:
                # Slots with frames, decoded together or on their own (and not all refused).
                names, together = self._layout.names, self._together.together
                self._keys = [
                    names[slot]
                    for slot in np.flatnonzero(self._together.sizes).tolist()
                    if together[slot] or names[slot] in self._messages
                ]
        return self._keys
