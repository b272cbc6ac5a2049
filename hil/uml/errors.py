"""The errors of ``hil.uml``: one base, ``VcanRunError`` (a ``HilError``)."""

from __future__ import annotations

from hil.errors import HilError


class VcanRunError(HilError):
    """Base of every error raised by ``hil.uml``."""


class VcanUnavailableError(VcanRunError):
    """Something the run needs is not installed or not permitted; the message says what."""


class VcanSetupError(VcanRunError):
    """The guest or its interfaces could not be set up, or the guest died without a status."""


class VcanTimeoutError(VcanRunError):
    """The command ran past its timeout; its whole process tree was killed."""
