"""The vehicle gateway pipeline: vehicle CAN + GNSS -> vehicle state and warnings -> uplink."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from edge.apps.emergency_brake import HARD_BRAKING_MPS2, EmergencyBrakeDetector
from edge.pipelines.common import (
    FixSource,
    FrameDecoder,
    HealthReport,
    PublishGuard,
    counters_of,
    every,
)
from edge.port_io import can_batches, serial_lines
from edge.uplink.publisher import UplinkPublisher
from edge.v2x.radio import V2xRadio
from edge.vehicle.signal_map import VehicleSignalMap
from edge.vehicle.state_estimator import VehicleDimensions, VehicleStateEstimator
from hal.can.port import CanPort
from hal.serial.port import SerialLinePort

log = logging.getLogger("edge.vehicle_gateway")


@dataclass(frozen=True)
class VehicleGatewaySettings:
    state_rate_hz: float = 10.0
    health_period_s: float = 5.0
    hard_braking_mps2: float = HARD_BRAKING_MPS2
    dimensions: VehicleDimensions = field(default_factory=VehicleDimensions)


class VehicleGatewayPipeline:
    """Runs one vehicle gateway until cancelled. Ports must be open; the caller closes them.

    With a ``radio``, every vehicle state published also goes on the air as a BSM.
    """

    def __init__(
        self,
        *,
        can_ports: Sequence[CanPort],
        decoder: FrameDecoder,
        signal_map: VehicleSignalMap,
        gnss: SerialLinePort | None,
        fixes: FixSource,
        uplink: UplinkPublisher,
        settings: VehicleGatewaySettings,
        radio: V2xRadio | None = None,
    ) -> None:
        self._can_ports = list(can_ports)
        self._decoder = decoder
        self._gnss = gnss
        self._fixes = fixes
        self._uplink = uplink
        self._settings = settings
        self._estimator = VehicleStateEstimator(signal_map, settings.dimensions)
        self._brake = EmergencyBrakeDetector(uplink.identity.device_id, settings.hard_braking_mps2)
        self.counters: Counter[str] = Counter()
        self._guard = PublishGuard(uplink.identity.device_id)
        self.health = HealthReport({"pipeline": lambda: self.counters, "": uplink.counters})
        self.health.add("publish.refused", lambda: self._guard.counters)
        self.health.add("state.rejects", lambda: self._estimator.rejects)
        for port in self._can_ports:
            self.health.add(f"can.{port.name}", counters_of(port))
        if gnss is not None:
            self.health.add(f"serial.{gnss.name}", counters_of(gnss))
        # Bad bytes are counted by reason where they are found; health carries them to the cloud.
        self.health.add("can.rejects", lambda: decoder.rejects)
        self.health.add("nmea.rejects", lambda: fixes.rejects)
        self._radio = radio
        if radio is not None:
            self.health.add(f"udp.{radio.link.name}", counters_of(radio.link))
            self.health.add("v2x", counters_of(radio))

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._uplink.run(), name="uplink")
            for port in self._can_ports:
                tasks.create_task(self._read_can(port), name=f"can-{port.name}")
            if self._gnss is not None:
                tasks.create_task(self._read_gnss(self._gnss), name="gnss")
            if self._radio is not None:
                tasks.create_task(self._radio.run(), name="v2x-radio")
            tasks.create_task(every(1 / self._settings.state_rate_hz, self._publish_state))
            tasks.create_task(every(self._settings.health_period_s, self._publish_health))

    async def _read_can(self, port: CanPort) -> None:
        async for batch in can_batches(port):
            self.counters["can_frames"] += len(batch)
            self._estimator.update_can(self._decoder.decode_batch(batch))

    async def _read_gnss(self, port: SerialLinePort) -> None:
        async for line in serial_lines(port):
            fix = self._fixes.feed(line)
            if fix is not None:
                self.counters["gnss_fixes"] += 1
                self._estimator.update_gnss(fix, time.time())

    def _publish_state(self) -> None:
        if self._estimator.last_can_time is None:
            return  # nothing heard from the vehicle yet: no state to report
        now_ns = time.time_ns()
        state = self._estimator.state(now_ns / 1e9)
        if not self._guard.admit(state):
            return  # neither published, nor on the air, nor judged by the apps
        self._uplink.submit(state, now_ns)
        if self._radio is not None:
            self._radio.broadcast_state(state, now_ns)
        event = self._brake.evaluate(state)
        if event is not None and self._guard.admit(event):
            log.info("%s: %s", self._uplink.identity.device_id, event.description)
            self._uplink.submit(event, now_ns)

    def _publish_health(self) -> None:
        health = self.health.snapshot()
        if self._guard.admit(health):
            self._uplink.submit(health, time.time_ns())
