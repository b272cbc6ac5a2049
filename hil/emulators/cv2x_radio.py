"""A C-V2X radio (PC5 module) on its UDP host interface, as Chinese RSUs and OBUs drive them.

The box sends each message to broadcast as one datagram (a UPER T/CSAE 53 ``MessageFrame``) to
the radio's port: the emulator decodes and records every one, with its scenario time of
arrival. Like a radio hearing other stations, it also sends the box the BSMs of the
scenario's ``remote_actors`` (from the ground truth) at ``rate_hz``, with their turn signals,
hazard lights and hard braking, and for ``emergency_actors`` an emergency call's siren and light
bar. With an ``RsuAir`` it also plays a roadside unit: MAP, RSI, SPAT and RSM.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Sequence
from typing import Any

from hal.errors import HalError, TransmitError
from hal.net.udp_link import UdpLink
from hil.clock import ScenarioClock
from hil.emulators.base import HilEmulatorError, ThreadedEmulator
from hil.emulators.rsu_air import RsuAir
from hil.world import GroundTruth
from protocols.errors import ProtocolError
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import (
    BsmExtensions,
    decode_message_frame,
    encode_bsm,
    own_extensions,
    station_id_bytes,
)

REMOTE_STATION_BASE = 0x5254_0000  # remote actors' station ids: this + their index
_POLL_S = 0.05
EMERGENCY_CALL = BsmExtensions(
    emergency_response="emergency", siren_in_use=True, lightbar_in_use=True
)
"""What an emergency actor's BSMs say beyond motion (with its own lights and events)."""
_TURN_SIGNALS = {"left": pb.TURN_SIGNAL_LEFT, "right": pb.TURN_SIGNAL_RIGHT}

Captured = tuple[float, str, dict[str, Any]]
"""(scenario time of arrival, kind, decoded fields) of one message the box handed the radio."""


def remote_bsm(
    truth: GroundTruth,
    actor: str,
    t_s: float,
    *,
    station_id: int,
    msg_cnt: int,
    unix_s: float,
    emergency: bool = False,
) -> bytes:
    """The BSM a station riding ``actor`` sends at scenario time ``t_s`` (Unix ``unix_s``):
    its turn signal or hazard lights (``ExteriorLights`` and the ``hazard_lights`` event),
    ``hard_braking`` while it brakes at 0.4 g or more, and with ``emergency`` the siren and
    light bar of an emergency call (``EMERGENCY_CALL``)."""
    state = truth.state(actor, t_s)
    where = truth.position(actor, t_s)
    model = truth.actors[actor]
    vehicle = pb.VehicleState(
        position=pb.Position(
            latitude_deg=where.latitude_deg,
            longitude_deg=where.longitude_deg,
            altitude_m=where.altitude_m,
            horizontal_accuracy_m=0.02,
        ),
        speed_mps=state.speed_mps,
        heading_rad=state.heading_rad,
        yaw_rate_rad_s=state.yaw_rate_rad_s,
        longitudinal_accel_mps2=state.accel_mps2,
        brake_applied=state.brake,
        gear=pb.GEAR_DRIVE,
        length_m=model.length_m,
        width_m=model.width_m,
        turn_signal=(
            pb.TURN_SIGNAL_HAZARD
            if state.hazard
            else _TURN_SIGNALS.get(state.turn_signal, pb.TURN_SIGNAL_OFF)
        ),
    )
    extensions = own_extensions(vehicle)
    if emergency:
        extensions = dataclasses.replace(
            extensions,
            emergency_response=EMERGENCY_CALL.emergency_response,
            siren_in_use=EMERGENCY_CALL.siren_in_use,
            lightbar_in_use=EMERGENCY_CALL.lightbar_in_use,
        )
    return encode_bsm(
        vehicle,
        vehicle_id=station_id_bytes(station_id),
        msg_cnt=msg_cnt,
        unix_s=unix_s,
        extensions=extensions,
    )


