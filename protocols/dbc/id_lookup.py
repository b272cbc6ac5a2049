"""Frame ids to messages: ``IdTables`` puts each frame of a batch in its message's bucket
(11-bit ids by a lookup table, 29-bit ids by binary search, J1939 ids by their parameter
group number), and ``j1939_pgn`` gives the PGN of an id.

J1939: a message of a DBC whose protocol is J1939 (cantools' ``Message.protocol``) matches
frames on its parameter group number, whatever their priority and source address. For a PDU1
PGN (PDU format below 240) the PDU-specific byte is the destination address, so it is masked
too; for a PDU2 PGN (240 and above) it is the group extension and is part of the PGN. An exact
29-bit id match wins over a PGN match, and a PGN shared by several messages of the DBC (one per
source address, say) matches only exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hal.can.frames import CAN_EFF_MASK, FD_LENGTH_VALID, MAX_STANDARD_ID
from protocols.dbc.plan_compiler import MessagePlan


def j1939_pgn(frame_id: int) -> int:
    """The parameter group number of a 29-bit J1939 id (as ``cantools.j1939.pgn_from_frame_id``).

    EDP, data page and PDU format are part of the PGN; the PDU-specific byte is only for PDU2
    formats (>= 240); for PDU1 it is the destination address.
    """
    pgn = (frame_id >> 8) & 0x3FFFF
    if (pgn >> 8) & 0xFF < 240:
        pgn &= 0x3FF00
    return pgn


def frame_key(frame_id: int, extended: bool) -> int:
    """The key of a frame id in ``IdTables.build``'s ``exact``: bit 32 set for a 29-bit id."""
    return frame_id | (1 << 32 if extended else 0)


