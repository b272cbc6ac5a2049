"""Leak checks for ports: none may be left open, or garbage-collected while open, by a test."""

from __future__ import annotations

import gc
from dataclasses import dataclass

from hal.can import python_can_port, socketcan_raw
from hal.net import udp_port
from hal.serial import pyserial_port

ADAPTERS = (python_can_port, socketcan_raw, pyserial_port, udp_port)


def _open_ports() -> list[
    python_can_port.PythonCanPort
    | socketcan_raw.SocketCanRawPort
    | pyserial_port.PySerialLinePort
    | udp_port.UdpDatagramPort
]:
    return [
        *python_can_port.open_ports(),
        *socketcan_raw.open_ports(),
        *pyserial_port.open_ports(),
        *udp_port.open_ports(),
    ]


def _leaked_so_far() -> int:
    return sum(adapter.leaked_ports() for adapter in ADAPTERS)


@dataclass
class PortLeakGuard:
    """Snapshot of the adapters' leak counters at the start of a test."""

    leaked_at_start: int
    expected_leaks: int = 0

    @classmethod
    def start(cls) -> PortLeakGuard:
        gc.collect()  # ports dropped by an earlier test are not this test's fault
        return cls(leaked_at_start=_leaked_so_far())

    def expect_leaks(self, count: int) -> None:
        """For tests that leak ports on purpose, to check the leak detection itself."""
        self.expected_leaks += count

    def problems(self) -> list[str]:
        """What leaked since ``start()``; empty when nothing did."""
        gc.collect()
        found = []
        still_open = _open_ports()
        if still_open:
            found.append(f"ports left open: {still_open}")
        leaked = _leaked_so_far() - self.leaked_at_start - self.expected_leaks
        if leaked:
            found.append(f"{leaked} port(s) garbage-collected while open (never closed)")
        return found

    @staticmethod
    def close_leftovers() -> None:
        for port in _open_ports():
            port.close()
