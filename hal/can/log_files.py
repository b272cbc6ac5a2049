"""CAN log files (candump ``.log``, ``.asc``, ``.blf``, ``.trc``, ...) through python-can's
readers and writers, as frame batches.

A log file is not a bus, but reading one takes python-can, which stays inside ``hal/can``:
the replayer and the log writer of the bench use these two functions. python-can is imported
when a file is read or written, as the python-can adapter imports it when a port opens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from hal.can.frames import (
    CAN_ERR_MASK,
    CLASSIC_MAX_DATA,
    FLAG_BRS,
    FLAG_ERROR,
    FLAG_EXTENDED,
    FLAG_FD,
    FLAG_REMOTE,
    MAX_DATA,
    FrameBatch,
    check_frame,
    check_id,
    empty_batch,
)
from hal.errors import LogFileError


@dataclass(frozen=True)
class CanLog:
    """The frames of a log file: one row of ``frames`` per logged frame, in file order, with
    its logged timestamp.

    Data frames, classic remote requests (``dlc`` then the requested length) and error frames
    (``FLAG_ERROR``, their class bits in the id) are rows as a port would receive them.
    ``sendable[i]`` is False for a frame no controller could send, whose row holds only its
    timestamp: an id out of range for its kind, an FD remote frame, a length no frame of its
    kind has, a data length differing from the logged DLC, or FD flags on a classic frame.
    """

    frames: FrameBatch
    sendable: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def unsendable(self) -> int:
        return int(np.count_nonzero(~self.sendable))


def read_can_log(path: Path) -> CanLog:
    """Read a CAN log in any format python-can reads (chosen by the file's suffix).

    Raises ``LogFileError`` naming the file when python-can is missing or the file cannot be
    read (missing, unknown suffix, corrupt).
    """
    can = _python_can(path)
    try:
        with can.LogReader(path) as reader:
            messages = list(reader)
    except Exception as err:  # each reader fails its own way (ValueError, struct.error, ...)
        raise LogFileError(f"cannot read CAN log {path}: {err!r}") from err
    batch = empty_batch(len(messages))
    sendable = np.zeros(len(messages), dtype=np.bool_)
    for i, message in enumerate(messages):
        batch[i]["timestamp"] = message.timestamp
        row = _row(message)
        if row is None:
            continue
        arbitration_id, flags, length, payload = row
        frame = batch[i]
        frame["arbitration_id"] = arbitration_id
        frame["flags"] = flags
        frame["dlc"] = length
        frame["data"][: len(payload)] = np.frombuffer(payload, dtype=np.uint8)
        sendable[i] = True
    return CanLog(batch, sendable)


def _row(message: Any) -> tuple[int, int, int, bytes] | None:
    """``(arbitration_id, flags, length, payload)`` of one python-can message, or None when
    no controller could send it."""
    payload = bytes(message.data or b"")
    if message.is_error_frame:
        payload = payload[:MAX_DATA]
        return message.arbitration_id & CAN_ERR_MASK, FLAG_ERROR, len(payload), payload
    extended = bool(message.is_extended_id)
    flags = FLAG_EXTENDED if extended else 0
    try:
        if message.is_remote_frame:
            check_id(message.arbitration_id, extended=extended)
            if message.is_fd or payload or not 0 <= message.dlc <= CLASSIC_MAX_DATA:
                return None
            return message.arbitration_id, flags | FLAG_REMOTE, message.dlc, b""
        check_frame(message.arbitration_id, len(payload), extended=extended, fd=message.is_fd)
    except ValueError:
        return None
    if message.dlc != len(payload):
        return None
    if message.is_fd:
        flags |= FLAG_FD | (FLAG_BRS if message.bitrate_switch else 0)
    elif message.bitrate_switch or message.error_state_indicator:
        return None
    return message.arbitration_id, flags, len(payload), payload


def write_can_log(path: Path, frames: FrameBatch) -> int:
    """Write ``frames`` (a ``FRAME_DTYPE`` batch) to ``path`` in the format its suffix names
    (``.log`` candump, ``.asc``, ``.blf``, ...). Returns the number of frames written.

    Raises ``ValueError`` for a suffix python-can cannot write, ``LogFileError`` when
    python-can is missing or the file cannot be written.
    """
    can = _python_can(path)
    try:
        writer = can.Logger(path)
    except OSError as err:
        raise LogFileError(f"cannot write CAN log {path}: {err}") from err
    try:
        with writer:
            for frame in frames:
                flags = int(frame["flags"])
                length = int(frame["dlc"])
                remote = bool(flags & FLAG_REMOTE)
                writer.on_message_received(
                    can.Message(
                        timestamp=float(frame["timestamp"]),
                        arbitration_id=int(frame["arbitration_id"]),
                        is_extended_id=bool(flags & FLAG_EXTENDED),
                        is_remote_frame=remote,
                        is_error_frame=bool(flags & FLAG_ERROR),
                        is_fd=bool(flags & FLAG_FD),
                        bitrate_switch=bool(flags & FLAG_BRS),
                        dlc=length,
                        data=None if remote else frame["data"][:length].tobytes(),
                    )
                )
    except OSError as err:
        raise LogFileError(f"cannot write CAN log {path}: {err}") from err
    return len(frames)


def _python_can(path: Path) -> ModuleType:
    try:
        import can
    except ImportError as err:
        raise LogFileError(
            f"CAN log {path}: python-can is not installed (pip install python-can)"
        ) from err
    return can
