"""The error tree of ``hil``.

::

    HilError             anything the bench could not set up or run
    +-- ScenarioError    an invalid scenario file: names the file, the key and what is valid
    +-- FaultError       a fault could not be injected (``hil.faults``)
    +-- HilEmulatorError an emulator could not start or run (``hil.emulators``)
    +-- VcanRunError     a command could not be run with vcan interfaces (``hil.uml``)
        +-- VcanUnavailableError  linux.uml, its CAN modules or a tool is missing
        +-- VcanSetupError        the guest or the interfaces could not be set up
        +-- VcanTimeoutError      the command ran past its timeout
"""

from __future__ import annotations


class HilError(Exception):
    """Base of every error raised by ``hil``."""


class ScenarioError(HilError):
    """An invalid scenario file. The message names the file, the key, the value and the fix."""
