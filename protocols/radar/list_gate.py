"""``ListGate``: a radar's frames held back until they may complete an object list.

A SocketCAN reader with CPU to spare returns a few frames per read, and decoding a batch
costs a few dozen numpy calls whatever its size: assembling a 100-object ARS408 list read 14
frames at a time cost twice the CPU per frame of assembling it in one batch. The gate keeps
the reads of a cycle and gives them to the assembler together, as soon as the frames held
could complete a list: as many as the open cycle still lacks (each frame adds at most one of
its messages), or a header (it closes the open cycle and opens one; either may be complete).
A list is emitted by the read of the frame that completes it, as without the gate, with the
same contents and times; the assembler's counters lag by the frames held.
"""

from __future__ import annotations

import numpy as np

from hal.can.frames import FrameBatch
from protocols.radar.assembler import RadarObjectListAssembler
from protocols.radar.objects import RadarObjectList


class ListGate:
    """Feed ``assembler`` (``feed_batch``) the frames of several reads at once, when they
    may complete a list (see the module doc). ``held`` is the frames waiting."""

    def __init__(self, assembler: RadarObjectListAssembler) -> None:
        self.assembler = assembler
        self._held: list[FrameBatch] = []
        self.held = 0

    def feed_batch(self, batch: FrameBatch) -> list[RadarObjectList]:
        """Take one read's frames, in bus order; returns the lists they completed. Raises
        ``ValueError`` for a batch of another dtype than those held (reads of one port)."""
        if self._held and batch.dtype != self._held[0].dtype:
            raise ValueError(f"a batch of {batch.dtype}, those held are {self._held[0].dtype}")
        self._held.append(batch)
        self.held += len(batch)
        assembler = self.assembler
        if (
            self.held < assembler.frames_to_complete()
            and not (batch["arbitration_id"] == assembler.header_frame_id).any()
        ):
            return []
        return self.assembler.feed_batch(self._take())

    def flush(self) -> list[RadarObjectList]:
        """Give the assembler every frame held, then close its cycle; the lists completed."""
        done = self.assembler.feed_batch(self._take()) if self._held else []
        last = self.assembler.flush()
        return done if last is None else [*done, last]

    def _take(self) -> FrameBatch:
        held = self._held
        self._held, self.held = [], 0
        if len(held) == 1:
            return held[0]
        dtype = held[0].dtype
        # The records' bytes joined: np.concatenate of structured arrays costs 60-80 us
        # more a call (it works out the fields' common type).
        joined = b"".join([batch.tobytes() for batch in held])
        return np.frombuffer(joined, dtype=dtype)