class CV2xRadioEmulator(ThreadedEmulator):
    """Listens on ``host``:``listen_port`` (the box's ``radio_port``); sends remote BSMs to
    ``host``:``box_port`` (the box's ``listen_port``).

    Messages are recorded with their kernel receive time. ``emergency_actors`` (some of
    ``remote_actors``) are on an emergency call; ``rsu`` adds a roadside unit's messages, sent
    on the same ticks. Stats: ``received`` (decoded), ``rejected`` (not a MessageFrame),
    ``received.<kind>``, ``broadcast`` (remote BSMs sent), ``rsu.<kind>`` (roadside unit
    frames sent), ``failed`` (sends the kernel refused).
    """

    def __init__(
        self,
        name: str,
        truth: GroundTruth,
        *,
        listen_port: int,
        box_port: int,
        host: str = "127.0.0.1",
        remote_actors: Sequence[str] = (),
        rate_hz: float = 10.0,
        emergency_actors: Sequence[str] = (),
        rsu: RsuAir | None = None,
    ) -> None:
        """Raises ``ValueError`` for a rate <= 0, a port outside 1-65535, an unknown actor or
        an emergency actor that is not a remote actor."""
        super().__init__(name)
        if not rate_hz > 0:
            raise ValueError(f"emulator {name!r}: rate_hz must be positive, got {rate_hz}")
        for port in (listen_port, box_port):
            if not 1 <= port <= 65535:
                raise ValueError(f"emulator {name!r}: port {port} not in 1-65535")
        unknown = [a for a in remote_actors if a not in truth.actors]
        if unknown:
            raise ValueError(f"emulator {name!r}: no actors {unknown} in the ground truth")
        silent = [a for a in emergency_actors if a not in remote_actors]
        if silent:
            raise ValueError(f"emulator {name!r}: emergency actors {silent} are not remote actors")
        self.truth = truth
        self.host = host
        self.listen_port = listen_port
        self.box_port = box_port
        self.remote_actors = tuple(remote_actors)
        self.emergency_actors = frozenset(emergency_actors)
        self.rsu = rsu if rsu is not None and rsu.active else None
        self._period_s = 1.0 / rate_hz
        self._link: UdpLink | None = None
        self._lock = threading.Lock()  # _sent, read by the runner while the thread runs
        self._sent: list[Captured] = []
        self._msg_cnt = 0
        for key in ("received", "rejected", "broadcast", "failed"):
            self._counts[key] = 0

    @property
    def sent(self) -> list[Captured]:
        """Every message the box handed the radio so far, in arrival order."""
        with self._lock:
            return list(self._sent)

    def _open(self) -> None:
        # The box's own link adapter, the other way round: its kernel receive times say
        # when each message arrived, however late this thread reads it.
        link = UdpLink(
            self.name, self.host, self.listen_port, peer_host=self.host, peer_port=self.box_port
        )
        try:
            link.open()
        except HalError as err:
            raise HilEmulatorError(f"emulator {self.name!r}: {err}") from err
        self._link = link

    def _close(self) -> None:
        if self._link is not None:
            self._link.close()
            self._link = None

    def _run(self, clock: ScenarioClock) -> None:
        assert self._link is not None  # opened by start()
        tick = math.floor(clock.now_s() / self._period_s) + 1
        while not self._stopping.is_set():
            due = tick * self._period_s
            wait = min(_POLL_S, max(0.0, due - clock.now_s()))
            for data, stamp in self._link.receive(timeout=wait, max_datagrams=256):
                self._record(data, stamp - clock.t0_unix)
            if clock.now_s() < due:
                continue
            if self.remote_actors:
                self._broadcast(due, clock)
            if self.rsu is not None:
                self._send_rsu(self.rsu, due, clock)
            # After a stall, go on from now rather than sending a burst of old states.
            tick = max(tick + 1, math.floor(clock.now_s() / self._period_s))

    def _record(self, data: bytes, t_s: float) -> None:
        try:
            kind, fields = decode_message_frame(data)
        except ProtocolError:
            self._counts["rejected"] += 1
            return
        self._counts["received"] += 1
        self._counts[f"received.{kind}"] += 1
        with self._lock:
            self._sent.append((t_s, kind, dict(fields)))

    def _broadcast(self, t_s: float, clock: ScenarioClock) -> None:
        assert self._link is not None
        for index, actor in enumerate(self.remote_actors):
            data = remote_bsm(
                self.truth,
                actor,
                t_s,
                station_id=REMOTE_STATION_BASE + index,
                msg_cnt=self._msg_cnt,
                unix_s=clock.t0_unix + t_s,
                emergency=actor in self.emergency_actors,
            )
            try:
                self._link.send(data)
            except TransmitError:
                self._counts["failed"] += 1
                continue
            self._counts["broadcast"] += 1
        self._msg_cnt = (self._msg_cnt + 1) % 128

    def _send_rsu(self, rsu: RsuAir, t_s: float, clock: ScenarioClock) -> None:
        assert self._link is not None
        for kind, data in rsu.frames(t_s, clock.t0_unix + t_s):
            try:
                self._link.send(data)
            except TransmitError:
                self._counts["failed"] += 1
                continue
            self._counts[f"rsu.{kind}"] += 1
