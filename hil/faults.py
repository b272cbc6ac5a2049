"""Fault injection: what a bench operator does by hand, on a timeline.

Each fault has a start and an end action; the bench calls them at the scenario's times and
records when they actually ran (``FaultWindow``).

* ``interface_down``: ``ip link set dev <vcan> down``, then up: a driver reset or cable pulled
  at the adapter.
* ``bus_off``: the receiving controller goes bus-off: the kernel reports it with a
  ``CAN_ERR_BUSOFF`` error frame, nothing is received until the controller restarts
  (``CAN_ERR_RESTARTED``). vcan has no controller, so the bench sends the error frames the
  kernel would and mutes the emulators on that channel meanwhile.
* ``gnss_unplug`` / ``gnss_no_fix`` / ``gnss_garbage``: the GNSS receiver is pulled out and
  plugged back in, loses its fix, or emits a burst of garbage.
* ``broker_outage``: the broker stops (SIGTERM, so it keeps its sessions) and restarts.
* ``daemon_kill``: SIGKILL the daemon, restart it ``duration_s`` later.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from hal.can.frames import CAN_ERR_FLAG
from hal.can.socketcan_error_frames import CAN_ERR_BUSOFF, CAN_ERR_RESTARTED
from hal.can.socketcan_structs import pack_frame
from hil.emulators.gate import ChannelGate
from hil.errors import HilError


class FaultError(HilError):
    """A fault could not be injected or reverted; the message says which and why."""


@dataclass(frozen=True)
class FaultActions:
    """The start and end of one fault."""

    begin: Callable[[], None]
    end: Callable[[], None]


def ip_link(*args: str) -> None:
    """Run ``ip link ...``; raises ``FaultError`` with ip's message when it fails."""
    result = subprocess.run(["ip", "link", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise FaultError(f"ip link {' '.join(args)} failed: {result.stderr.strip()}")


def send_error_frame(channel: str, class_bits: int) -> None:
    """Put one error frame with ``class_bits`` (``CAN_ERR_*``) on ``channel``, as a controller
    driver does; receivers that asked for error frames get it."""
    try:
        with socket.socket(socket.AF_CAN, socket.SOCK_RAW, socket.CAN_RAW) as sock:
            sock.bind((channel,))
            sock.send(pack_frame(CAN_ERR_FLAG | class_bits, bytes(8)))
    except OSError as err:
        raise FaultError(f"cannot send an error frame on {channel}: {err.strerror or err}") from err


def interface_down(channel: str) -> FaultActions:
    return FaultActions(
        begin=lambda: ip_link("set", "dev", channel, "down"),
        end=lambda: ip_link("set", "dev", channel, "up"),
    )


def bus_off(channel: str, gate: ChannelGate) -> FaultActions:
    def begin() -> None:
        gate.bus_off = True  # first, so that no frame slips in after the error frame
        send_error_frame(channel, CAN_ERR_BUSOFF)

    def end() -> None:
        send_error_frame(channel, CAN_ERR_RESTARTED)
        gate.bus_off = False

    return FaultActions(begin, end)
