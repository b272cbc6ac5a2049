"""One python-can bus with the delivery accounting every CAN emulator shares."""

from __future__ import annotations

import logging
from collections import Counter

import can

from hil.emulators.base import HilEmulatorError
from hil.emulators.gate import ChannelGate

_log = logging.getLogger("hil.emulators")

SEND_TIMEOUT_S = 0.05
"""How long a send may wait for room in the transmit queue before it counts as failed."""


class CanSender:
    """Sends frames on ``interface``/``channel`` unless the gate is closed; never raises on a
    failed send. Counts ``sent``, ``failed`` and ``suppressed`` into the counter given."""

    def __init__(
        self,
        counts: Counter[str],
        *,
        name: str,
        channel: str,
        interface: str,
        gate: ChannelGate | None,
        fd: bool = False,
    ) -> None:
        self.channel = channel
        self.delivered: Counter[int] = Counter()
        self._counts = counts
        self._name = name
        self._interface = interface
        self._gate = gate
        self._fd = fd
        self._bus: can.BusABC | None = None
        self._failing = False

    def open(self) -> None:
        try:
            self._bus = can.Bus(interface=self._interface, channel=self.channel, fd=self._fd)
        except (can.CanError, OSError, ValueError, ImportError) as err:
            raise HilEmulatorError(
                f"emulator {self._name!r}: cannot open CAN {self._interface} {self.channel!r}: "
                f"{err}"
            ) from err

    def close(self) -> None:
        bus, self._bus = self._bus, None
        if bus is not None:
            bus.shutdown()

    def send(self, message: can.Message) -> bool:
        """Send one frame; True if it went out (counted in ``delivered`` if a data frame)."""
        if self._gate is not None and self._gate.bus_off:
            self._counts["suppressed"] += 1
            return False
        assert self._bus is not None, "send before open"
        try:
            self._bus.send(message, timeout=SEND_TIMEOUT_S)
        except (can.CanError, OSError) as err:
            # 'Network is down' while the link is down, a full queue: the frame is lost, the
            # emulated hardware goes on. Logged once per run of failures.
            self._counts["failed"] += 1
            if not self._failing:
                self._failing = True
                _log.warning("emulator %r: send on %s failed: %s", self._name, self.channel, err)
            return False
        if self._failing:
            self._failing = False
            _log.info("emulator %r: sending on %s again", self._name, self.channel)
        self._counts["sent"] += 1
        if not message.is_remote_frame and not message.is_error_frame:
            self.delivered[message.arbitration_id] += 1
        return True
