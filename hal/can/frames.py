"""The frame batch: CAN frames as one numpy structured array, not one object per frame.

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
FD_LENGTH_VALID = np.isin(np.arange(256), sorted(FD_DATA_LENGTHS))
"""``FD_LENGTH_VALID[n]``: whether ``n`` bytes is a CAN FD length (a lookup table, so that a
batch's uint8 lengths are checked with one ``np.take``)."""

FLAG_EXTENDED = 0x01  # 29-bit identifier
FLAG_FD = 0x02  # CAN FD frame
FLAG_BRS = 0x04  # CAN FD bit-rate switch
FLAG_ERROR = 0x08  # error frame (the id carries the kernel's CAN_ERR_* class bits)
FLAG_REMOTE = 0x10  # remote transmission request

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
        default_flags = FLAG_EXTENDED if arbitration_id > 0x7FF else 0
        flags = frame[3] if len(frame) == 4 else default_flags
        batch[i]["timestamp"] = timestamp
        batch[i]["arbitration_id"] = arbitration_id
        batch[i]["flags"] = flags
        batch[i]["dlc"] = len(data)
        batch[i]["data"][: len(data)] = np.frombuffer(data, dtype=np.uint8)
    return batch
