"""The state of one CAN channel as the fault injector sets it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ChannelGate:
    """Shared by every emulator sending on one channel.

    While ``bus_off`` is set (the receiving controller is bus-off), emulators send nothing and
    count their frames as ``suppressed``: the hardware delivered nothing. A plain attribute:
    the injector's thread writes it, emulator threads read it once per frame.
    """

    bus_off: bool = False
