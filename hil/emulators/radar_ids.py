"""The object ids a radar gives what it sees: its own slots, not the ground truth's ids.

A Continental ARS408 numbers the objects of its list 0-99. An object keeps its id while the
radar sees it (and for a few cycles after, as the radar's own tracker coasts through a missed
detection); a freed id goes to the back of the queue, so it comes back only after the others.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

CAPACITY = 100
"""Object ids 0..99, as an ARS408 object list uses them."""
KEEP_CYCLES = 5
"""Cycles an unseen object keeps its id (0.36 s at the 72 ms cycle)."""
CLUTTER_GATE_M = 2.0
"""A false return within this of one in the cycle before is the same ghost (keeps its id)."""

_Key = tuple[int, int]  # (truth id, n-th return of it in the cycle) or (-1, clutter serial)


class ObjectSlots:
    """Per radar: which id each return of a cycle gets."""

    def __init__(self, capacity: int = CAPACITY, keep_cycles: int = KEEP_CYCLES) -> None:
        """Raises ``ValueError`` for a capacity outside 1..256 or a negative ``keep_cycles``."""
        if not 1 <= capacity <= 256:
            raise ValueError(f"capacity {capacity} not in 1..256")
        if keep_cycles < 0:
            raise ValueError(f"keep_cycles must be >= 0, got {keep_cycles}")
        self._free: deque[int] = deque(range(capacity))
        self._keep = keep_cycles
        self._slots: dict[_Key, int] = {}
        self._last_seen: dict[_Key, int] = {}
        self._ghosts: dict[_Key, tuple[float, float]] = {}  # last cycle's clutter positions
        self._serial = 0
        self._cycle = 0
        self.dropped = 0  # returns with no free id

    def assign(
        self, truth_ids: Sequence[int], x_m: Sequence[float], y_m: Sequence[float]
    ) -> list[int | None]:
        """The ids of one cycle's returns, in order; None for a return that gets none (all ids
        taken). ``truth_ids`` are the ground truth's ids, negative for a false return, whose
        position (``x_m``, ``y_m``, sensor frame) is what identifies it from cycle to cycle."""
        self._cycle += 1
        keys = self._keys(truth_ids, x_m, y_m)
        ids: list[int | None] = []
        for key in keys:
            slot = self._slots.get(key)
            if slot is None and self._free:
                slot = self._free.popleft()
                self._slots[key] = slot
            if slot is None:
                self.dropped += 1
            else:
                self._last_seen[key] = self._cycle
            ids.append(slot)
        self._release()
        return ids

    def _keys(
        self, truth_ids: Sequence[int], x_m: Sequence[float], y_m: Sequence[float]
    ) -> list[_Key]:
        keys: list[_Key] = []
        seen: dict[int, int] = {}
        ghosts = dict(self._ghosts)
        self._ghosts = {}
        for truth_id, x, y in zip(truth_ids, x_m, y_m, strict=True):
            if truth_id >= 0:
                n = seen.get(truth_id, 0)  # a split object's second return is a second object
                seen[truth_id] = n + 1
                keys.append((truth_id, n))
                continue
            near = min(ghosts, key=lambda k: math.dist(ghosts[k], (x, y)), default=None)
            if near is not None and math.dist(ghosts[near], (x, y)) <= CLUTTER_GATE_M:
                del ghosts[near]
                key = near
            else:
                self._serial += 1
                key = (-1, self._serial)
            self._ghosts[key] = (x, y)
            keys.append(key)
        return keys

    def _release(self) -> None:
        for key, last in list(self._last_seen.items()):
            if self._cycle - last > self._keep:
                del self._last_seen[key]
                self._free.append(self._slots.pop(key))
