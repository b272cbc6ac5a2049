"""The pyserial adapter: a ``SerialLinePort`` that survives the device being unplugged.

pyserial is imported when the port is opened, not when this module is imported. The first open
fails fast (``PortOpenError``); after that a vanished device never raises out of
``read_lines``: the port logs once that the device is unavailable, retries every
``reopen_interval`` s, and logs once when it is back (Home Assistant's pattern).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from hal.errors import PortClosedError, PortOpenError
from hal.port_base import AdapterBase
from hal.port_tracking import OpenPorts
from hal.serial.line_framer import DEFAULT_MAX_LINE, LineFramer

_log = logging.getLogger("hal.serial")

MAX_READ = 65536
"""Bytes taken per ``read_lines`` call at most, so one call stays short on a fast link."""

# pyserial has no type stubs here: a handle is a ``serial.SerialBase``, typed as Any.
_Handle = Any

_open_ports: OpenPorts[PySerialLinePort] = OpenPorts("serial port", _log)


def open_ports() -> list[PySerialLinePort]:
    """The ports of this adapter that are open right now (for leak checks and diagnostics)."""
    return _open_ports.ports()


def leaked_ports() -> int:
    """How many ports were garbage-collected while still open (each was closed then)."""
    return _open_ports.leaked


def _close_all(name: str, handle_box: list[_Handle]) -> Callable[[], None]:
    # The box, not the port: reopening replaces the handle inside it.
    def close() -> None:
        for handle in handle_box:
            _close_quietly(name, handle)

    return close


def _close_quietly(name: str, handle: _Handle) -> None:
    try:
        handle.close()
    except Exception:  # the handle is being dropped either way
        _log.debug("serial port %r: closing the handle failed", name, exc_info=True)


class PySerialLinePort(AdapterBase):
    """NMEA lines from a serial device or pyserial URL. Created closed: ``open()`` or ``with``.

    Counters: the framer's (``bytes``, ``lines``, ``garbage_bytes``, ``binary_lines``,
    ``overlong_lines``) plus ``disconnects`` and ``reopens``.
    """

    def __init__(
        self,
        name: str,
        url: str,
        baudrate: int = 9600,
        max_line: int = DEFAULT_MAX_LINE,
        reopen_interval: float = 1.0,
    ) -> None:
        """``url`` is a device path (``/dev/ttyACM0``, a udev symlink) or a pyserial URL.

        Raises ``ValueError`` for an empty name or url, or a non-positive baudrate, max_line or
        reopen_interval.
        """
        if not name or not url:
            raise ValueError("serial port name and url must not be empty")
        if baudrate <= 0:
            raise ValueError(f"serial port {name!r}: baudrate must be positive, got {baudrate}")
        if reopen_interval <= 0:
            raise ValueError(
                f"serial port {name!r}: reopen_interval must be positive, got {reopen_interval}"
            )
        self._name = name
        self._url = url
        self._baudrate = baudrate
        self._reopen_interval = reopen_interval
        self._framer = LineFramer(max_line)
        self._serial: ModuleType | None = None
        self._is_open = False  # the owner's intent: open() called and close() not yet
        # The live handle, or empty while the device is gone. A list so that the leak
        # finalizer sees handles replaced by reopening.
        self._handle_box: list[_Handle] = []
        self._handle_timeout: float | None = None
        self._next_reopen_at = 0.0
        self._disconnects = 0
        self._reopens = 0
        self._garbage_seen = 0
        self._in_garbage_burst = False

    def __repr__(self) -> str:
        status = "connected" if self.connected else "open" if self._is_open else "closed"
        return f"<PySerialLinePort {self._name!r} {self._url} {status}>"

    @property
    def connected(self) -> bool:
        return bool(self._handle_box)

    @property
    def counters(self) -> Mapping[str, int]:
        return {
            **self._framer.counters,
            "disconnects": self._disconnects,
            "reopens": self._reopens,
        }

    def open(self) -> None:
        """Open the device; harmless when already open.

        Raises ``PortOpenError`` when pyserial is missing or the device cannot be opened now.
        """
        if self._is_open:
            return
        try:
            import serial
        except ImportError as err:
            raise PortOpenError(
                f"serial port {self._name!r}: pyserial is not installed (pip install pyserial)"
            ) from err
        self._serial = serial
        try:
            handle = self._connect()
        except (OSError, ValueError) as err:  # SerialException is an OSError
            raise PortOpenError(
                f"serial port {self._name!r}: cannot open {self._url!r}: {err}. Check that the "
                "device is plugged in, that the path (or its udev symlink) exists, and that "
                "this user may open it (usually group 'dialout')."
            ) from err
        self._is_open = True
        self._handle_box[:] = [handle]
        _open_ports.track(self, self._name, _close_all(self._name, self._handle_box))

    def _connect(self) -> _Handle:
        assert self._serial is not None  # imported by open()
        self._handle_timeout = 0.0
        return self._serial.serial_for_url(self._url, baudrate=self._baudrate, timeout=0.0)

    def close(self) -> None:
        """Close the device; harmless when already closed. Never raises."""
        if not self._is_open:
            return
        self._is_open = False
        _open_ports.untrack(self)
        for handle in self._handle_box:
            _close_quietly(self._name, handle)
        self._handle_box.clear()

    def read_lines(self, timeout: float = 0.1) -> list[bytes]:
        """Block up to ``timeout`` s; return the complete NMEA lines read (without CR/LF).

        Never raises for bad bytes or a vanished device (see the module docstring). Raises
        ``PortClosedError`` when the port is not open or is closed by another thread during
        the read, ``ValueError`` if ``timeout`` < 0.
        """
        if not self._is_open:
            raise PortClosedError(f"serial port {self._name!r} is not open")
        if timeout < 0:
            raise ValueError(f"timeout must not be negative, got {timeout}")
        wait = timeout
        if not self._handle_box:
            deadline = time.monotonic() + timeout
            if not self._reconnect(deadline):
                return []
            wait = max(0.0, deadline - time.monotonic())
        handle = self._handle_box[0]
        try:
            chunk = self._read_available(handle, wait)
        except Exception as err:
            if not self._is_open:  # close() from another thread: pyserial fails in odd ways
                raise PortClosedError(f"serial port {self._name!r} was closed") from err
            if isinstance(err, OSError):  # SerialException too; a pty whose master closed: EIO
                self._lost(handle, err)
                return []
            raise
        if not chunk:
            return []
        lines = self._framer.feed(chunk)
        self._log_garbage_bursts(lines)
        return lines

    def _read_available(self, handle: _Handle, wait: float) -> bytes:
        waiting = min(int(handle.in_waiting), MAX_READ)
        if waiting:
            return bytes(handle.read(waiting))
        if self._handle_timeout != wait:
            # pyserial reconfigures the tty on every timeout change, so only on a change.
            handle.timeout = wait
            self._handle_timeout = wait
        first = bytes(handle.read(1))
        if not first:
            return first
        more = min(int(handle.in_waiting), MAX_READ - 1)
        return first + bytes(handle.read(more)) if more else first

    def _lost(self, handle: _Handle, err: OSError) -> None:
        self._handle_box.clear()
        _close_quietly(self._name, handle)
        if not self._is_open:  # close() from another thread broke the read: not an unplug
            return
        self._disconnects += 1
        self._next_reopen_at = time.monotonic() + self._reopen_interval
        self._framer.reset()  # a half-read line will never be completed
        self._garbage_seen = self._framer.counters["garbage_bytes"]  # not a garbage burst
        _log.warning(
            "serial port %r (%s) unavailable: %s; retrying every %g s",
            self._name,
            self._url,
            err,
            self._reopen_interval,
        )

    def _reconnect(self, deadline: float) -> bool:
        """Try to reopen, at most every ``reopen_interval`` s, until ``deadline``."""
        while self._is_open:
            now = time.monotonic()
            if now >= self._next_reopen_at:
                try:
                    handle = self._connect()
                except (OSError, ValueError) as err:
                    _log.debug("serial port %r: reopen failed: %s", self._name, err)
                    self._next_reopen_at = now + self._reopen_interval
                else:
                    if not self._is_open:  # closed from another thread meanwhile
                        _close_quietly(self._name, handle)
                        return False
                    self._handle_box[:] = [handle]
                    self._reopens += 1
                    _log.info("serial port %r (%s) is back", self._name, self._url)
                    return True
            if now >= deadline:
                return False
            time.sleep(max(0.0, min(deadline, self._next_reopen_at) - now))
        return False

    def _log_garbage_bursts(self, lines: list[bytes]) -> None:
        garbage = self._framer.counters["garbage_bytes"]
        if garbage > self._garbage_seen:
            if not self._in_garbage_burst:
                _log.warning(
                    "serial port %r: dropping bytes that are not NMEA lines (%d so far)",
                    self._name,
                    garbage,
                )
                self._in_garbage_burst = True
            self._garbage_seen = garbage
        elif lines:
            self._in_garbage_burst = False
