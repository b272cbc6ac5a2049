"""The python-can adapter on SocketCAN ``vcan0``: the ``CanPort`` contract on a real kernel bus."""

from __future__ import annotations

import socket
import subprocess

import pytest
from can.interfaces.socketcan import SocketcanBus

from hal.can import python_can_port
from hal.can.frames import FLAG_EXTENDED
from hal.can.python_can_port import PythonCanPort
from hal.errors import PortOpenError
from tests.hal.can_contract import CanPortContract, Pair, receive_exactly
from tests.hal.port_leaks import PortLeakGuard
from tests.hal.vcan.conftest import VCAN

RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024
"""The contract sends 500 frames before reading any; the default buffer (~200 KiB) holds 278."""
SO_RCVBUFFORCE = 33  # <asm-generic/socket.h>; Python's socket module does not export it


class _PortWithLargeReceiveBuffer(PythonCanPort):
    """What a deployment sets on its CAN sockets; the adapter has no setting for it yet."""

    def open(self) -> None:
        super().open()
        bus = self._bus
        assert isinstance(bus, SocketcanBus)
        try:  # beyond net.core.rmem_max, which only the guest raises; needs CAP_NET_ADMIN
            bus.socket.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER_BYTES)
        except PermissionError:
            bus.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)


class TestPythonCanSocketcan(CanPortContract):
    def make_port_pair(self, *, fd: bool = False) -> Pair:
        return (
            PythonCanPort("sender", "socketcan", VCAN, fd=fd),
            _PortWithLargeReceiveBuffer("receiver", "socketcan", VCAN, fd=fd),
        )


def test_frames_from_can_utils_arrive() -> None:
    with _PortWithLargeReceiveBuffer("receiver", "socketcan", VCAN) as port:
        for frame in ("123#DEADBEEF", "18FEF100#0102", "7FF#"):
            subprocess.run(["cansend", VCAN, frame], check=True, timeout=30)
        frames = receive_exactly(port, 3)[0]
    assert frames["arbitration_id"].tolist() == [0x123, 0x18FEF100, 0x7FF]
    assert frames["flags"].tolist() == [0, FLAG_EXTENDED, 0]
    assert frames["dlc"].tolist() == [4, 2, 0]
    assert bytes(frames[0]["data"][:4]) == b"\xde\xad\xbe\xef"


def test_missing_interface_says_how_to_create_it() -> None:
    port = PythonCanPort("vehicle", "socketcan", "rgnosuch0")
    with pytest.raises(PortOpenError, match=r"ip link add dev rgnosuch0 type vcan"):
        port.open()


def test_leak_guard_reports_a_socketcan_port_left_open(port_leak_guard: PortLeakGuard) -> None:
    port = PythonCanPort("left-open", "socketcan", VCAN)
    port.open()
    assert python_can_port.open_ports() == [port]
    assert any("left-open" in problem for problem in port_leak_guard.problems())
    port.close()
    assert port_leak_guard.problems() == []
