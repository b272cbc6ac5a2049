"""The UDP datagram port on real sockets on 127.0.0.1: batches with kernel receive times,
counters, truncation, a taken port, closing, and leaks."""

from __future__ import annotations

import gc
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from hal.errors import PortClosedError, PortOpenError
from hal.net import udp_port
from hal.net.port import DatagramPort
from hal.net.udp_port import UdpDatagramPort
from tests.hal.port_leaks import PortLeakGuard

HOST = "127.0.0.1"


@pytest.fixture
def port() -> Iterator[UdpDatagramPort]:
    with UdpDatagramPort("controller", HOST, 0) as opened:
        yield opened


@pytest.fixture
def sender() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        yield sock


def receive_all(port: UdpDatagramPort, count: int, timeout_s: float = 2.0) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        got += [data for data, _ in port.receive(timeout=0.05)]
    return got


def test_a_datagram_arrives_with_its_kernel_receive_time(
    port: UdpDatagramPort, sender: socket.socket
) -> None:
    assert isinstance(port, DatagramPort)
    before = time.time()
    sender.sendto(b"\xcd" * 245, port.local_address)
    [(data, stamp)] = port.receive(timeout=2.0)
    assert data == b"\xcd" * 245
    assert before - 0.01 <= stamp <= time.time() + 0.01
    assert port.counters == {
        "rx_datagrams": 1,
        "rx_bytes": 245,
        "rx_errors": 0,
        "rx_truncated": 0,
        "rx_kernel_drops": 0,
    }


def test_a_batch_keeps_order_and_the_limit(port: UdpDatagramPort, sender: socket.socket) -> None:
    for i in range(5):
        sender.sendto(bytes([i]), port.local_address)
    time.sleep(0.05)  # all queued before the first read
    first = port.receive(timeout=1.0, max_datagrams=3)
    rest = receive_all(port, 2)
    assert [data for data, _ in first] + rest == [bytes([i]) for i in range(5)]
    stamps = [stamp for _, stamp in first]
    assert stamps == sorted(stamps)
    assert port.counters["rx_datagrams"] == 5


def test_nothing_to_read_waits_the_timeout(port: UdpDatagramPort) -> None:
    started = time.monotonic()
    assert port.receive(timeout=0.1) == []
    assert 0.09 <= time.monotonic() - started < 1.0
    assert port.receive(timeout=0) == []


def test_a_datagram_longer_than_the_limit_is_dropped_and_counted(sender: socket.socket) -> None:
    with UdpDatagramPort("short", HOST, 0, max_datagram=8) as port:
        sender.sendto(b"x" * 20, port.local_address)
        sender.sendto(b"12345678", port.local_address)
        assert receive_all(port, 1) == [b"12345678"]
        counters = port.counters
    assert (counters["rx_truncated"], counters["rx_errors"], counters["rx_datagrams"]) == (1, 1, 1)


def test_a_taken_port_is_a_clear_open_error(port: UdpDatagramPort) -> None:
    _, number = port.local_address
    second = UdpDatagramPort("second", HOST, number)
    with pytest.raises(PortOpenError, match=rf"'second' \({HOST}:{number}\).*in use") as caught:
        second.open()
    assert f"ss -ulpn sport = :{number}" in str(caught.value)
    assert not second.is_open


def test_an_address_not_of_this_machine_is_an_open_error() -> None:
    # 192.0.2.0/24 is TEST-NET-1: never assigned to a host.
    with pytest.raises(PortOpenError, match="not one of this machine's"):
        UdpDatagramPort("far", "192.0.2.1", 0).open()


def test_closed_ports_refuse_and_close_twice_is_harmless() -> None:
    port = UdpDatagramPort("controller", HOST, 0)
    with pytest.raises(PortClosedError):
        port.receive()
    with pytest.raises(PortClosedError):
        _ = port.local_address
    with port:
        assert port.is_open
        port.open()  # harmless when open
    port.close()
    assert not port.is_open
    with pytest.raises(PortClosedError, match="'controller' is not open"):
        port.receive()


def test_close_from_another_thread_ends_a_receive(port: UdpDatagramPort) -> None:
    closer = threading.Timer(0.05, port.close)
    closer.start()
    started = time.monotonic()
    with pytest.raises(PortClosedError, match="was closed"):
        port.receive(timeout=0.3)  # at the end of its wait: closing does not wake a poll
    closer.join()
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", HOST, 0), "must not be empty"),
        (("p", "", 0), "must not be empty"),
        (("p", HOST, 65536), "port must be in 0-65535"),
        (("p", HOST, -1), "port must be in 0-65535"),
    ],
)
def test_bad_arguments_are_value_errors(args: tuple[str, str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        UdpDatagramPort(*args)
    with pytest.raises(ValueError, match="must be positive"):
        UdpDatagramPort("p", HOST, 0, max_datagram=0)


def test_receive_arguments_are_checked(port: UdpDatagramPort) -> None:
    with pytest.raises(ValueError, match="timeout"):
        port.receive(timeout=-1)
    with pytest.raises(ValueError, match="max_datagrams"):
        port.receive(max_datagrams=0)


def test_a_port_collected_while_open_is_closed_and_counted(
    port_leak_guard: PortLeakGuard,
) -> None:
    leaked_before = udp_port.leaked_ports()
    forgotten = UdpDatagramPort("forgotten", HOST, 0)
    forgotten.open()
    _, number = forgotten.local_address
    del forgotten
    gc.collect()
    assert udp_port.leaked_ports() == leaked_before + 1
    with UdpDatagramPort("again", HOST, number):  # its socket was released
        pass
    port_leak_guard.expect_leaks(1)
    assert port_leak_guard.problems() == []


def test_leak_guard_reports_a_port_left_open(port_leak_guard: PortLeakGuard) -> None:
    port = UdpDatagramPort("left-open", HOST, 0)
    port.open()
    assert udp_port.open_ports() == [port]
    assert any("left-open" in problem for problem in port_leak_guard.problems())
    port.close()
    assert port_leak_guard.problems() == []
