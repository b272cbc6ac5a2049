"""What every CAN adapter shares: the checks of ``send``, ``send_remote`` and ``receive``.

As python-can's ``BusABC.send`` / ``_send_internal`` split: the public methods check the port
and the frame once, here; an adapter implements only ``_send_internal`` and
``_receive_internal``, which may assume a valid frame on an open port.
"""

from __future__ import annotations

from hal.can.frames import (
    CLASSIC_MAX_DATA,
    FLAG_BRS,
    FLAG_EXTENDED,
    FLAG_FD,
    FLAG_REMOTE,
    FrameBatch,
    check_frame,
    check_id,
)
from hal.errors import PortClosedError
from hal.port_base import AdapterBase


class CanAdapterBase(AdapterBase):
    """Base of the CAN adapters. Subclasses set ``_fd`` (opened for CAN FD) besides what
    ``AdapterBase`` asks, and implement ``_send_internal`` and ``_receive_internal``."""

    _fd: bool

    def send(
        self,
        arbitration_id: int,
        data: bytes,
        *,
        extended: bool = False,
        fd: bool = False,
        bitrate_switch: bool = False,
    ) -> None:
        """Queue one data frame; ``bitrate_switch`` sends an FD frame's payload fast.

        Raises ``PortClosedError`` when not open, ``TransmitError`` when the adapter cannot
        send it, ``ValueError`` for an id out of range, a length no frame of its kind has, an
        FD frame on a port opened without ``fd=True``, or a bit-rate switch without ``fd``.
        """
        self._require_open()
        if fd and not self._fd:
            raise ValueError(f"CAN port {self._name!r} was not opened with fd=True")
        if bitrate_switch and not fd:
            raise ValueError("a bit-rate switch exists only in CAN FD frames")
        check_frame(arbitration_id, len(data), extended=extended, fd=fd)
        flags = (
            (FLAG_EXTENDED if extended else 0)
            | (FLAG_FD if fd else 0)
            | (FLAG_BRS if bitrate_switch else 0)
        )
        self._send_internal(arbitration_id, bytes(data), len(data), flags)

    def send_remote(self, arbitration_id: int, length: int, *, extended: bool = False) -> None:
        """Queue one remote request for ``length`` bytes (classic CAN only: FD has none).

        Raises ``PortClosedError`` when not open, ``TransmitError`` when the adapter cannot
        send it, ``ValueError`` for an id out of range or a length outside 0..8.
        """
        self._require_open()
        check_id(arbitration_id, extended=extended)
        if not 0 <= length <= CLASSIC_MAX_DATA:
            raise ValueError(f"a remote request asks for 0..8 bytes, got {length}")
        self._send_internal(
            arbitration_id, b"", length, FLAG_REMOTE | (FLAG_EXTENDED if extended else 0)
        )

    def receive(self, max_frames: int = 1024, timeout: float = 0.1) -> FrameBatch:
        """Wait up to ``timeout`` s for frames; return at most ``max_frames`` (maybe none) as a
        ``FRAME_DTYPE`` batch (see the adapter for what it counts and how it recovers).

        Raises ``ValueError`` if ``max_frames`` < 1 or ``timeout`` < 0, ``PortClosedError``
        when not open.
        """
        if max_frames < 1:
            raise ValueError(f"max_frames must be at least 1, got {max_frames}")
        if timeout < 0:
            raise ValueError(f"timeout must not be negative, got {timeout}")
        self._require_open()
        return self._receive_internal(max_frames, timeout)

    def _require_open(self) -> None:
        if not self._is_open:
            raise PortClosedError(f"CAN port {self._name!r} is not open")

    def _send_internal(self, arbitration_id: int, data: bytes, length: int, flags: int) -> None:
        """Send a checked frame: ``flags`` are the batch's ``FLAG_*`` bits (extended, FD,
        bit-rate switch, remote), ``length`` the payload length (a remote frame's requested
        length; its ``data`` is empty). Raises ``TransmitError``."""
        raise NotImplementedError

    def _receive_internal(self, max_frames: int, timeout: float) -> FrameBatch:
        """``receive`` on an open port with checked arguments."""
        raise NotImplementedError
