"""One CAN port with the delivery accounting every CAN emulator shares."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from hal.can.port import CanPort
from hal.can.registry import SEND_ONLY, create_can_port
from hal.errors import HalError
from hil.emulators.base import HilEmulatorError
from hil.emulators.gate import ChannelGate

_log = logging.getLogger("hil.emulators")


class CanSender:
    """Sends frames through a ``CanPort`` on ``interface``/``channel`` (``hal``'s adapter for
    that interface, as the daemon's) unless the gate is closed; never raises on a failed send.
    Counts ``sent``, ``failed`` and ``suppressed`` into the counter given.

    A send that finds no room fails at once on SocketCAN (the port's transmit queue is full)
    and after the python-can port's ``send_timeout`` elsewhere: the frame is lost, as on
    hardware.
    """

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
        self._port: CanPort | None = None
        self._failing = False

    def open(self) -> None:
        """Open the port. Raises ``HilEmulatorError`` when it cannot be opened."""
        try:
            port = create_can_port(
                f"emulator {self._name}",
                self._interface,
                self.channel,
                fd=self._fd,
                wanted=SEND_ONLY,
            )
            port.open()
        except (HalError, ValueError) as err:
            raise HilEmulatorError(
                f"emulator {self._name!r}: cannot open CAN {self._interface} {self.channel!r}: "
                f"{err}"
            ) from err
        self._port = port

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            port.close()

    def send(
        self,
        arbitration_id: int,
        data: bytes,
        *,
        extended: bool = False,
        fd: bool = False,
        bitrate_switch: bool = False,
    ) -> bool:
        """Send one data frame; True if it went out (then counted in ``delivered``).

        Raises ``ValueError`` for a frame that cannot exist (``hal.can.frames.check_frame``).
        """
        port = self._open_port()
        return self._deliver(
            lambda: port.send(
                arbitration_id, data, extended=extended, fd=fd, bitrate_switch=bitrate_switch
            ),
            arbitration_id,
        )

    def send_remote(self, arbitration_id: int, length: int, *, extended: bool = False) -> bool:
        """Send one remote request; True if it went out (not counted in ``delivered``)."""
        port = self._open_port()
        return self._deliver(
            lambda: port.send_remote(arbitration_id, length, extended=extended), None
        )

    def _open_port(self) -> CanPort:
        assert self._port is not None, "send before open"
        return self._port

    def _deliver(self, send: Callable[[], None], data_id: int | None) -> bool:
        if self._gate is not None and self._gate.bus_off:
            self._counts["suppressed"] += 1
            return False
        try:
            send()
        except HalError as err:
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
        if data_id is not None:
            self.delivered[data_id] += 1
        return True
