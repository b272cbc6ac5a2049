"""The box's C-V2X radio: what the box publishes goes on the air as T/CSAE 53 messages (a
vehicle's state as BSM; a roadside unit's SPaT as SPAT, its intersection as MAP, its objects as
RSM, at most 10 Hz, and its events and static signs as RSI), and what the radio heard comes
back, decoded and counted.

The radio (a PC5 module) is driven over a ``DatagramLink``: each datagram sent is one UPER
``MessageFrame`` to broadcast, each datagram received is one the radio heard. A send the kernel
refuses drops that message only (the next one follows within 100 ms), and bad datagrams from
the radio are counted by reason: neither stops the box.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from edge.port_io import datagram_batches
from hal.errors import TransmitError
from hal.net.port import DatagramLink
from protocols.errors import ProtocolError
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import (
    GeoPoint,
    IntersectionMap,
    StaticSign,
    decode_message_frame,
    encode_bsm,
    encode_map,
    encode_rsi,
    encode_rsm,
    encode_spat,
    own_extensions,
    specification,
    station_id_bytes,
)

log = logging.getLogger("edge.v2x")

MSG_COUNT_MODULO = 128  # MsgCount is 0..127 and counts per message type
RSM_PERIOD_S = 0.1
"""Object lists arriving sooner than this after the last RSM are not sent (at most 10 Hz)."""


class V2xRadio:
    """Broadcasts BSM, SPAT, MAP, RSM and RSI through ``link``; decodes and counts what it receives.

    Counters (health prefix ``v2x``): ``tx.<kind>`` (frames sent), ``tx.errors`` (sends the
    kernel refused), ``tx.unencodable`` (messages the standard cannot carry),
    ``tx.no_reference`` (RSM or RSI without a usable reference point),
    ``tx.rsm_rate_limited`` (object lists dropped to keep RSM at 10 Hz), ``tx.rsm_skipped.<reason>``
    (objects left out of an RSM), ``rx.<kind>`` (``bsm``, ``spat``, ``map``, ``rsm``, ``rsi``)
    and ``rx.rejects.<reason>``.
    """

    def __init__(
        self,
        link: DatagramLink,
        station_id: int,
        *,
        on_message: Callable[[str, Mapping[str, Any]], None] | None = None,
        on_heard: Callable[[str, Mapping[str, Any], float], None] | None = None,
        monotonic_s: Callable[[], float] = time.monotonic,
    ) -> None:
        """``station_id`` goes out as the BSM's and the RSU's 8-byte id; ``on_message`` gets
        each decoded message (kind, fields), ``on_heard`` the same and its receive time (Unix
        s), e.g. for the roadside unit's cooperative associator; ``monotonic_s`` times the RSM
        rate limit. Raises ``ValueError`` for an id over 8 bytes."""
        self._link = link
        self._vehicle_id = station_id_bytes(station_id)
        self._monotonic_s = monotonic_s
        self._last_rsm_s: float | None = None
        # RSI positions are offsets from the last RSM's reference point (the intersection's).
        self._reference: GeoPoint | None = None
        self._on_message = on_message
        self._on_heard = on_heard
        self._msg_cnt: Counter[str] = Counter()
        self._counts: Counter[str] = Counter(
            {
                k: 0
                for k in (
                    *("tx.bsm", "tx.spat", "tx.rsm", "tx.rsi", "tx.map"),
                    *("tx.errors", "tx.unencodable"),
                    *("tx.no_reference", "tx.rsm_rate_limited", "rx.bsm", "rx.spat"),
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
        """Send ``state`` as a BSM stamped with its capture time, with what the vehicle says
        of itself (``own_extensions``: turn signals, hazard lights, hard braking)."""
        count = self._next("bsm")
        self._send(
            "bsm",
            lambda: encode_bsm(
                state,
                vehicle_id=self._vehicle_id,
                msg_cnt=count,
                unix_s=capture_time_ns / 1e9,
                extensions=own_extensions(state),
            ),
        )

    def broadcast_spat(self, spat: pb.SignalPhaseTiming, capture_time_ns: int) -> None:
        """Send ``spat`` as a SPAT; its times count down from its capture time."""
        count = self._next("spat")
        self._send("spat", lambda: encode_spat(spat, msg_cnt=count, unix_s=capture_time_ns / 1e9))

    def broadcast_objects(self, objects: pb.ObjectList, capture_time_ns: int) -> None:
        """Send ``objects`` as RSM frames (16 objects each) about the list's
        ``sensor_position``, unless the last RSM went out less than 0.1 s ago (counted)."""
        now_s = self._monotonic_s()
        if self._last_rsm_s is not None and now_s - self._last_rsm_s < RSM_PERIOD_S:
            self._counts["tx.rsm_rate_limited"] += 1
            return
        reference = _point_of(objects.sensor_position)
        if reference is None:
            self._counts["tx.no_reference"] += 1
            return
        self._last_rsm_s = now_s
        self._reference = reference
        count = self._msg_cnt["rsm"]
        try:
            result = encode_rsm(
                objects,
                reference=reference,
                rsu_id=self._vehicle_id,
                msg_cnt=count,
                unix_s=capture_time_ns / 1e9,
            )
        except ProtocolError as err:
            self._unencodable("rsm", err)
            return
        for reason, skipped in result.skipped.items():
            self._counts[f"tx.rsm_skipped.{reason}"] += skipped
        # Each frame of the list took the next MsgCount.
        self._msg_cnt["rsm"] = (count + len(result.frames)) % MSG_COUNT_MODULO
        for frame in result.frames:
            self._transmit("rsm", frame)

    def broadcast_event(self, event: pb.TrafficEvent, capture_time_ns: int) -> None:
        """Send ``event`` as an RSI about the last RSM's reference point (before any RSM: the
        event's own position; an event with neither is counted, not sent)."""
        reference = self._reference or _point_of(event.position)
        if reference is None:
            self._counts["tx.no_reference"] += 1
            return
        count = self._next("rsi")
        self._send(
            "rsi",
            lambda: encode_rsi(
                [event],
                [],
                reference=reference,
                rsu_id=self._vehicle_id,
                msg_cnt=count,
                unix_s=capture_time_ns / 1e9,
            ),
        )

    def broadcast_map(self, intersection: IntersectionMap, capture_time_ns: int) -> None:
        """Send ``intersection`` as a MAP (``tx.map``; one the standard cannot carry is counted
        as ``tx.unencodable``)."""
        count = self._next("map")
        self._send(
            "map",
            lambda: encode_map([intersection], msg_cnt=count, unix_s=capture_time_ns / 1e9),
        )

    def broadcast_signs(
        self, signs: Sequence[StaticSign], reference: GeoPoint, capture_time_ns: int
    ) -> None:
        """Send ``signs`` as one RSI about ``reference`` (the intersection's; ``tx.rsi``);
        no signs, no message."""
        if not signs:
            return
        count = self._next("rsi")
        self._send(
            "rsi",
            lambda: encode_rsi(
                [],
                signs,
                reference=reference,
                rsu_id=self._vehicle_id,
                msg_cnt=count,
                unix_s=capture_time_ns / 1e9,
            ),
        )

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
            self._unencodable(kind, err)
            return
        self._transmit(kind, data)

    def _unencodable(self, kind: str, err: ProtocolError) -> None:
        self._counts["tx.unencodable"] += 1
        log.warning("cannot send %s over V2X: %s", kind, err)

    def _transmit(self, kind: str, data: bytes) -> None:
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


def _point_of(position: pb.Position) -> GeoPoint | None:
    """``position`` as a reference point; None when unset (0, 0) or not a place on Earth."""
    lat, lon = position.latitude_deg, position.longitude_deg
    if not (math.isfinite(lat) and math.isfinite(lon)) or (lat, lon) == (0.0, 0.0):
        return None
    if abs(lat) > 90.0 or abs(lon) > 180.0:
        return None
    altitude = position.altitude_m if math.isfinite(position.altitude_m) else None
    return GeoPoint(lat, lon, altitude)
