"""The error tree of ``hil``.

::

    HilError             anything the bench could not set up or run
    +-- ScenarioError    an invalid scenario file: names the file, the key and what is valid
"""

from __future__ import annotations


class HilError(Exception):
    """Base of every error raised by ``hil``."""


class ScenarioError(HilError):
    """An invalid scenario file. The message names the file, the key, the value and the fix."""
