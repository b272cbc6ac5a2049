"""The roadside unit pipeline: radars + GNSS + signal controller (or a fixed-time plan) ->
objects, SPaT, events -> uplink."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edge.apps.speeding import SpeedingDetector
from edge.pipelines.common import (
    CounterSource,
    FixSource,
    HealthReport,
    PublishGuard,
    counters_of,
    every,
)
from edge.port_io import can_batches, datagram_batches, serial_lines
from edge.roadside.object_fusion import SensorPose, to_object_list
from edge.roadside.signal_controller import Output, SignalControllerFeed, SpatDecoder
from edge.roadside.signal_plan import FixedTimePlan
from edge.uplink.publisher import UplinkPublisher
from edge.v2x.radio import V2xRadio
from hal.can.frames import FrameBatch
from hal.can.port import CanPort
from hal.net.port import DatagramPort
from hal.serial.port import SerialLinePort
from protocols.radar.ars408 import RadarObjectList
from protocols.schema.v1 import roadgate_pb2 as pb

log = logging.getLogger("edge.roadside_unit")

RadarExtractor = Callable[[FrameBatch], Sequence[RadarObjectList]]
"""Turns received frames into the radar's completed object lists (decoder + assembler)."""


@dataclass(frozen=True)
class RadarInput:
    """One radar: the bus it is on, how its frames become object lists, and its pose."""

    port: CanPort
    extract: RadarExtractor
    pose: SensorPose
    counters: CounterSource = dict  # cycles, partial and missed cycles, rejected frames


@dataclass(frozen=True)
class SignalControllerInput:
    """The signal controller: the port its datagrams arrive on, how one becomes SPaT (the
    protocol), and how long it may be silent before that is a fault."""

    port: DatagramPort
    decode: SpatDecoder
    timeout_s: float = 1.0


WATCHDOG_PERIOD_S = 0.1
"""How often the controller's silence is checked: a fault is reported at most this late."""


@dataclass(frozen=True)
class RoadsideUnitSettings:
    speed_limit_mps: float = 60 / 3.6
    speeding_tolerance_mps: float = 5 / 3.6
    spat_rate_hz: float = 10.0
    health_period_s: float = 5.0


