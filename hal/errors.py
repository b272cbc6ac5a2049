"""The error tree of ``hal``.

::

    HalError                 anything a port could not do
    +-- PortOpenError        the device or its driver is missing (the message says what to install)
    +-- PortClosedError      an operation on a port that is not open
    +-- TransmitError        a frame could not be queued for sending (queue full, rate limited)
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
