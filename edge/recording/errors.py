"""The recorder's errors.

::

    EdgeError (edge.errors)
    +-- RecordingError          a flight log cannot be read at all
        +-- NotARecordingError  the file is not an MCAP log (wrong magic)
"""

from __future__ import annotations

from edge.errors import EdgeError


class RecordingError(EdgeError):
    """A flight log cannot be read at all (missing, unreadable): damage inside a log is not an
    error, it is counted in the reader's report."""


class NotARecordingError(RecordingError):
    """The file does not start with MCAP's magic bytes."""
