"""Replay a recorded CAN log (candump, ASC, BLF, TRC) onto a bus with its original timing."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from hal.can.frames import FLAG_BRS, FLAG_ERROR, FLAG_EXTENDED, FLAG_FD, FLAG_REMOTE
from hal.can.log_files import read_can_log
from hal.errors import HalError
from hil.clock import ScenarioClock
from hil.emulators.base import HilEmulatorError, ThreadedEmulator
from hil.emulators.can_sender import CanSender
from hil.emulators.gate import ChannelGate

MIN_PASS_S = 0.01
"""Shortest pass of a looped log (log time), so a log whose frames share one timestamp does
not flood the bus."""


@dataclass(frozen=True)
class _Slot:
    """One frame of the log to send (``skip`` empty) or to count under ``skip``."""

    offset_s: float  # log time since the first frame
    arbitration_id: int = 0
    data: bytes = b""
    length: int = 0  # a remote frame's requested length
    flags: int = 0  # the frame batch's FLAG_* bits
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
        fd = any(s.flags & FLAG_FD for s in self._slots)
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
                if slot.skip:
                    self._counts[slot.skip] += 1
                elif slot.flags & FLAG_REMOTE:
                    self._sender.send_remote(
                        slot.arbitration_id, slot.length, extended=bool(slot.flags & FLAG_EXTENDED)
                    )
                else:
                    self._sender.send(
                        slot.arbitration_id,
                        slot.data,
                        extended=bool(slot.flags & FLAG_EXTENDED),
                        fd=bool(slot.flags & FLAG_FD),
                        bitrate_switch=bool(slot.flags & FLAG_BRS),
                    )
            self._counts["loops"] += 1
            if not self._loop:
                return
            begin += self._pass_s / self._speed


def _read_log(path: Path) -> list[_Slot]:
    """The log's frames as slots. Raises ``HilEmulatorError`` naming the file if it cannot be
    read or holds no frame."""
    try:
        log = read_can_log(path)
    except HalError as err:
        raise HilEmulatorError(str(err)) from err
    if not len(log):
        raise HilEmulatorError(f"CAN log {path} holds no frames")
    frames = log.frames
    offsets = (frames["timestamp"] - frames["timestamp"][0]).tolist()
    slots = []
    for offset_s, frame, sendable in zip(offsets, frames, log.sendable.tolist(), strict=True):
        flags = int(frame["flags"])
        if not sendable:
            slots.append(_Slot(offset_s, skip="skipped_invalid"))
        elif flags & FLAG_ERROR:
            slots.append(_Slot(offset_s, skip="skipped_error_frames"))
        else:
            length = int(frame["dlc"])
            data = b"" if flags & FLAG_REMOTE else frame["data"][:length].tobytes()
            slots.append(_Slot(offset_s, int(frame["arbitration_id"]), data, length, flags))
    return slots
