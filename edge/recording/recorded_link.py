"""A datagram link whose traffic is recorded: the C-V2X radio's link, heard and sent."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from edge.recording.log_format import Kind
from edge.recording.sink import RecordingSink
from hal.net.port import Datagram, DatagramLink


class RecordedLink:
    """``link`` (a ``DatagramLink``), recording into ``sink`` each datagram it receives
    (``V2X_RX``) and each one it sends (``V2X_TX``, at ``wall_clock``). Opening and closing
    stay with ``link``'s owner; this wrapper only passes them on."""

    def __init__(
        self,
        link: DatagramLink,
        sink: RecordingSink,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._link = link
        self._sink = sink
        self._wall_clock = wall_clock

    @property
    def name(self) -> str:
        return self._link.name

    @property
    def counters(self) -> Mapping[str, int]:
        return self._link.counters

    def open(self) -> None:
        self._link.open()

    def close(self) -> None:
        self._link.close()

    def __enter__(self) -> RecordedLink:
        self.open()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def receive(self, timeout: float = 0.1, max_datagrams: int = 64) -> list[Datagram]:
        datagrams = self._link.receive(timeout, max_datagrams)
        if datagrams:
            self._sink.datagrams(Kind.V2X_RX, self._link.name, datagrams)
        return datagrams

    def send(self, data: bytes) -> None:
        # Recorded once handed to the kernel: a refused datagram (TransmitError) never left.
        self._link.send(data)
        self._sink.datagrams(Kind.V2X_TX, self._link.name, [(bytes(data), self._wall_clock())])
