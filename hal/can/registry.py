"""Pick the CAN adapter for an interface name; adapters are imported only when chosen.

Today every interface goes to the python-can adapter. A faster SocketCAN reader (recvmmsg into
the frame batch) will register itself for ``"socketcan"`` here without callers changing.
"""

from __future__ import annotations

from collections.abc import Callable

from hal.can.port import CanPort

CanPortFactory = Callable[[str, str, str, int | None, bool], CanPort]
"""``(name, interface, channel, bitrate, fd) -> CanPort``: builds an unopened port."""


def _python_can(name: str, interface: str, channel: str, bitrate: int | None, fd: bool) -> CanPort:
    from hal.can.python_can_port import PythonCanPort

    return PythonCanPort(name, interface, channel, bitrate=bitrate, fd=fd)


_ADAPTERS: dict[str, CanPortFactory] = {}
"""Interface name -> factory, for interfaces with a dedicated adapter."""

_DEFAULT_ADAPTER: CanPortFactory = _python_can
"""Everything else: python-can knows the interface, or says at ``open()`` that it does not."""


def create_can_port(
    name: str, interface: str, channel: str, bitrate: int | None = None, fd: bool = False
) -> CanPort:
    """An unopened ``CanPort`` for ``interface`` (a python-can interface name) and ``channel``.

    Opening it raises ``PortOpenError`` when the interface's driver or the channel is missing.
    Raises ``ValueError`` for an empty name, interface or channel, or a bitrate <= 0.
    """
    factory = _ADAPTERS.get(interface, _DEFAULT_ADAPTER)
    return factory(name, interface, channel, bitrate, fd)
