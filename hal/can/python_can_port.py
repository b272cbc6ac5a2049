"""The python-can adapter: a ``CanPort`` on any python-can interface (virtual, socketcan, ...).

python-can is imported when the port is opened, not when this module is imported, so a board
without it can still import ``hal`` and fails only if it opens such a port.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from hal.can.adapter_base import CanAdapterBase
from hal.can.frames import (
    CLASSIC_MAX_DATA,
    FD_DATA_LENGTHS,
    FLAG_BRS,
    FLAG_ERROR,
    FLAG_EXTENDED,
    FLAG_FD,
    FLAG_REMOTE,
    MAX_DATA,
    FrameBatch,
    empty_batch,
)
from hal.can.port import BusState
from hal.errors import PortClosedError, PortOpenError, TransmitError
from hal.port_tracking import OpenPorts

if TYPE_CHECKING:
    import can

_log = logging.getLogger("hal.can")

_open_ports: OpenPorts[PythonCanPort] = OpenPorts("CAN port", _log)


def open_ports() -> list[PythonCanPort]:
    """The ports of this adapter that are open right now (for leak checks and diagnostics)."""
    return _open_ports.ports()


def leaked_ports() -> int:
    """How many ports were garbage-collected while still open (each was shut down then)."""
    return _open_ports.leaked


class PythonCanPort(CanAdapterBase):
    """A ``CanPort`` backed by ``can.Bus``. Created closed: call ``open()`` or use ``with``.

    Counters: ``rx_frames`` (data and remote frames received), ``rx_error_frames``,
    ``rx_bad_length`` (frames dropped for a length no frame of their kind has: a classic
    frame above 8 bytes, an FD frame of 9-11 bytes say; python-can's virtual bus passes them
    on), ``tx_frames``, ``tx_errors``, ``disconnects``, ``reopens``.

    When the driver fails while receiving (a USB adapter unplugged, an interface gone), the port
    shuts the bus down, reports ``DOWN``, logs once, and tries to reopen it on later receive
    calls, every ``reopen_interval`` seconds; it logs once more when it is back.

    ``send`` waits up to ``send_timeout`` seconds for room in the driver's transmit queue (or,
    on the virtual bus, in a receiver's bounded queue) before it fails with ``TransmitError``.

    A ``send_only`` port (a simulator, an emulator) throws away what it receives each time it
    sends: python-can's virtual bus queues every frame of the channel for every bus on it,
    without bound, so a port nobody reads from would grow by every frame the others send.
    """

    def __init__(
        self,
        name: str,
        interface: str,
        channel: str,
        bitrate: int | None = None,
        fd: bool = False,
        receive_own_messages: bool = False,
        reopen_interval: float = 1.0,
        send_timeout: float = 0.05,
        send_only: bool = False,
    ) -> None:
        """Raises ``ValueError`` for an empty name, interface or channel, a bitrate <= 0, a
        reopen_interval <= 0 or a send_timeout <= 0."""
        for label, value in (("name", name), ("interface", interface), ("channel", channel)):
            if not value:
                raise ValueError(f"CAN port {label} must not be empty")
        if bitrate is not None and bitrate <= 0:
            raise ValueError(f"CAN port {name!r}: bitrate must be positive, got {bitrate}")
        if reopen_interval <= 0:
            raise ValueError(f"CAN port {name!r}: reopen_interval must be positive")
        if not send_timeout > 0:
            raise ValueError(f"CAN port {name!r}: send_timeout must be positive")
        self._reopen_interval = reopen_interval
        self._send_timeout = send_timeout
        self._is_open = False  # the owner's intent: open() called and close() not yet
        self._next_reopen_at = 0.0
        self._disconnects = 0
        self._reopens = 0
        self._name = name
        self._interface = interface
        self._channel = channel
        self._bitrate = bitrate
        self._fd = fd
        self._receive_own_messages = receive_own_messages
        self._send_only = send_only
        self._can: ModuleType | None = None
        self._bus: can.BusABC | None = None
        self._rx_frames = 0
        self._rx_error_frames = 0
        self._rx_bad_length = 0
        self._tx_frames = 0
        self._tx_errors = 0

    def __repr__(self) -> str:
        status = "closed" if not self._is_open else "open" if self._bus is not None else "down"
        return f"<PythonCanPort {self._name!r} {self._interface}:{self._channel} {status}>"

    @property
    def state(self) -> BusState:
        """The bus state python-can reports; ``DOWN`` when closed."""
        bus = self._bus
        if bus is None or self._can is None:
            return BusState.DOWN
        try:
            state = bus.state
        except (NotImplementedError, AttributeError):
            return BusState.ACTIVE
        except Exception:  # asking the driver failed: we cannot tell
            return BusState.UNKNOWN
        states = self._can.BusState
        if state is states.ACTIVE:
            return BusState.ACTIVE
        if state is states.PASSIVE:
            return BusState.PASSIVE
        if state is states.ERROR:
            return BusState.BUS_OFF
        return BusState.UNKNOWN

    @property
    def counters(self) -> Mapping[str, int]:
        return {
            "rx_frames": self._rx_frames,
            "rx_error_frames": self._rx_error_frames,
            "rx_bad_length": self._rx_bad_length,
            "tx_frames": self._tx_frames,
            "tx_errors": self._tx_errors,
            "disconnects": self._disconnects,
            "reopens": self._reopens,
        }

    def open(self) -> None:
        """Create the python-can bus; harmless when already open.

        Raises ``PortOpenError`` when python-can, the interface's driver or the channel is
        missing; the message says what to install or configure.
        """
        if self._is_open:
            return
        self._bus = self._connect()
        self._is_open = True

    def _connect(self) -> can.BusABC:
        try:
            import can
        except ImportError as err:
            raise PortOpenError(
                f"CAN port {self._name!r}: python-can is not installed (pip install python-can)"
            ) from err
        kwargs: dict[str, Any] = {"receive_own_messages": self._receive_own_messages}
        if self._bitrate is not None:
            kwargs["bitrate"] = self._bitrate
        if self._fd:
            kwargs["fd"] = True
        try:
            # ignore_config: settings come from our config only, never from a ~/.canrc.
            bus = can.Bus(
                interface=self._interface, channel=self._channel, ignore_config=True, **kwargs
            )
        # Drivers fail in every way (OSError, CanError, ImportError, even NameError), and all
        # of them mean the same thing here: the port cannot be opened.
        except Exception as err:
            raise PortOpenError(
                f"CAN port {self._name!r}: cannot open {self._interface} channel "
                f"{self._channel!r}: {err}. {self._hint(can, err)}"
            ) from err
        self._can = can
        _open_ports.track(self, self._name, bus.shutdown)
        return bus

    def _hint(self, can: ModuleType, err: Exception) -> str:
        if isinstance(err, NotImplementedError):
            valid = ", ".join(sorted(can.VALID_INTERFACES))
            return f"Known python-can interfaces: {valid}."
        if self._interface == "socketcan" and isinstance(err, OSError):
            if err.errno == errno.EAFNOSUPPORT:
                return (
                    "This kernel has no SocketCAN: load it (modprobe can_raw; modprobe vcan) "
                    "or use interface 'virtual'."
                )
            if err.errno == errno.ENODEV:
                return (
                    f"No network interface {self._channel!r}: for a test bus run "
                    f"'ip link add dev {self._channel} type vcan && ip link set up "
                    f"{self._channel}'; for hardware check the CAN HAT's device-tree overlay "
                    f"and 'ip link set {self._channel} up type can bitrate <N>'."
                )
            if err.errno == errno.ENETDOWN:
                return f"Bring the interface up: 'ip link set {self._channel} up'."
        return (
            f"Check that the driver for python-can interface {self._interface!r} is installed "
            "and the channel exists (see python-can's interface documentation)."
        )

    def close(self) -> None:
        """Shut the bus down; harmless when already closed. Never raises."""
        self._is_open = False
        self._drop_bus()

    def _drop_bus(self) -> None:
        bus, self._bus = self._bus, None
        if bus is None:
            return
        _open_ports.untrack(self)
        try:
            bus.shutdown()
        except Exception:  # the bus is gone either way; the driver's problem is logged
            _log.exception("CAN port %r: bus shutdown failed", self._name)

    def _require_bus(self) -> can.BusABC | None:
        """The live bus of an open port; None while it is down and not yet back."""
        if self._bus is None and time.monotonic() >= self._next_reopen_at:
            self._next_reopen_at = time.monotonic() + self._reopen_interval
            try:
                self._bus = self._connect()
            except PortOpenError:
                return None
            self._reopens += 1
            _log.warning(
                "CAN port %r: %s channel %r is back", self._name, self._interface, self._channel
            )
        return self._bus

    def _receive_internal(self, max_frames: int, timeout: float) -> FrameBatch:
        """Wait up to ``timeout`` s for a frame, then take what is already queued (at most
        ``max_frames``; none while the bus is down). A driver failure does not raise: the
        port goes down and reopens by itself."""
        bus = self._require_bus()
        if bus is None:  # down: wait as a receive would, then report nothing
            time.sleep(min(timeout, max(0.0, self._next_reopen_at - time.monotonic())))
            return empty_batch()
        msg = self._recv(bus, timeout)
        if msg is None:
            return empty_batch()
        batch = empty_batch(max_frames)
        timestamps = batch["timestamp"]
        ids = batch["arbitration_id"]
        flags = batch["flags"]
        dlcs = batch["dlc"]
        data = batch["data"]
        count = 0
        errors = 0
        bad_length = 0
        while msg is not None:
            payload = msg.data
            length = len(payload)
            if not msg.is_error_frame and (
                length not in FD_DATA_LENGTHS
                or not (msg.is_fd or length <= CLASSIC_MAX_DATA)
                or (msg.is_remote_frame and not 0 <= msg.dlc <= CLASSIC_MAX_DATA)
            ):
                bad_length += 1
                if count + bad_length >= max_frames:  # bounded work per call, as for good ones
                    break
                msg = self._recv(bus, 0.0)
                continue
            length = min(length, MAX_DATA)  # an error frame's data is the kernel's 8 bytes
            frame_flags = 0
            if msg.is_extended_id:
                frame_flags |= FLAG_EXTENDED
            if msg.is_fd:
                frame_flags |= FLAG_FD
                if msg.bitrate_switch:
                    frame_flags |= FLAG_BRS
            if msg.is_remote_frame:
                frame_flags |= FLAG_REMOTE
                length = min(msg.dlc, MAX_DATA)  # a remote frame requests dlc bytes, has none
            elif length:
                data[count, :length] = np.frombuffer(payload, dtype=np.uint8, count=length)
            if msg.is_error_frame:
                frame_flags |= FLAG_ERROR
                errors += 1
            timestamps[count] = msg.timestamp
            ids[count] = msg.arbitration_id
            flags[count] = frame_flags
            dlcs[count] = length
            count += 1
            if count == max_frames:
                break
            msg = self._recv(bus, 0.0)
        self._rx_frames += count - errors
        self._rx_error_frames += errors
        self._rx_bad_length += bad_length
        # A short batch is copied out so that a caller keeping it does not pin max_frames' room.
        return batch[:count] if 2 * count >= max_frames else batch[:count].copy()

    def _recv(self, bus: can.BusABC, timeout: float) -> can.Message | None:
        assert self._can is not None  # set together with the bus
        try:
            return bus.recv(timeout)
        except (self._can.CanError, OSError) as err:
            if not self._is_open:  # close() from another thread ended the wait
                raise PortClosedError(f"CAN port {self._name!r} was closed") from err
            self._lost(err)
            return None

    def _lost(self, err: Exception) -> None:
        self._disconnects += 1
        self._next_reopen_at = time.monotonic() + self._reopen_interval
        _log.warning(
            "CAN port %r: %s channel %r is unavailable (%s); reopening every %g s",
            self._name,
            self._interface,
            self._channel,
            err,
            self._reopen_interval,
        )
        self._drop_bus()

    def _send_internal(self, arbitration_id: int, data: bytes, length: int, flags: int) -> None:
        bus = self._require_bus()
        if bus is None:
            self._tx_errors += 1
            raise TransmitError(f"CAN port {self._name!r}: the bus is down")
        assert self._can is not None  # set together with the bus
        remote = bool(flags & FLAG_REMOTE)
        msg = self._can.Message(
            arbitration_id=arbitration_id,
            data=None if remote else data,
            dlc=length,
            is_extended_id=bool(flags & FLAG_EXTENDED),
            is_remote_frame=remote,
            is_fd=bool(flags & FLAG_FD),
            bitrate_switch=bool(flags & FLAG_BRS),
        )
        try:
            bus.send(msg, timeout=self._send_timeout)
        except (self._can.CanError, OSError) as err:
            self._tx_errors += 1
            raise TransmitError(
                f"CAN port {self._name!r}: cannot send id {arbitration_id:#x}: {err}"
            ) from err
        self._tx_frames += 1
        if self._send_only:
            self._discard_received(bus)

    def _discard_received(self, bus: can.BusABC) -> None:
        assert self._can is not None  # set together with the bus
        try:
            while bus.recv(timeout=0.0) is not None:
                pass
        except (self._can.CanError, OSError):
            pass  # receiving is not this port's job: a failing driver shows on its next send
