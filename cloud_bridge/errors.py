"""The error tree of ``cloud_bridge``.

::

    BridgeError      anything the bridge cannot do
    +-- StoreError   the message store cannot be opened, read or written

Bad input from devices is never an exception: :func:`cloud_bridge.validation.validate` returns a
``Rejected`` value and the service dead-letters it. Bad arguments are ``ValueError``/``TypeError``.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error raised by ``cloud_bridge``."""


class StoreError(BridgeError):
    """The message store cannot be opened, read or written."""
