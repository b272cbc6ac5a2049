"""The UDP link (a C-V2X radio's host interface) on real sockets on 127.0.0.1: it receives
like the datagram port and sends to its one peer, with counters and typed errors."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from unittest import mock

import pytest

from hal.errors import PortClosedError, PortOpenError, TransmitError
from hal.net import udp_port
from hal.net.port import DatagramLink, DatagramPort
from hal.net.udp_link import UdpLink

HOST = "127.0.0.1"


@pytest.fixture
def radio() -> Iterator[socket.socket]:
    """The radio's side: a bound socket the link sends to."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        sock.settimeout(2.0)
        yield sock


@pytest.fixture
def link(radio: socket.socket) -> Iterator[UdpLink]:
    with UdpLink("v2x-radio", HOST, 0, peer_host=HOST, peer_port=radio.getsockname()[1]) as opened:
        yield opened


def test_it_sends_to_the_peer_from_its_bound_port(link: UdpLink, radio: socket.socket) -> None:
    assert isinstance(link, DatagramLink)
    assert isinstance(link, DatagramPort)
    link.send(b"\x00bsm")
    link.send(b"\x03spat")
    first, source = radio.recvfrom(100)
    second, _ = radio.recvfrom(100)
    assert (first, second) == (b"\x00bsm", b"\x03spat")
    assert source == link.local_address  # the radio answers to where it heard from
    counters = link.counters
    assert (counters["tx_datagrams"], counters["tx_bytes"], counters["tx_errors"]) == (2, 9, 0)


def test_it_receives_what_the_radio_heard(link: UdpLink, radio: socket.socket) -> None:
    radio.sendto(b"heard", link.local_address)
    [(data, _)] = link.receive(timeout=2.0)
    assert data == b"heard"
    assert link.counters["rx_datagrams"] == 1


def test_a_refused_send_is_a_counted_transmit_error(link: UdpLink) -> None:
    with pytest.raises(TransmitError, match=r"'v2x-radio'.*70000 bytes"):
        link.send(b"x" * 70000)  # longer than UDP can carry: EMSGSIZE
    with (
        mock.patch.object(socket.socket, "sendto", side_effect=BlockingIOError),
        pytest.raises(TransmitError, match="send buffer full"),
    ):
        link.send(b"x")
    assert link.counters["tx_errors"] == 2
    assert link.counters["tx_datagrams"] == 0


def test_sending_on_a_closed_link_is_refused() -> None:
    link = UdpLink("v2x-radio", HOST, 0, peer_host=HOST, peer_port=30301)
    with pytest.raises(PortClosedError):
        link.send(b"x")
    with link:
        pass
    with pytest.raises(PortClosedError):
        link.send(b"x")


def test_a_peer_that_does_not_resolve_fails_the_open_and_leaves_it_closed() -> None:
    link = UdpLink("v2x-radio", HOST, 0, peer_host="no-such-radio.invalid", peer_port=30301)
    with pytest.raises(PortOpenError, match=r"cannot resolve the peer 'no-such-radio\.invalid'"):
        link.open()
    assert not link.is_open
    assert link not in udp_port.open_ports()


@pytest.mark.parametrize(("peer_host", "peer_port"), [("", 30301), (HOST, 0), (HOST, 65536)])
def test_bad_peer_arguments(peer_host: str, peer_port: int) -> None:
    with pytest.raises(ValueError, match="peer"):
        UdpLink("v2x-radio", HOST, 0, peer_host=peer_host, peer_port=peer_port)