class RoadsideUnitPipeline:
    """Runs one roadside unit until cancelled. Ports must be open; the caller closes them.

    SPaT comes from ``signal_controller`` as its datagrams arrive (at most ``spat_rate_hz``),
    or else from the fixed-time ``signal_plan`` at ``spat_rate_hz``; never from both (a
    ``ValueError``): a plan published while the controller is silent would be a guess.
    With a ``radio``, every SPaT published also goes on the air as a SPAT.
    """

    def __init__(
        self,
        *,
        radars: Sequence[RadarInput],
        gnss: SerialLinePort | None,
        fixes: FixSource,
        signal_plan: FixedTimePlan | None,
        uplink: UplinkPublisher,
        settings: RoadsideUnitSettings,
        signal_controller: SignalControllerInput | None = None,
        radio: V2xRadio | None = None,
    ) -> None:
        if signal_plan is not None and signal_controller is not None:
            raise ValueError("SPaT comes from a signal controller or a fixed-time plan, not both")
        self._radars = list(radars)
        self._gnss = gnss
        self._fixes = fixes
        self._plan = signal_plan
        self._uplink = uplink
        self._settings = settings
        self._speeding = SpeedingDetector(
            uplink.identity.device_id,
            settings.speed_limit_mps,
            tolerance_mps=settings.speeding_tolerance_mps,
        )
        self.counters: Counter[str] = Counter()
        self._guard = PublishGuard(uplink.identity.device_id)
        self.health = HealthReport({"pipeline": lambda: self.counters, "": uplink.counters})
        self.health.add("publish.refused", lambda: self._guard.counters)
        # Several radars may share one bus (ARS408 sensor-id offsets): one reader per port.
        self._by_port: dict[str, tuple[CanPort, list[RadarInput]]] = {}
        for radar in self._radars:
            port_radars = self._by_port.setdefault(radar.port.name, (radar.port, []))[1]
            port_radars.append(radar)
            self.health.add(f"can.{radar.port.name}", counters_of(radar.port))
            self.health.add(f"radar.{radar.pose.sensor_id}", radar.counters)
        if gnss is not None:
            self.health.add(f"serial.{gnss.name}", counters_of(gnss))
        self.health.add("nmea.rejects", lambda: fixes.rejects)
        self._radio = radio
        if radio is not None:
            self.health.add(f"udp.{radio.link.name}", counters_of(radio.link))
            self.health.add("v2x", counters_of(radio))
        # The controller's port and the feed turning its datagrams into SPaT and faults.
        self._controller: tuple[DatagramPort, SignalControllerFeed] | None = None
        if signal_controller is not None:
            port = signal_controller.port
            feed = SignalControllerFeed(
                uplink.identity.device_id,
                signal_controller.decode,
                timeout_s=signal_controller.timeout_s,
                max_rate_hz=settings.spat_rate_hz,
            )
            self._controller = (port, feed)
            self.health.add(f"udp.{port.name}", counters_of(port))
            self.health.add("signal_controller", counters_of(feed))

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._uplink.run(), name="uplink")
            for name, (port, radars) in self._by_port.items():
                tasks.create_task(self._read_radars(port, radars), name=f"can-{name}")
            if self._gnss is not None:
                tasks.create_task(self._read_gnss(self._gnss), name="gnss")
            if self._radio is not None:
                tasks.create_task(self._radio.run(), name="v2x-radio")
            if self._plan is not None:
                tasks.create_task(every(1 / self._settings.spat_rate_hz, self._publish_spat))
            if self._controller is not None:
                udp, feed = self._controller
                tasks.create_task(self._read_controller(udp, feed), name=f"udp-{udp.name}")
                tasks.create_task(
                    every(WATCHDOG_PERIOD_S, lambda: self._submit(feed.check(time.monotonic())))
                )
            tasks.create_task(every(self._settings.health_period_s, self._publish_health))

    async def _read_radars(self, port: CanPort, radars: Sequence[RadarInput]) -> None:
        async for batch in can_batches(port):
            self.counters["can_frames"] += len(batch)
            for radar in radars:
                for radar_list in radar.extract(batch):
                    self._publish_objects(radar, radar_list)

    def _publish_objects(self, radar: RadarInput, radar_list: RadarObjectList) -> None:
        now_ns = time.time_ns()
        objects = to_object_list(radar_list, radar.pose)
        self.counters["object_lists"] += 1
        if not self._guard.admit(objects):
            return  # neither published nor judged by the apps
        self._uplink.submit(objects, now_ns)
        for event in self._speeding.evaluate(objects):
            if self._guard.admit(event):
                log.info("%s: %s", self._uplink.identity.device_id, event.description)
                self._uplink.submit(event, now_ns)

    async def _read_gnss(self, port: SerialLinePort) -> None:
        # The RSU's position is surveyed; GNSS gives it time and a health signal.
        async for line in serial_lines(port):
            if self._fixes.feed(line) is not None:
                self.counters["gnss_fixes"] += 1

    async def _read_controller(self, port: DatagramPort, feed: SignalControllerFeed) -> None:
        async for datagrams in datagram_batches(port):
            now_s = time.monotonic()
            for data, received_s in datagrams:
                self._submit(feed.datagram(data, received_s, now_s))

    def _submit(self, outputs: Sequence[Output]) -> None:
        for body, capture_time_ns in outputs:
            if not self._guard.admit(body):
                continue
            self._uplink.submit(body, capture_time_ns)
            if self._radio is not None and isinstance(body, pb.SignalPhaseTiming):
                self._radio.broadcast_spat(body, capture_time_ns)

    def _publish_spat(self) -> None:
        assert self._plan is not None
        now_ns = time.time_ns()
        self._submit([(self._plan.spat(now_ns / 1e9), now_ns)])

    def _publish_health(self) -> None:
        health = self.health.snapshot()
        if self._guard.admit(health):
            self._uplink.submit(health, time.time_ns())
