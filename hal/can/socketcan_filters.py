"""SocketCAN kernel id filters (``CAN_RAW_FILTER``): the ids an application needs, as few
``struct can_filter`` as the kernel should check, so unwanted frames never reach user space."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hal.can.frames import CAN_EFF_FLAG, CAN_EFF_MASK, CAN_SFF_MASK, check_id


@dataclass(frozen=True, order=True)
class CanFilter:
    """One ``struct can_filter``: a frame passes when ``frame_id & mask == can_id & mask``.

    Both fields include the ``CAN_EFF_FLAG`` bit, so a filter matches 11-bit or 29-bit
    frames only.
    """

    can_id: int
    mask: int

    @property
    def extended(self) -> bool:
        return bool(self.can_id & CAN_EFF_FLAG)

    def matches(self, arbitration_id: int, extended: bool) -> bool:
        """Whether a data frame with this id passes (as the kernel decides)."""
        frame_id = arbitration_id | (CAN_EFF_FLAG if extended else 0)
        return (frame_id & self.mask) == (self.can_id & self.mask)

    def admitted(self) -> int:
        """How many distinct ids of its kind this filter lets through."""
        width_mask = CAN_EFF_MASK if self.extended else CAN_SFF_MASK
        return 1 << bin(width_mask & ~self.mask).count("1")


CAN_RAW_FILTER_MAX = 512
"""The kernel refuses more filters than this in one ``CAN_RAW_FILTER`` call."""


def exact_filter(arbitration_id: int, extended: bool) -> CanFilter:
    """The filter passing exactly this id (data and remote frames) of this kind.

    Raises ``ValueError`` when the id is out of range for its kind.
    """
    check_id(arbitration_id, extended=extended)
    if extended:
        return CanFilter(arbitration_id | CAN_EFF_FLAG, CAN_EFF_FLAG | CAN_EFF_MASK)
    return CanFilter(arbitration_id, CAN_EFF_FLAG | CAN_SFF_MASK)


def compute_filters(
    standard_ids: Iterable[int] = (),
    extended_ids: Iterable[int] = (),
    *,
    max_filters: int = 64,
) -> list[CanFilter]:
    """Kernel filters passing every given id, at most ``max_filters`` of them.

    With no more ids than ``max_filters`` each id gets an exact filter and nothing else
    passes. With more, neighbouring ids (by value, same kind) are merged into mask filters,
    each time the pair whose merged filter lets the fewest unwanted ids through, so a few
    more ids may pass; none of the given ones is lost. An empty result means "pass nothing".
    Raises ``ValueError`` for an id out of range, ``max_filters`` outside 1..512, or
    ``max_filters=1`` with ids of both kinds (one filter cannot pass both).
    """
    if not 1 <= max_filters <= CAN_RAW_FILTER_MAX:
        raise ValueError(f"max_filters must be 1..{CAN_RAW_FILTER_MAX}, got {max_filters}")
    filters = sorted(
        {exact_filter(i, False) for i in standard_ids}
        | {exact_filter(i, True) for i in extended_ids}
    )
    if max_filters == 1 and len({f.extended for f in filters}) == 2:
        raise ValueError("max_filters=1 cannot pass both standard and extended ids")
    while len(filters) > max_filters:
        best = _cheapest_merge(filters)
        filters[best : best + 2] = [_merge(filters[best], filters[best + 1])]
    return filters


def _merge(a: CanFilter, b: CanFilter) -> CanFilter:
    mask = a.mask & b.mask & ~(a.can_id ^ b.can_id)
    return CanFilter(a.can_id & mask, mask)


def _cheapest_merge(filters: Sequence[CanFilter]) -> int:
    """Index ``i`` of the neighbours ``(i, i+1)`` whose merge admits the fewest extra ids."""
    best, best_cost = -1, 0
    for i in range(len(filters) - 1):
        a, b = filters[i], filters[i + 1]
        if a.extended != b.extended:
            continue
        cost = _merge(a, b).admitted() - a.admitted() - b.admitted()
        if best < 0 or cost < best_cost:
            best, best_cost = i, cost
    # Neighbours of one kind exist: more filters than kinds (compute_filters checks).
    assert best >= 0
    return best


def pack_filters(filters: Iterable[CanFilter]) -> bytes:
    """The ``CAN_RAW_FILTER`` socket option value: ``struct can_filter`` array."""
    return b"".join(struct.pack("=II", f.can_id, f.mask) for f in filters)
