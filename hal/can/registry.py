"""Pick the CAN adapter for an interface name; adapters are imported only when chosen.

* ``"socketcan"``: the fast raw-socket reader (``hal.can.socketcan_raw``): batched reads into
  frame arrays, kernel timestamps, filters and drop counter. SocketCAN sets the bitrate outside
  the process (``ip link set can0 up type can bitrate ...``, see ``hal/profiles``), so
  ``bitrate`` is not used by it, as with python-can's socketcan.
* ``"socketcan-python-can"``: python-can's own socketcan bus, the fallback when something
  needs python-can's behaviour (or to compare the two).
* anything else: python-can with that interface name (virtual, slcan, pcan, kvaser, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hal.can.port import CanPort


@dataclass(frozen=True)
class WantedIds:
    """The frame ids the application needs: an adapter may have the kernel drop the rest."""

    standard: frozenset[int] = frozenset()
    extended: frozenset[int] = frozenset()


SEND_ONLY = WantedIds()
"""For a port that only sends (a simulator, an emulator): receive no frames, where the adapter
can filter in the kernel."""

CanPortFactory = Callable[[str, str, str, int | None, bool, WantedIds | None], CanPort]
"""``(name, interface, channel, bitrate, fd, wanted) -> CanPort``: builds an unopened port."""

PYTHON_CAN_SOCKETCAN = "socketcan-python-can"


def _python_can(
    name: str, interface: str, channel: str, bitrate: int | None, fd: bool, wanted: WantedIds | None
) -> CanPort:
    # python-can filters in user space on most interfaces: no gain, so every frame is read,
    # except by a port that only sends, which discards them.
    from hal.can.python_can_port import PythonCanPort

    if interface == PYTHON_CAN_SOCKETCAN:
        interface = "socketcan"
    return PythonCanPort(
        name, interface, channel, bitrate=bitrate, fd=fd, send_only=wanted == SEND_ONLY
    )


def _socketcan_raw(
    name: str, interface: str, channel: str, bitrate: int | None, fd: bool, wanted: WantedIds | None
) -> CanPort:
    from hal.can.socketcan_raw import SocketCanRawOptions, SocketCanRawPort

    if bitrate is not None and bitrate <= 0:
        raise ValueError(f"CAN port {name!r}: bitrate must be positive, got {bitrate}")
    options = SocketCanRawOptions(fd=fd)
    if wanted is not None:
        # Kernel-side filters (CAN_RAW_FILTER): frames nobody decodes never reach user space.
        options = SocketCanRawOptions(
            fd=fd, standard_ids=wanted.standard, extended_ids=wanted.extended
        )
    return SocketCanRawPort(name, channel, options)


_ADAPTERS: dict[str, CanPortFactory] = {
    "socketcan": _socketcan_raw,
    PYTHON_CAN_SOCKETCAN: _python_can,
}
"""Interface name -> factory, for interfaces with a dedicated adapter."""

_DEFAULT_ADAPTER: CanPortFactory = _python_can
"""Everything else: python-can knows the interface, or says at ``open()`` that it does not."""


def create_can_port(
    name: str,
    interface: str,
    channel: str,
    bitrate: int | None = None,
    fd: bool = False,
    wanted: WantedIds | None = None,
) -> CanPort:
    """An unopened ``CanPort`` for ``interface`` and ``channel`` (see the module docstring
    for which adapter serves which interface name). ``wanted``: the ids the application
    decodes (None: all), which adapters that can filter in the kernel use.

    Opening it raises ``PortOpenError`` when the interface's driver or the channel is missing.
    Raises ``ValueError`` for an empty name, interface or channel, or a bitrate <= 0.
    """
    if not interface:
        raise ValueError("CAN port interface must not be empty")
    factory = _ADAPTERS.get(interface, _DEFAULT_ADAPTER)
    return factory(name, interface, channel, bitrate, fd, wanted)