def _j1939_pgns(ids: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    """``j1939_pgn`` of every id of an array."""
    pgn = (ids >> np.uint32(8)) & np.uint32(0x3FFFF)
    pdu1 = ((pgn >> np.uint32(8)) & np.uint32(0xFF)) < 240
    result: npt.NDArray[np.uint32] = np.where(pdu1, pgn & np.uint32(0x3FF00), pgn)
    return result


@dataclass(frozen=True, eq=False)
class IdTables:
    """Frame id -> bucket (``slot + 1``, the slot indexing the decoder's plans; 0: no
    message), built once per decoder.

    11-bit ids index ``standard`` directly (its last entry, 0, catches every other id);
    29-bit ids are binary-searched in ``extended_ids``, then (J1939) their PGN in ``pgns``.
    ``lengths`` is each bucket's minimum dlc: 0 for unknown ids, then each message's length.

    ``pairs`` (None for a decoder of 4096 messages or more, or with an 11-bit id past
    0x7FF) gives the bucket of an 11-bit
    frame from its id and length at once (``standard_buckets``): ``row_of_id[id]`` is its
    id's bucket times 256, ``pairs[row | dlc]`` the frame's bucket, short frames' and
    frames of a length no frame has (``len(plans) + 2``) included.
    """

    standard: npt.NDArray[np.int16]
    extended_ids: npt.NDArray[np.uint32]
    extended_buckets: npt.NDArray[np.int16]
    pgns: npt.NDArray[np.uint32]
    pgn_buckets: npt.NDArray[np.int16]
    lengths: npt.NDArray[np.integer[Any]]
    row_of_id: npt.NDArray[np.intp]  # intp: ``pairs`` is read at these rows as they are
    pairs: npt.NDArray[np.integer[Any]] | None

    @staticmethod
    def build(
        plans: tuple[MessagePlan, ...],
        exact: Mapping[int, MessagePlan],
        by_pgn: Mapping[int, MessagePlan],
    ) -> IdTables:
        if len(plans) > np.iinfo(np.int16).max - 3:  # buckets up to len(plans) + 2
            raise ValueError(f"too many messages for one decoder: {len(plans)}")
        bucket_of = {id(plan): slot + 1 for slot, plan in enumerate(plans)}
        standard_ids = {k: bucket_of[id(p)] for k, p in exact.items() if not k & (1 << 32)}
        size = max([MAX_STANDARD_ID, *standard_ids]) + 2
        standard = np.zeros(size, dtype=np.int16)
        for frame_id, bucket in standard_ids.items():
            standard[frame_id] = bucket
        extended = sorted(
            (k & 0xFFFFFFFF, bucket_of[id(p)]) for k, p in exact.items() if k & (1 << 32)
        )
        pgns = sorted((pgn, bucket_of[id(p)]) for pgn, p in by_pgn.items())
        lengths = np.array([0, *(p.length for p in plans)], dtype=np.int64)
        pairs = None
        if len(plans) < _PAIRED_BELOW and size == MAX_STANDARD_ID + 2:
            dlc = np.arange(256)
            pairs = np.where(
                dlc < lengths[:, None], len(plans) + 1, np.arange(len(plans) + 1)[:, None]
            )
            pairs[0] = 0  # an unknown id, never short
            pairs[:, ~FD_LENGTH_VALID[:256]] = len(plans) + 2
            pairs = pairs.reshape(-1).astype(np.uint8 if len(plans) + 2 < 256 else np.int16)
        return IdTables(
            standard=standard,
            extended_ids=np.array([k for k, _ in extended], dtype=np.uint32),
            extended_buckets=np.array([b for _, b in extended], dtype=np.int16),
            pgns=np.array([k for k, _ in pgns], dtype=np.uint32),
            pgn_buckets=np.array([b for _, b in pgns], dtype=np.int16),
            # uint8 when it can, to compare with a frame batch's uint8 dlc without widening.
            lengths=np.array(
                [0, *(p.length for p in plans)],
                dtype=np.uint8 if all(p.length < 256 for p in plans) else np.int16,
            ),
            row_of_id=standard.astype(np.intp) << 8,
            pairs=pairs,
        )

    def standard_buckets(
        self, ids: npt.NDArray[np.uint32], lengths: npt.NDArray[np.uint8]
    ) -> npt.NDArray[np.integer[Any]]:
        """Each frame's bucket, for frames all with 11-bit ids and ``uint8`` lengths (when
        ``pairs`` is not None): as ``buckets``, and ``len(plans) + 2`` for a length no frame
        has. Two lookups, no mask."""
        assert self.pairs is not None
        # Ids past 0x7FF read the table's last entry, 0: unknown (mode "clip"; it is also
        # twice as fast as the default's checks with uint32 indices). Every row | dlc is an
        # entry of ``pairs``.
        rows = self.row_of_id.take(ids, mode="clip")
        np.bitwise_or(rows, lengths, out=rows)
        buckets: npt.NDArray[np.integer[Any]] = self.pairs.take(rows, mode="clip")
        return buckets

    def buckets(
        self,
        ids: npt.NDArray[np.uint32],
        extended: npt.NDArray[np.bool_] | None,
        lengths: npt.NDArray[np.integer[Any]],
    ) -> npt.NDArray[np.int16]:
        """Each frame's bucket: 0 for an id no message has, ``slot + 1`` for a frame of the
        message in that slot, ``len(plans) + 1`` for a frame shorter than its message.
        ``extended`` None: ids above 0x7FF are extended.

        One array gives the counts and the grouping (one sort) of every kind of frame, so no
        group needs a mask of its short frames.
        """
        beyond = self.standard.shape[0] - 1
        index = np.minimum(ids, beyond)
        if extended is not None:
            np.putmask(index, extended, beyond)  # a 29-bit id never matches an 11-bit one
        # np.take: twice as fast as fancy indexing for a 1-D lookup table.
        buckets: npt.NDArray[np.int16] = np.take(self.standard, index)
        if self.extended_ids.shape[0] or self.pgns.shape[0]:
            rows = np.flatnonzero(ids > MAX_STANDARD_ID if extended is None else extended)
            if rows.shape[0]:
                buckets[rows] = self._extended(ids[rows])
        # Bucket 0 (unknown) reads the table's first entry, 0: never short.
        np.putmask(buckets, lengths < np.take(self.lengths, buckets), self.lengths.shape[0])
        return buckets

    def _extended(self, ids: npt.NDArray[np.uint32]) -> npt.NDArray[np.int16]:
        buckets = np.zeros(ids.shape[0], dtype=np.int16)
        _search(self.extended_ids, self.extended_buckets, ids, buckets)
        if self.pgns.shape[0]:
            # An exact 29-bit match wins; only the rest are matched on their PGN.
            missing = np.flatnonzero(buckets == 0)
            found = np.zeros(missing.shape[0], dtype=np.int16)
            pgns = _j1939_pgns(ids[missing] & np.uint32(CAN_EFF_MASK))
            _search(self.pgns, self.pgn_buckets, pgns, found)
            buckets[missing] = found
        return buckets


_PAIRED_BELOW = 4096
"""Decoders of fewer messages get ``IdTables.pairs`` (256 entries per message)."""


def _search(
    keys: npt.NDArray[np.uint32],
    values: npt.NDArray[np.int16],
    wanted: npt.NDArray[np.uint32],
    out: npt.NDArray[np.int16],
) -> None:
    """Set ``out[i] = values[j]`` where ``wanted[i] == keys[j]`` (``keys`` sorted)."""
    if keys.shape[0] == 0 or wanted.shape[0] == 0:
        return
    position = np.minimum(np.searchsorted(keys, wanted), keys.shape[0] - 1)
    hit = keys[position] == wanted
    out[hit] = values[position[hit]]
