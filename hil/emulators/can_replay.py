"""Replay a recorded CAN log (candump, ASC, BLF, TRC) onto a bus with its original timing."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import can

from hil.clock import ScenarioClock
from hil.emulators.base import HilEmulatorError, ThreadedEmulator
from hil.emulators.can_sender import CanSender
from hil.emulators.gate import ChannelGate

MIN_PASS_S = 0.01
"""Shortest pass of a looped log (log time), so a log whose frames share one timestamp does
not flood the bus."""


@dataclass(frozen=True)
class _Slot:
    offset_s: float  # log time since the first frame
    message: can.Message | None  # None: not sent, counted under ``skip``
    skip: str = ""


class CanLogReplayer(ThreadedEmulator):
    """Sends the frames of ``log`` on one channel: the first at scenario time ``start_s``,
    the others at their log-time offset divided by ``speed``; again and again if ``loop``.

    Error frames are not sent (``skipped_error_frames``), nor frames no controller could
    send (``skipped_invalid``: e.g. a standard id above 0x7FF, an FD remote frame). Remote
    frames are sent but not counted in ``delivered``. Stats: ``sent``, ``failed``,
    ``suppressed``, ``skipped_error_frames``, ``skipped_invalid``, ``loops`` (passes done).
    """

    def __init__(
        self,
        name: str,
        log: Path,
        *,
        channel: str,
        interface: str = "socketcan",
        gate: ChannelGate | None = None,
        speed: float = 1.0,
        start_s: float = 0.0,
        loop: bool = False,
    ) -> None:
        """Reads the whole log now. Raises ``HilEmulatorError`` naming the file if it cannot
        be read or holds no frame, ``ValueError`` for a speed <= 0 or a negative start."""
        super().__init__(name)
        if not speed > 0:
            raise ValueError(f"emulator {name!r}: speed must be positive, got {speed}")
        if start_s < 0:
            raise ValueError(f"emulator {name!r}: start_s must not be negative, got {start_s}")
        self.log = log
        self.channel = channel
        self._speed = speed
        self._start_s = start_s
        self._loop = loop
        self._slots = _read_log(log)
        self.frames_in_log = len(self._slots)
        span = self._slots[-1].offset_s
        mean_gap = span / (len(self._slots) - 1) if len(self._slots) > 1 else 0.0
        self._pass_s = max(MIN_PASS_S, span + mean_gap)
        fd = any(s.message is not None and s.message.is_fd for s in self._slots)
        self._sender = CanSender(
            self._counts, name=name, channel=channel, interface=interface, gate=gate, fd=fd
        )
        # Every key up front: another thread may copy ``stats`` while this one counts.
        for key in (
            "sent",
            "failed",
            "suppressed",
            "skipped_error_frames",
            "skipped_invalid",
            "loops",
        ):
            self._counts[key] = 0

    @property
    def delivered(self) -> Counter[int]:
        return self._sender.delivered

    def _open(self) -> None:
        self._sender.open()

    def _close(self) -> None:
        self._sender.close()

    def _run(self, clock: ScenarioClock) -> None:
        begin = self._start_s
        while True:
            for slot in self._slots:
                if self._wait_until(begin + slot.offset_s / self._speed):
                    return
                if slot.message is None:
                    self._counts[slot.skip] += 1
                else:
                    self._sender.send(slot.message)
            self._counts["loops"] += 1
            if not self._loop:
                return
            begin += self._pass_s / self._speed


def _read_log(path: Path) -> list[_Slot]:
    try:
        with can.LogReader(path) as reader:
            messages = list(reader)
    except Exception as err:  # each reader fails its own way (ValueError, struct.error, ...)
        raise HilEmulatorError(f"cannot read CAN log {path}: {err!r}") from err
    if not messages:
        raise HilEmulatorError(f"CAN log {path} holds no frames")
    t0 = messages[0].timestamp
    return [_slot(message, message.timestamp - t0) for message in messages]


def _slot(logged: can.Message, offset_s: float) -> _Slot:
    if logged.is_error_frame:
        return _Slot(offset_s, None, "skipped_error_frames")
    try:
        # A fresh message: a logged one carries its log channel, which SocketCAN would
        # send on, and its timestamp.
        message = can.Message(
            arbitration_id=logged.arbitration_id,
            is_extended_id=logged.is_extended_id,
            is_remote_frame=logged.is_remote_frame,
            is_fd=logged.is_fd,
            bitrate_switch=logged.bitrate_switch,
            error_state_indicator=logged.error_state_indicator,
            dlc=logged.dlc,
            data=None if logged.is_remote_frame else bytes(logged.data),
            check=True,
        )
    except ValueError:
        return _Slot(offset_s, None, "skipped_invalid")
    return _Slot(offset_s, message)
