"""The error tree of ``edge``.

::

    EdgeError            anything the edge pipeline could not do
    +-- UplinkError      the uplink cannot accept or deliver a message
    +-- CommandRejectedError  a remote command refused, with its reason
                              (``edge.commands.errors``)
"""

from __future__ import annotations


class EdgeError(Exception):
    """Base of every error raised by ``edge``."""


class UplinkError(EdgeError):
    """The uplink cannot accept or deliver a message."""
