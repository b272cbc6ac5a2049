"""The box's C-V2X radio: what the box publishes goes on the air as T/CSAE 53 messages, and
what the radio heard comes back, decoded and counted.

The radio (a PC5 module) is driven over a ``DatagramLink``: each datagram sent is one UPER
``MessageFrame`` to broadcast, each datagram received is one the radio heard. A send the kernel
refuses drops that message only (the next one follows within 100 ms), and bad datagrams from
the radio are counted by reason: neither stops the box.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from edge.port_io import datagram_batches
from hal.errors import TransmitError
from hal.net.port import DatagramLink
from protocols.errors import ProtocolError
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import (
    decode_message_frame,
    encode_bsm,
    encode_spat,
    specification,
    station_id_bytes,
)

log = logging.getLogger("edge.v2x")

MSG_COUNT_MODULO = 128  # MsgCount is 0..127 and counts per message type


class V2xRadio:
    """Broadcasts BSM and SPAT through ``link``; decodes and counts what it receives.

    Counters (health prefix ``v2x``): ``tx.bsm``, ``tx.spat``, ``tx.errors`` (sends the kernel
    refused), ``tx.unencodable`` (messages the standard cannot carry), ``rx.<kind>`` (``bsm``,
    ``spat``, ``map``, ``rsm``, ``rsi``) and ``rx.rejects.<reason>``.
    """

    def __init__(
        self,
        link: DatagramLink,
        station_id: int,
        *,
        on_message: Callable[[str, Mapping[str, Any]], None] | None = None,
        on_heard: Callable[[str, Mapping[str, Any], float], None] | None = None,
    ) -> None:
        """``station_id`` goes out as the BSM's 8-byte id; ``on_message`` gets each decoded
        message (kind, fields), ``on_heard`` the same and its receive time (Unix s), e.g. for
        the roadside unit's cooperative associator. Raises ``ValueError`` for an id over 8
        bytes."""
        self._link = link
        self._vehicle_id = station_id_bytes(station_id)
        self._on_message = on_message
        self._on_heard = on_heard
        self._msg_cnt: Counter[str] = Counter()
        self._counts: Counter[str] = Counter(
            {
                k: 0
                for k in (
                    *("tx.bsm", "tx.spat", "tx.errors", "tx.unencodable", "rx.bsm", "rx.spat"),
                    *("rx.rejects.empty", "rx.rejects.malformed"),
                )
            }
        )
        self._in_tx_burst = False
        self._in_rx_burst = False
        # Compile the ASN.1 now (~0.5 s on a Pi, more under emulation), not on the first
        # message, where it would stall the 10 Hz loop.
        specification()

    @property
    def link(self) -> DatagramLink:
        return self._link

    @property
    def counters(self) -> Mapping[str, int]:
        return dict(self._counts)

    def broadcast_state(self, state: pb.VehicleState, capture_time_ns: int) -> None:
        """Send ``state`` as a BSM stamped with its capture time."""
        count = self._next("bsm")
        self._send(
            "bsm",
            lambda: encode_bsm(
                state, vehicle_id=self._vehicle_id, msg_cnt=count, unix_s=capture_time_ns / 1e9
            ),
        )

    def broadcast_spat(self, spat: pb.SignalPhaseTiming, capture_time_ns: int) -> None:
        """Send ``spat`` as a SPAT; its times count down from its capture time."""
        count = self._next("spat")
        self._send("spat", lambda: encode_spat(spat, msg_cnt=count, unix_s=capture_time_ns / 1e9))

    def datagram(
        self, data: bytes, received_s: float | None = None
    ) -> tuple[str, Mapping[str, Any]] | None:
        """Decode and count one datagram from the radio, received at ``received_s`` (Unix s;
        None: now); None (counted) when it is bad."""
        try:
            kind, fields = decode_message_frame(data)
        except ProtocolError as err:
            self._counts[f"rx.rejects.{err.reason}"] += 1
            if not self._in_rx_burst:
                log.warning("dropping bad datagrams from the V2X radio: %s", err)
                self._in_rx_burst = True
            return None
        self._in_rx_burst = False
        self._counts[f"rx.{kind}"] += 1
        if self._on_message is not None:
            self._on_message(kind, fields)
        if self._on_heard is not None:
            self._on_heard(kind, fields, time.time() if received_s is None else received_s)
        return kind, fields

    async def run(self) -> None:
        """Read the radio's datagrams until cancelled."""
        async for datagrams in datagram_batches(self._link):
            for data, received_s in datagrams:
                self.datagram(data, received_s)

    def _next(self, kind: str) -> int:
        count = self._msg_cnt[kind]
        self._msg_cnt[kind] = (count + 1) % MSG_COUNT_MODULO
        return count

    def _send(self, kind: str, encode: Callable[[], bytes]) -> None:
        try:
            data = encode()
        except ProtocolError as err:
            self._counts["tx.unencodable"] += 1
            log.warning("cannot send %s over V2X: %s", kind, err)
            return
        try:
            self._link.send(data)
        except TransmitError as err:
            self._counts["tx.errors"] += 1
            if not self._in_tx_burst:
                log.warning("V2X radio send failing: %s", err)
                self._in_tx_burst = True
            return
        self._in_tx_burst = False
        self._counts[f"tx.{kind}"] += 1
