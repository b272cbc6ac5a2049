"""A ``ChunkedClient`` (the uplink's and the bridge's paho client) reads the socket a chunk
at a time and hands paho's small reads out of it."""

from __future__ import annotations

from paho.mqtt.enums import CallbackAPIVersion

from hal.net.paho_loop import RECEIVE_CHUNK_BYTES, ChunkedClient


class _Socket:
    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)
        self.asked: list[int] = []

    def recv(self, bufsize: int) -> bytes:
        self.asked.append(bufsize)
        return self.chunks.pop(0)

    def close(self) -> None:
        """paho closes its socket when the client is collected."""


def _client(sock: _Socket) -> ChunkedClient:
    client = ChunkedClient(CallbackAPIVersion.VERSION2)
    client._sock = sock  # type: ignore[assignment]  # what paho's connect would open
    return client


def test_small_reads_come_from_one_chunk_and_a_packet_may_span_two() -> None:
    sock = _Socket(b"\x30\x05abc", b"de\x30")
    client = _client(sock)
    assert client._sock_recv(1) == b"\x30"
    assert client._sock_recv(1) == b"\x05"
    assert client.buffered
    assert client._sock_recv(5) == b"abc"  # what the chunk holds; paho reads the rest later
    assert not client.buffered
    assert client._sock_recv(2) == b"de"
    assert client._sock_recv(1) == b"\x30"
    assert sock.asked == [RECEIVE_CHUNK_BYTES, RECEIVE_CHUNK_BYTES]


def test_a_closed_socket_reads_empty() -> None:
    client = _client(_Socket(b""))
    assert client._sock_recv(1) == b""
    assert not client.buffered
