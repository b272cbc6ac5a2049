"""CAN frame layout: the frame batch, its flag bits, lengths, id ranges and SocketCAN's id bits.

A leaf module: it imports nothing of ours, so ``protocols`` may import it as well as ``hal``
(the one allowance ``tests/architecture/test_dependency_direction.py`` makes). Every constant
about a frame's layout lives here once.

Every CAN port returns received frames as a 1-D array of ``FRAME_DTYPE``. Decoders read the
columns directly (``batch["arbitration_id"]``, ``batch["data"]``), so a burst of thousands of
frames costs a handful of numpy operations instead of thousands of Python objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

MAX_DATA = 64
"""Bytes of payload room per frame: CAN FD's maximum. Classic frames use the first 8."""
CLASSIC_MAX_DATA = 8
FD_DATA_LENGTHS = frozenset((*range(9), 12, 16, 20, 24, 32, 48, 64))
"""The payload lengths a CAN FD frame can have (ISO 11898-1 DLC codes 0-15)."""
FD_LENGTH_VALID = np.isin(np.arange(257), sorted(FD_DATA_LENGTHS))
"""``FD_LENGTH_VALID[n]``: whether ``n`` bytes is a CAN FD length (a lookup table, so that a
batch's uint8 lengths are checked with one ``np.take``); index 256 stands for every length out
of uint8's range (False)."""

MAX_STANDARD_ID = 0x7FF
MAX_EXTENDED_ID = 0x1FFF_FFFF

# The batch's ``flags`` bits.
FLAG_EXTENDED = 0x01  # 29-bit identifier
FLAG_FD = 0x02  # CAN FD frame
FLAG_BRS = 0x04  # CAN FD bit-rate switch
FLAG_ERROR = 0x08  # error frame (the id carries the kernel's CAN_ERR_* class bits)
FLAG_REMOTE = 0x10  # remote transmission request
FLAG_NOT_DATA = FLAG_ERROR | FLAG_REMOTE
"""Frames that carry no signals: error frames and remote requests."""

# SocketCAN's can_id: the id plus flag bits (<linux/can.h>); candump logs print it too.
CAN_EFF_FLAG = 0x8000_0000
CAN_RTR_FLAG = 0x4000_0000
CAN_ERR_FLAG = 0x2000_0000
CAN_SFF_MASK = 0x0000_07FF
CAN_EFF_MASK = 0x1FFF_FFFF
CAN_ERR_MASK = 0x1FFF_FFFF

FRAME_DTYPE = np.dtype(
    [
        ("timestamp", np.float64),  # seconds since the Unix epoch (receive time)
        ("arbitration_id", np.uint32),
        ("flags", np.uint8),
        ("dlc", np.uint8),  # payload length in bytes (0-64), not the raw DLC code
        ("data", np.uint8, (MAX_DATA,)),
    ]
)

FrameBatch = npt.NDArray[Any]
"""A 1-D array of ``FRAME_DTYPE``."""


def empty_batch(size: int = 0) -> FrameBatch:
    """A zeroed batch of ``size`` frames."""
    return np.zeros(size, dtype=FRAME_DTYPE)


def make_batch(
    frames: Sequence[tuple[float, int, bytes] | tuple[float, int, bytes, int]],
) -> FrameBatch:
    """Build a batch from ``(timestamp, arbitration_id, data[, flags])`` tuples.

    A convenience for tests, simulators and slow paths; hot paths fill arrays directly.
    Raises ``ValueError`` for data of a length no CAN or CAN FD frame has (9-11 bytes, say).
    """
    batch = empty_batch(len(frames))
    for i, frame in enumerate(frames):
        timestamp, arbitration_id, data = frame[0], frame[1], frame[2]
        if len(data) not in FD_DATA_LENGTHS:
            raise ValueError(
                f"frame {i}: {len(data)} data bytes; a frame has one of {sorted(FD_DATA_LENGTHS)}"
            )
        default_flags = FLAG_EXTENDED if arbitration_id > MAX_STANDARD_ID else 0
        flags = frame[3] if len(frame) == 4 else default_flags
        batch[i]["timestamp"] = timestamp
        batch[i]["arbitration_id"] = arbitration_id
        batch[i]["flags"] = flags
        batch[i]["dlc"] = len(data)
        batch[i]["data"][: len(data)] = np.frombuffer(data, dtype=np.uint8)
    return batch


def check_id(arbitration_id: int, *, extended: bool) -> None:
    """Raises ``ValueError`` when ``arbitration_id`` is out of range for its kind."""
    limit = MAX_EXTENDED_ID if extended else MAX_STANDARD_ID
    if not 0 <= arbitration_id <= limit:
        kind = "extended" if extended else "standard"
        raise ValueError(f"{kind} CAN id must be 0..{limit:#x}, got {arbitration_id:#x}")


def check_frame(arbitration_id: int, length: int, *, extended: bool, fd: bool) -> None:
    """Check that a data frame of this id, kind and payload ``length`` can exist.

    Raises ``ValueError`` for an id out of range for its kind, more than 8 bytes in a classic
    frame, or a length no CAN FD frame has (9-11 bytes, say).
    """
    check_id(arbitration_id, extended=extended)
    if fd:
        if length not in FD_DATA_LENGTHS:
            raise ValueError(
                f"a CAN FD frame carries one of {sorted(FD_DATA_LENGTHS)} bytes, got {length}"
            )
    elif length > CLASSIC_MAX_DATA:
        raise ValueError(f"a classic CAN frame carries at most 8 bytes, got {length}")
