"""SocketCAN's kernel structs: raw ``can_frame``/``canfd_frame`` records to frame batches and back.

Pure functions on bytes and arrays (no sockets), so the fast SocketCAN reader
(``hal.can.socketcan_raw``) stays a thin I/O loop and everything here is property-tested on
arbitrary bytes.

Layouts (``<linux/can.h>``, host byte order)::

    struct can_frame   { u32 can_id; u8 len; u8 pad; u8 res0; u8 len8_dlc; u8 data[8];  }  16 B
    struct canfd_frame { u32 can_id; u8 len; u8 flags; u8 res0; u8 res1;   u8 data[64]; }  72 B

The first 16 bytes agree, so one structured dtype reads both; the number of bytes the kernel
delivered (``CAN_MTU`` or ``CANFD_MTU``) says which one a record is. The ``can_id`` flag bits
and masks are in ``hal.can.frames``, which candump logs share.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from hal.can.frames import (
    CAN_EFF_FLAG,
    CAN_EFF_MASK,
    CAN_ERR_FLAG,
    CAN_RTR_FLAG,
    CAN_SFF_MASK,
    CLASSIC_MAX_DATA,
    FD_LENGTH_VALID,
    FLAG_BRS,
    FLAG_ERROR,
    FLAG_EXTENDED,
    FLAG_FD,
    FLAG_REMOTE,
    FRAME_DTYPE,
    MAX_DATA,
    FrameBatch,
    empty_batch,
)

CAN_MTU = 16
CANFD_MTU = 72
# canfd_frame.flags (<linux/can.h>).
CANFD_BRS = 0x01
CANFD_ESI = 0x02
CANFD_FDF = 0x04

RAW_FRAME_DTYPE = np.dtype(
    [
        ("can_id", "=u4"),
        ("len", "u1"),
        ("flags", "u1"),  # can_frame: __pad
        ("res0", "u1"),
        ("res1", "u1"),  # can_frame: len8_dlc
        ("data", "u1", (MAX_DATA,)),
    ]
)
"""``struct canfd_frame``; a ``can_frame`` is its first ``CAN_MTU`` bytes."""
assert RAW_FRAME_DTYPE.itemsize == CANFD_MTU

TIMESPEC = struct.Struct("@ll")
"""``struct timespec`` as an ``SCM_TIMESTAMPNS`` control message carries it (native longs)."""

_STRUCT_HEAD = struct.Struct("=IBBBB")
_TIMESPEC_FIELD = np.dtype(f"=i{TIMESPEC.size // 2}")
_WORDS = MAX_DATA // 8
# The parse reads and writes payloads as little-endian 64-bit words, not bytes: masking a
# word is one operation where masking its bytes would be eight.
_SLOT_WORDS = np.dtype(
    {
        "names": ["can_id", "len", "flags", "words"],
        "formats": ["=u4", "u1", "u1", ("<u8", (_WORDS,))],
        "offsets": [0, 4, 5, 8],
        "itemsize": CANFD_MTU,
    }
)
_FRAME_FIELDS = FRAME_DTYPE.fields
assert _FRAME_FIELDS is not None
_BATCH_WORDS = np.dtype(
    {
        "names": ["timestamp", "arbitration_id", "flags", "dlc", "words"],
        "formats": [
            *(_FRAME_FIELDS[name][0] for name in ("timestamp", "arbitration_id", "flags", "dlc")),
            ("<u8", (_WORDS,)),
        ],
        "offsets": [
            _FRAME_FIELDS[name][1]
            for name in ("timestamp", "arbitration_id", "flags", "dlc", "data")
        ],
        "itemsize": FRAME_DTYPE.itemsize,
    }
)
"""``FRAME_DTYPE`` with its payload seen as eight words."""
_WORD_MASKS = np.array(
    [
        [(1 << 8 * min(max(length - word, 0), 8)) - 1 for length in range(MAX_DATA + 1)]
        for word in range(0, MAX_DATA, 8)
    ],
    dtype=np.uint64,
)
"""``_WORD_MASKS[w][n]``: the bytes of payload word ``w`` among the first ``n`` payload bytes."""
_FIRST_WORD_MASKS = _WORD_MASKS[0]


@dataclass(frozen=True)
class ParseStats:
    """What one parse found besides good frames.

    ``data_frames`` data and remote frames, ``error_frames`` kernel error frames (both are in
    the batch); ``truncated`` records of neither ``CAN_MTU`` nor ``CANFD_MTU`` bytes and
    ``bad_length`` records whose length field no frame of their type has: above 8 for a
    classic frame, other than 0-8, 12, 16, 20, 24, 32, 48 or 64 for an FD one (the kernel
    only checks ``len <= 64``, so a virtual bus passes a 10-byte FD frame on; both dropped).
    """

    data_frames: int = 0
    error_frames: int = 0
    truncated: int = 0
    bad_length: int = 0

    @property
    def rejected(self) -> int:
        return self.truncated + self.bad_length


def parse_slots(
    buffer: Any, sizes: npt.ArrayLike, timestamps: npt.ArrayLike
) -> tuple[FrameBatch, ParseStats]:
    """Parse records read into consecutive ``CANFD_MTU``-byte slots of ``buffer``.

    ``sizes[i]`` is how many bytes the kernel delivered into slot ``i`` (16: classic, 72: FD,
    anything else: truncated), ``timestamps[i]`` its receive time in Unix seconds. ``buffer``
    (bytes, bytearray, memoryview, array) must hold at least ``len(sizes)`` slots; bytes past
    a classic frame's 16 are ignored, so slots may keep stale bytes from earlier reads.
    ``sizes`` as a list (what the reader keeps) is cheapest: one of a single size, as nearly
    every burst is, is never converted to an array.

    Returns the good frames as a ``FRAME_DTYPE`` batch (in slot order) and the counts.
    Raises ``ValueError`` when ``buffer`` is too small or the arrays' lengths differ.
    """
    count, fd, classic = _record_kinds(sizes)
    stamp_array = np.asarray(timestamps, dtype=np.float64)
    if stamp_array.shape != (count,):
        raise ValueError(f"{count} sizes but timestamps of shape {stamp_array.shape}")
    view = memoryview(buffer).cast("B")
    if view.nbytes < count * CANFD_MTU:
        raise ValueError(f"buffer of {view.nbytes} bytes cannot hold {count} slots")
    if fd is False and count and _LITTLE_ENDIAN:
        parsed = _parse_standard(view, count, stamp_array)
        if parsed is not None:
            return parsed
    records = np.frombuffer(view, dtype=_SLOT_WORDS, count=count)
    return _decode(records, fd, classic, stamp_array)


def parse_stream(raw: bytes, mtu: int, timestamp: float = 0.0) -> tuple[FrameBatch, ParseStats]:
    """Parse ``raw`` as back-to-back structs of ``mtu`` bytes (``CAN_MTU`` or ``CANFD_MTU``).

    A shorter tail counts as one truncated record. Every frame gets ``timestamp``. Returns the
    batch and the counts; raises ``ValueError`` for another ``mtu``.
    """
    if mtu not in (CAN_MTU, CANFD_MTU):
        raise ValueError(f"mtu must be {CAN_MTU} or {CANFD_MTU}, got {mtu}")
    whole, tail = divmod(len(raw), mtu)
    slots = np.zeros(whole, dtype=_SLOT_WORDS)
    if whole:
        packed = np.frombuffer(raw, dtype=np.uint8, count=whole * mtu).reshape(whole, mtu)
        slots.view(np.uint8).reshape(whole, CANFD_MTU)[:, :mtu] = packed
    fd = mtu == CANFD_MTU
    batch, stats = _decode(slots, fd, not fd, np.full(whole, timestamp))
    if tail:
        stats = replace(stats, truncated=stats.truncated + 1)
    return batch, stats


def timespec_seconds(stamps: Sequence[bytes], missing: float) -> npt.NDArray[np.float64]:
    """Unix seconds of ``TIMESPEC`` records, one bytes object each (as the reader keeps its
    control messages' data); an all-zero record (no stamp came) gets ``missing``.

    Raises ``ValueError`` when a record is not ``TIMESPEC.size`` bytes.
    """
    raw = b"".join(stamps)
    if len(raw) != len(stamps) * TIMESPEC.size:
        raise ValueError(f"timestamps must be {TIMESPEC.size}-byte struct timespec records")
    pairs = np.frombuffer(raw, dtype=_TIMESPEC_FIELD).reshape(len(stamps), 2)
    whole = pairs[:, 0]
    # seconds + nanoseconds * 1e-9, the sum made in place (addition commutes: bit for bit).
    seconds: npt.NDArray[np.float64] = pairs[:, 1] * 1e-9
    seconds += whole
    # One pass (counting is cheaper than ``all``) and no mask when every frame is stamped.
    if np.count_nonzero(whole) != len(stamps):
        seconds[whole == 0] = missing
    return seconds


_Kinds = npt.NDArray[np.bool_] | bool
_LITTLE_ENDIAN = sys.byteorder == "little"
_HEAD_FLAGS = CAN_EFF_FLAG | CAN_ERR_FLAG | CAN_RTR_FLAG
_LENGTH_BITS = np.uint64(0xFF << 32)  # a record's len, in its first 8 bytes read as a word


def _parse_standard(
    view: memoryview, count: int, timestamps: npt.NDArray[np.float64]
) -> tuple[FrameBatch, ParseStats] | None:
    """``parse_slots`` for the usual burst, classic data frames with 11-bit ids and lengths
    up to 8 (None for any other, which ``_decode`` parses), on a little-endian host.

    Each record is read as two words, its head (``can_id``, ``len`` and the bytes after)
    and its payload, once, into contiguous arrays; the batch's id, flags and length are one
    word written at its offset 8, before the payload (whose first two bytes it overlaps,
    with zeros). Three passes over the batch's rows instead of five, and none over the
    records but the two reads.
    """
    slots: npt.NDArray[np.uint64] = np.ndarray(
        (count, 2), dtype=np.uint64, buffer=view, strides=(CANFD_MTU, 8)
    )
    head = slots[:, 0].copy()  # modified in place below
    if int(np.bitwise_or.reduce(head)) & _HEAD_FLAGS:
        return None  # extended ids, error or remote frames
    length = head.view(np.uint8)[4::8]  # the len byte of each (little-endian) head
    if int(length.max()) > CLASSIC_MAX_DATA:
        return None
    masks = _FIRST_WORD_MASKS.take(length)  # the method: no Python wrapper
    np.bitwise_and(slots[:, 1], masks, out=masks)  # the payload bytes
    # id | len << 40 (flags 0): the batch's bytes 8-15 (its id, flags, dlc, then zeros).
    row = head & _LENGTH_BITS
    row <<= np.uint64(8)
    np.bitwise_and(head, np.uint64(CAN_SFF_MASK), out=head)
    head |= row
    batch = empty_batch(count)
    batch["timestamp"] = timestamps
    words: npt.NDArray[np.uint64] = np.ndarray(
        (count, 2), dtype=np.uint64, buffer=batch, offset=8, strides=(FRAME_DTYPE.itemsize, 6)
    )
    words[:, 0] = head
    words[:, 1] = masks  # the payload at byte 14, after the head's 6 bytes
    return batch, ParseStats(data_frames=count)


def _record_kinds(sizes: npt.ArrayLike) -> tuple[int, _Kinds, _Kinds]:
    """How many records there are, which are FD and which classic: a plain bool for records
    all of one kind (counting a list is ~30 times faster than converting it to an array)."""
    if isinstance(sizes, list):
        count = len(sizes)
        if sizes.count(CAN_MTU) == count:
            return count, False, True
        if sizes.count(CANFD_MTU) == count:
            return count, True, False
    size_array = np.asarray(sizes, dtype=np.int64)
    return len(size_array), size_array == CANFD_MTU, size_array == CAN_MTU


def _decode(
    records: npt.NDArray[Any],
    fd: _Kinds,
    classic: _Kinds,
    timestamps: npt.NDArray[np.float64],
) -> tuple[FrameBatch, ParseStats]:
    """``records``: ``_SLOT_WORDS``; ``fd`` and ``classic`` as ``_record_kinds`` returns them.

    Whole-array operations on the records where they lie: only a burst with records to drop
    copies them, and error frames, remote requests and FD records cost nothing in a burst
    without them.
    """
    # Contiguous copies of the fields read more than once (records are 72 bytes apart).
    can_id = np.ascontiguousarray(records["can_id"])
    length = np.ascontiguousarray(records["len"])
    # Limits as uint8: an int64 one would widen every length before comparing.
    if isinstance(fd, bool):  # one kind of record, none truncated (the usual burst)
        truncated = 0
        bad = ~np.take(FD_LENGTH_VALID, length) if fd else length > np.uint8(CLASSIC_MAX_DATA)
        keep = ~bad
    else:
        typed = fd | classic
        truncated = len(records) - int(np.count_nonzero(typed))
        invalid = np.where(
            fd, ~np.take(FD_LENGTH_VALID, length), length > np.uint8(CLASSIC_MAX_DATA)
        )
        bad = invalid & typed
        keep = typed & ~bad
    bad_length = int(np.count_nonzero(bad))
    if bad_length or truncated:
        records, can_id, length = records[keep], can_id[keep], length[keep]
        timestamps = timestamps[keep]
        if not isinstance(fd, bool):
            fd = fd[keep]
    has_fd = fd if isinstance(fd, bool) else bool(fd.any())

    extended = can_id >= CAN_EFF_FLAG
    wide = extended  # ids of 29 bits
    flags = extended * np.uint8(FLAG_EXTENDED)
    payload = length  # bytes of payload: a remote request has none
    errors = 0
    if (can_id & np.uint32(CAN_ERR_FLAG | CAN_RTR_FLAG)).any():
        error = (can_id & CAN_ERR_FLAG) != 0
        errors = int(np.count_nonzero(error))
        # An error frame's class bits take the 29 bits of an extended id (CAN_ERR_MASK), but
        # it is no extended frame: FLAG_ERROR replaces FLAG_EXTENDED.
        wide = extended | error
        flags[error] = FLAG_ERROR
        # Remote frames exist only in classic CAN; an FD record's RTR bit means nothing.
        remote = ((can_id & CAN_RTR_FLAG) != 0) & ~error & ~np.asarray(fd)
        flags[remote] |= FLAG_REMOTE
        payload = np.where(remote, np.uint8(0), length)
    if has_fd:
        fd_rows = np.broadcast_to(fd, flags.shape)  # ``fd`` may be one bool for all
        flags[fd_rows] |= FLAG_FD
        flags[fd_rows & ((records["flags"] & CANFD_BRS) != 0)] |= FLAG_BRS

    batch = empty_batch(len(records))
    out = batch.view(_BATCH_WORDS)
    out["timestamp"] = timestamps
    id_masks = np.where(wide, np.uint32(CAN_EFF_MASK), np.uint32(CAN_SFF_MASK))
    np.bitwise_and(can_id, id_masks, out=out["arbitration_id"])
    out["flags"] = flags
    out["dlc"] = length
    # Only the first len bytes are payload: the rest of a slot may hold a longer earlier
    # frame's bytes, or a classic frame's unused room. Word by word, straight into the batch,
    # and only the words some frame uses (one for classic frames; the others stay zero): no
    # temporary the size of the batch, which besides its own cost makes glibc give the
    # heap's top back and fault it in again on every burst.
    words, batch_words = records["words"], out["words"]
    for word in range((int(payload.max(initial=0)) + 7) // 8):
        masks = np.take(_WORD_MASKS[word], payload)
        np.bitwise_and(words[:, word], masks, out=batch_words[:, word])
    stats = ParseStats(
        data_frames=len(records) - errors,
        error_frames=errors,
        truncated=truncated,
        bad_length=bad_length,
    )
    return batch, stats


def pack_frame(
    can_id: int, data: bytes, *, fd: bool = False, fd_flags: int = CANFD_FDF, length: int = -1
) -> bytes:
    """One ``can_frame`` (16 B) or ``canfd_frame`` (72 B) as the kernel expects it.

    ``can_id`` includes the ``CAN_*_FLAG`` bits; ``length`` overrides the length field (for a
    remote frame's requested length). Raises ``ValueError`` when ``data`` does not fit.
    """
    room = MAX_DATA if fd else CLASSIC_MAX_DATA
    if len(data) > room:
        raise ValueError(f"{len(data)} data bytes do not fit a frame of {room}")
    field = len(data) if length < 0 else length
    head = _STRUCT_HEAD.pack(can_id, field, fd_flags if fd else 0, 0, 0)
    return head + data.ljust(room, b"\0")
