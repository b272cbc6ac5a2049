"""Why a command was refused.

::

    EdgeError
    +-- CommandRejectedError   a command the box will not carry out; ``reason`` is machine-readable
"""

from __future__ import annotations

from edge.errors import EdgeError


class CommandRejectedError(EdgeError):
    """A command the box refuses, with ``reason`` (a counter label, the ack's prefix) and the
    ``command_id`` it carried ("" when it could not be read)."""

    def __init__(self, reason: str, detail: str, command_id: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.command_id = command_id
