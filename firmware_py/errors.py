"""The error tree of ``firmware_py``.

::

    FirmwareError        anything the daemon could not set up
    +-- ConfigError      an invalid config file: names the key, the value and what is valid
    +-- StateLockedError another box holds this box's state (``firmware_py.box.instance_lock``)
"""

from __future__ import annotations


class FirmwareError(Exception):
    """Base of every error raised by ``firmware_py``."""


class ConfigError(FirmwareError):
    """An invalid config file. The message names the file, the key, the value and what is valid."""
