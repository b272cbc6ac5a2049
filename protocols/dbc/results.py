"""The result of a decode: ``DecodedBatch`` (messages by name) of ``DecodedMessage`` (one
message's frames as arrays), built lazily from what ``VectorDecoder`` decoded.

Lean messages are decoded in a few blocks of values (``block_runner.LeanTable``,
``DecodedTogether``); a message's ``DecodedMessage`` is made when looked up, and each of its
arrays is cut from the blocks when first read. Going through every message (``values()``,
``items()``) makes them all in one loop, each with its signals' arrays: what a consumer of
every signal pays is a view per signal and a small object per message, nothing per frame.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, Mapping, ValuesView
from dataclasses import dataclass
from itertools import compress
from typing import Any

import numpy as np
import numpy.typing as npt

from protocols.dbc.block_runner import Placement

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

    # A message cut from the blocks has only what its reader needs set: its other arrays
    # are cut on first read (the slot not set yet).
    __slots__ = (
        "_arbitration_id",
        "_index",
        "_part",
        "_rows",
        "_signals",
        "_slot",
        "_timestamp",
    )

    def __init__(
        self,
        timestamp: FloatArray,
        signals: Mapping[str, FloatArray],
        index: IndexArray,
        arbitration_id: npt.NDArray[np.uint32] | None = None,
    ) -> None:
        self._timestamp: FloatArray = timestamp
        self._signals: Mapping[str, FloatArray] | None = signals
        self._index: IndexArray = index
        self._arbitration_id: npt.NDArray[np.uint32] | None = arbitration_id
        self._part: DecodedTogether | None = None
        # Of a message cut from the blocks: its slot (``DecodedTogether.placed`` says where
        # its frames are), and (block, first row, signal names) until its ``signals`` are
        # made.
        self._slot = -1
        self._rows: tuple[int, int, tuple[str, ...]] = (0, 0, ())

    @staticmethod
    def _of_block(
        part: DecodedTogether, names: tuple[str, ...], slot: int, where: tuple[int, int, int, int]
    ) -> DecodedMessage:
        """The message of ``slot`` at ``where`` (``DecodedTogether.placed``) in ``part``,
        signals ``names``; each array is cut when first read (a consumer of a few pays for
        those)."""
        block, first, _, _ = where
        message = DecodedMessage.__new__(DecodedMessage)
        message._signals = None
        message._part = part
        message._slot = slot
        message._rows = (block, first, names)
        return message

    @property
    def signals(self) -> Mapping[str, FloatArray]:
        signals = self._signals
        if signals is None:
            block, first, names = self._rows
            part = self._checked_part()
            frames = part.placed.frames[self._slot]
            rows = part.blocks[block][first : first + len(names), :frames]
            # One row per signal; strict=True would double the cost of this line.
            self._signals = signals = dict(zip(names, rows))  # noqa: B905
        return signals

    @property
    def timestamp(self) -> FloatArray:
        try:
            return self._timestamp
        except AttributeError:  # cut from the blocks: on first read
            self._timestamp = self._cut(self._checked_part().times)
            return self._timestamp

    @property
    def index(self) -> IndexArray:
        try:
            return self._index
        except AttributeError:
            self._index = self._cut(self._checked_part().rows)
            return self._index

    @property
    def arbitration_id(self) -> npt.NDArray[np.uint32] | None:
        try:
            return self._arbitration_id
        except AttributeError:
            self._arbitration_id = self._cut(self._checked_part().ids)
            return self._arbitration_id

    def _cut(self, array: npt.NDArray[Any]) -> npt.NDArray[Any]:
        placed = self._checked_part().placed
        start = placed.first_frames[self._slot]
        return array[start : start + placed.frames[self._slot]]

    def _checked_part(self) -> DecodedTogether:
        assert self._part is not None  # every array is given or cut
        return self._part

    def __repr__(self) -> str:
        return f"<DecodedMessage: {len(self.timestamp)} frames, signals {list(self.signals)}>"


class _BlockMessage(DecodedMessage):
    """A message made by ``DecodedBatch._every_message``, its ``signals`` made with it: a
    plain attribute (a consumer of every signal reads it once per message; the property is
    a Python call)."""

    __slots__ = ("signals",)  # shadows the property
    signals: Mapping[str, FloatArray]


class DecodedTogether:
    """What ``LeanTable`` decoded in one batch, for ``DecodedBatch`` to cut up on demand.

    ``times``, ``rows`` and ``ids``: of the known frames in message order; ``blocks``: the
    table's blocks (``float64[rows, width]``); per decoded slot, ``placed[slot] = (block,
    first row, frames, first frame in message order)``.

    ``ids`` is given, or, for frames whose id is their message's (11-bit ids, matched
    exactly), made on first read from ``slot_ids`` (each slot's id) and the frames of each
    slot: nothing of the input is kept for it.
    """

    __slots__ = ("_ids", "_slot_ids", "blocks", "placed", "rows", "times")

    def __init__(
        self,
        times: FloatArray,
        rows: IndexArray,
        ids: npt.NDArray[np.uint32] | None,
        blocks: list[FloatArray],
        placed: Placement,
        slot_ids: npt.NDArray[np.uint32] | None = None,
    ) -> None:
        if ids is None and slot_ids is None:
            raise ValueError("either ids or slot_ids is needed")
        self.times = times
        self.rows = rows
        self._ids = ids
        self._slot_ids = slot_ids
        self.blocks = blocks
        self.placed = placed

    @property
    def ids(self) -> npt.NDArray[np.uint32]:
        ids = self._ids
        if ids is None:
            assert self._slot_ids is not None  # checked when made
            ids = np.repeat(self._slot_ids, self.placed.frames)
            self._ids = ids
        return ids


@dataclass(frozen=True, eq=False)
class SlotLayout:
    """A decoder's slots as ``DecodedBatch`` needs them: names, slot by name, and the signal
    names of each lean slot (the rows of its block; empty for others)."""

    names: tuple[str, ...]
    slot_of: Mapping[str, int]
    signals: tuple[tuple[str, ...], ...]


class DecodedBatch(Mapping[str, DecodedMessage]):
    """The result of a decode: ``DecodedMessage`` by message name, in the decoder's message
    order; messages without a decoded frame are absent.

    Lean messages (the usual case) share a few blocks of values; each one's
    ``DecodedMessage`` (views of them) is made when first looked up, or all at once, each
    with its signals' arrays, by ``values()`` and ``items()``.
    """

    __slots__ = ("_all", "_keys", "_layout", "_messages", "_together")

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
        self._all: dict[str, DecodedMessage] | None = None

    def values(self) -> ValuesView[DecodedMessage]:
        return self._every_message().values()

    def items(self) -> ItemsView[str, DecodedMessage]:
        return self._every_message().items()

    def _every_message(self) -> dict[str, DecodedMessage]:
        """Every message, in order, each with its signals' arrays: made in one loop over the
        blocks (what ``__getitem__`` does per name, without its lookups)."""
        if self._all is not None:
            return self._all
        messages, part = self._messages, self._together
        if part is None:
            self._all = messages  # decoded on their own, in slot order
            return messages
        names, slot_of = self._layout.names, self._layout.slot_of
        found: list[DecodedMessage | None] = [None] * len(names)  # by slot
        for name, message in messages.items():  # decoded on their own, or looked up
            found[slot_of[name]] = message
        placed = part.placed
        frames = placed.frames
        new = _BlockMessage.__new__
        # The loop's body is what a consumer of every signal pays per message: one store per
        # statement, no tuple packing and unpacking, nothing but what it reads (the other
        # arrays are cut when first read).
        for block, plan in zip(part.blocks, placed.bins, strict=True):
            members = plan.members
            if messages:  # usually none: no test per message
                members = tuple(member for member in members if found[member[0]] is None)
            for slot, first, end, signals in members:
                found[slot] = message = new(_BlockMessage)
                # One row per signal. No ``strict``: a keyword argument costs zip ~45 ns a
                # message (strict=True: twice this line's cost).
                message.signals = dict(zip(signals, block[first:end, : frames[slot]]))  # noqa: B905
                message._part = part
                message._slot = slot
        # In slot order, the decoder's message order (a ``DecodedMessage`` is always true).
        self._all = dict(zip(compress(names, found), filter(None, found), strict=False))
        return self._all

    def __getitem__(self, name: str) -> DecodedMessage:
        message = (self._messages if self._all is None else self._all).get(name)
        if message is not None:
            return message
        part, slot = self._together, self._layout.slot_of.get(name, -1)
        where = None if part is None else part.placed.get(slot)
        if where is None:
            raise KeyError(name)
        assert part is not None
        message = DecodedMessage._of_block(part, self._layout.signals[slot], slot, where)
        self._messages[name] = message
        return message

    def __contains__(self, name: object) -> bool:
        if name in self._messages:
            return True
        part = self._together
        if part is None or not isinstance(name, str):
            return False
        return self._layout.slot_of.get(name, -1) in part.placed

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
                # Slots decoded together, then those decoded on their own (not all refused),
                # in slot order.
                slot_of, names = self._layout.slot_of, self._layout.names
                slots = [*self._together.placed, *(slot_of[name] for name in self._messages)]
                self._keys = [names[slot] for slot in sorted(set(slots))]
        return self._keys
