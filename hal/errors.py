"""The error tree of ``hal``.

::

    HalError                 anything a port could not do
    +-- PortOpenError        the device or its driver is missing (the message says what to install)
    +-- PortClosedError      an operation on a port that is not open
    +-- TransmitError        a frame could not be queued for sending (queue full, rate limited)
    +-- LogFileError         a CAN log file cannot be read or written (``hal.can.log_files``)
    +-- ProfileError         a board profile is missing or invalid (``hal.profiles``; also a
                             ``ValueError``)

Bad arguments are ``ValueError`` or ``TypeError``, as in Python itself; foreign exceptions
(``OSError``, python-can's ``CanError``, pyserial's ``SerialException``) are converted at the
adapter with ``raise ... from err``. ``tests/hal/test_hal_errors.py`` checks that every
exception ``hal`` defines or raises fits this tree.
"""

from __future__ import annotations


class HalError(Exception):
    """Base of every error raised by ``hal``."""


class PortOpenError(HalError):
    """The device, interface or driver behind a port is missing or refused to open."""


class PortClosedError(HalError):
    """An operation on a port that is not open (or was closed)."""


class TransmitError(HalError):
    """A frame could not be queued for sending."""


class LogFileError(HalError):
    """A CAN log file cannot be read or written; the message names the file."""
