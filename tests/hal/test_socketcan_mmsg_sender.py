"""``sendmmsg`` of prepared records, on real kernel sockets of this host: an ``AF_UNIX``
datagram pair carries one record per datagram through the same syscall CAN uses (on CAN itself
through ``bench e2e``'s player, ``tests/firmware/test_bench_e2e.py``)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.can.socketcan_mmsg import UIO_MAXIOV, MmsgSender, SendMMsg, load_sendmmsg
from hal.can.socketcan_structs import CAN_MTU, pack_frame
from hal.errors import TransmitError


@pytest.fixture(scope="module")
def sendmmsg() -> SendMMsg:
    function = load_sendmmsg()
    assert function is not None, "this C library has no sendmmsg (glibc 2.14+, musl have it)"
    return function


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def records(n: int) -> bytes:
    return b"".join(pack_frame(0x100 + i % 0x700, bytes([i % 256]) * (i % 9)) for i in range(n))


def received(sock: socket.socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(sock.recv(256))
        except BlockingIOError:
            return out


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 300), st.data())
def test_a_range_goes_out_whole_and_in_order(
    sendmmsg: SendMMsg, n: int, data: st.DataObject
) -> None:
    start = data.draw(st.integers(0, n))
    stop = data.draw(st.integers(start, n))
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        b.setblocking(False)
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
        b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        all_records = records(n)
        sender = MmsgSender(sendmmsg, all_records, CAN_MTU)
        assert sender.count == n
        assert sender.send(a.fileno(), start, stop) == stop - start
        got = received(b)
    assert got == [all_records[i * CAN_MTU : (i + 1) * CAN_MTU] for i in range(start, stop)]


def test_more_than_the_kernels_cap_takes_several_calls(
    sendmmsg: SendMMsg, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
    n = UIO_MAXIOV + 10
    sender = MmsgSender(sendmmsg, records(n), CAN_MTU)
    assert sender.send(a.fileno(), 0, n) == n
    assert len(received(b)) == n


def test_a_full_buffer_sends_part_and_says_how_much(
    sendmmsg: SendMMsg, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    a.setblocking(False)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)  # the kernel's minimum
    n = 5_000
    sender = MmsgSender(sendmmsg, records(n), CAN_MTU)
    first = sender.send(a.fileno(), 0, n)
    assert 0 < first < n
    got = received(b)
    assert len(got) == first
    assert sender.send(a.fileno(), first, first) == 0


def test_bad_records_and_ranges_are_refused(
    sendmmsg: SendMMsg, pair: tuple[socket.socket, socket.socket]
) -> None:
    with pytest.raises(ValueError, match="not whole 16-byte records"):
        MmsgSender(sendmmsg, bytes(17), CAN_MTU)
    sender = MmsgSender(sendmmsg, records(3), CAN_MTU)
    with pytest.raises(ValueError, match=r"records 2\.\.4 outside 0\.\.3"):
        sender.send(pair[0].fileno(), 2, 4)
    with pytest.raises(TransmitError, match="sendmmsg failed: Bad file descriptor"):
        sender.send(-1, 0, 1)
    assert MmsgSender(sendmmsg, b"", CAN_MTU).send(pair[0].fileno(), 0, 0) == 0
