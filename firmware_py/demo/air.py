"""The demo's emulated radio channel: what one box's C-V2X radio sends, every other box's
radio hears, as PC5 broadcast does within range.

Each box gets its own port on the "air" (its ``radio_port``); a datagram arriving there is
delivered to the ``listen_port`` of every other box. Counters: ``relayed``, ``errors``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections import Counter
from collections.abc import Sequence
from typing import Any

from firmware_py.config.model import BoxConfig, Role, V2xConfig

HOST = "127.0.0.1"
STATION_BASE = 0x5247_0000  # demo station ids: this + the box's index


def _free_udp_ports(count: int) -> list[int]:
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(count)]
    try:
        for s in sockets:
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def on_the_air(configs: Sequence[BoxConfig]) -> list[BoxConfig]:
    """``configs`` with each box's radio on a port of the air (a vehicle gateway without
    ``[v2x]`` gets one with the demo's station id)."""
    ports = _free_udp_ports(2 * len(configs))
    result = []
    for index, config in enumerate(configs):
        radio = V2xConfig(
            radio="udp",
            radio_host=HOST,
            radio_port=ports[2 * index],
            listen_host=HOST,
            listen_port=ports[2 * index + 1],
            station_id=config.v2x.station_id if config.v2x else STATION_BASE + index,
        )
        result.append(dataclasses.replace(config, v2x=radio))
    # The roadside unit hears each car twice (its state on MQTT, its BSMs): one vehicle.
    stations = tuple(
        (c.device.device_id, c.v2x.station_id)
        for c in result
        if c.v2x is not None and c.device.role is Role.VEHICLE_GATEWAY
    )
    return [
        dataclasses.replace(c, perception=dataclasses.replace(c.perception, station_ids=stations))
        if c.device.role is Role.ROADSIDE_UNIT
        else c
        for c in result
    ]


class _Antenna(asyncio.DatagramProtocol):
    def __init__(self, air: Air, index: int) -> None:
        self._air = air
        self._index = index

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._air.relay(self._index, data)


class Air:
    """Relays between the radios of ``configs`` (as ``on_the_air`` set them up)."""

    def __init__(self, configs: Sequence[BoxConfig]) -> None:
        self._radios: list[V2xConfig] = [c.v2x for c in configs if c.v2x is not None]
        self._transports: list[asyncio.DatagramTransport] = []
        self.counters: Counter[str] = Counter({"relayed": 0, "errors": 0})

    async def __aenter__(self) -> Air:
        loop = asyncio.get_running_loop()
        for index, radio in enumerate(self._radios):
            transport, _ = await loop.create_datagram_endpoint(
                lambda index=index: _Antenna(self, index),  # type: ignore[misc]
                local_addr=(radio.radio_host, radio.radio_port),
            )
            self._transports.append(transport)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for transport in self._transports:
            transport.close()

    def relay(self, sender: int, data: bytes) -> None:
        """Deliver ``data`` from radio ``sender`` to every other radio."""
        for index, radio in enumerate(self._radios):
            if index == sender:
                continue
            try:
                self._transports[sender].sendto(data, (radio.listen_host, radio.listen_port))
            except OSError:
                self.counters["errors"] += 1
                continue
            self.counters["relayed"] += 1
