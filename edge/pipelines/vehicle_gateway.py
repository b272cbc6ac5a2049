"""The vehicle gateway pipeline: vehicle CAN + GNSS -> vehicle state and warnings -> uplink."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from edge.clock_check import GnssClockCheck
from edge.pipelines.health import counters_of, pipeline_health
from edge.pipelines.publish_guard import PublishGuard
from edge.pipelines.roles import (
    RECORDER_TICK_S,
    SYSTEM_CLOCK,
    Clock,
    FixSource,
    FlightLog,
    FrameDecoder,
    Radio,
    StateEstimator,
    Uplink,
    V2xApplications,
    VehicleStateApp,
)
from edge.pipelines.scheduling import every
from edge.port_io import can_batches, serial_lines
from edge.recording.sink import NoRecording, RecordingSink
from edge.sensor_faults import Output, SensorFaultWatch, has_position
from edge.supervision import Supervisor, until_flushed
from hal.can.frames import FrameBatch
from hal.can.port import CanPort
from hal.serial.port import SerialLinePort

log = logging.getLogger("edge.vehicle_gateway")


@dataclass(frozen=True)
class VehicleGatewaySettings:
    state_rate_hz: float = 10.0
    health_period_s: float = 5.0


class VehicleGatewayPipeline:
    """Runs one vehicle gateway until cancelled. Ports must be open; the caller closes them.

    Frames from ``can_ports`` are decoded by ``decoder`` and fixes read from ``gnss`` by
    ``fixes``; both go into ``estimator``. At ``state_rate_hz`` its state is published, judged
    by each of ``apps`` (their events published too) and, with a ``radio``, put on the air as a
    BSM and judged by the Day-1 applications ``v2x_apps`` on what the radio heard (their
    warnings published on the events stream). ``clock`` stamps what is published;
    ``clock_check`` compares it with GNSS time (health, CLOCK_FAULT events). With a
    ``recorder``, every CAN batch (with its bus) and GNSS line (with its port) read is recorded
    before it is used (the uplink's envelopes are recorded by the builder's hook). The step methods
    (``on_can_batch``, ``on_gnss_line``, ``publish_state``, ``publish_health``) are what
    ``run`` schedules.
    """

    def __init__(
        self,
        *,
        can_ports: Sequence[CanPort],
        decoder: FrameDecoder,
        estimator: StateEstimator,
        gnss: SerialLinePort | None,
        fixes: FixSource,
        uplink: Uplink,
        settings: VehicleGatewaySettings,
        apps: Sequence[VehicleStateApp] = (),
        radio: Radio | None = None,
        clock: Clock = SYSTEM_CLOCK,
        clock_check: GnssClockCheck | None = None,
        v2x_apps: V2xApplications | None = None,
        recorder: FlightLog | None = None,
    ) -> None:
        self._can_ports = list(can_ports)
        self._decoder = decoder
        self._estimator = estimator
        self._gnss = gnss
        self._fixes = fixes
        self._uplink = uplink
        self._settings = settings
        self._apps = list(apps)
        self._radio = radio
        self._clock = clock
        self._clock_check = clock_check
        self._v2x_apps = v2x_apps
        self._recorder = recorder
        self._recording: RecordingSink = NoRecording() if recorder is None else recorder
        self._services: Supervisor | None = None
        self.counters: Counter[str] = Counter()
        self._guard = PublishGuard(uplink.identity.device_id)
        self.health = pipeline_health(self, uplink.counters, self._guard, clock.monotonic_s)
        if clock_check is not None:
            self.health.add_clock_check(clock_check)
        self.health.add("state.rejects", lambda: estimator.rejects)
        self.health.add("state", lambda: estimator.counters)
        for port in self._can_ports:
            self.health.add(f"can.{port.name}", counters_of(port))
        if gnss is not None:
            self.health.add(f"serial.{gnss.name}", counters_of(gnss))
        # Bad bytes are counted by reason where they are found; health carries them to the cloud.
        self.health.add("can.rejects", lambda: decoder.rejects)
        self.health.add("nmea.rejects", lambda: fixes.rejects)
        # Bus states, ports lost and reopened, the GNSS fix: SENSOR_FAULT events each way.
        self._sensor_faults = SensorFaultWatch(
            uplink.identity.device_id,
            can_ports=self._can_ports,
            serial_ports=[] if gnss is None else [gnss],
            wall_clock_ns=clock.now_ns,
        )
        self.health.add("sensor_faults", counters_of(self._sensor_faults))
        if radio is not None:
            self.health.add(f"udp.{radio.link.name}", counters_of(radio.link))
            self.health.add("v2x", counters_of(radio))
        if v2x_apps is not None:
            self.health.add("apps", counters_of(v2x_apps))
        if recorder is not None:
            self.health.add("recorder", counters_of(recorder))

    @property
    def recorder(self) -> FlightLog | None:
        """The flight recorder (an operator's ``record`` starts and stops it), or None."""
        return self._recorder

    def restart_service(self, name: str) -> None:
        """Restart one of the running box's services (an operator's ``restart_service``).
        Raises ``RuntimeError`` before the box runs, ``KeyError`` for an unknown name."""
        if self._services is None:
            raise RuntimeError("the box is not running")
        self._services.restart(name)

    async def run(self) -> None:
        """Read the ports, publish state and health, run the uplink (and radio) until
        cancelled."""
        # Supervised: a failing reader (a CAN bus whose port died) is restarted with backoff
        # and shows in health, while the rest of the box keeps publishing.
        services = self._services = Supervisor()
        self.health.add("services", counters_of(services))
        services.add("uplink", self._uplink.run, long_running=True, stops_last=True)
        for port in self._can_ports:
            services.add(f"can-{port.name}", self._read_can, port, long_running=True)
        if self._gnss is not None:
            services.add("gnss", self._read_gnss, self._gnss, long_running=True)
        if self._radio is not None:
            services.add("v2x-radio", self._radio.run, long_running=True)
        state_period_s = 1 / self._settings.state_rate_hz
        services.add("vehicle-state", every, state_period_s, self.publish_state, long_running=True)
        health_period_s = self._settings.health_period_s
        services.add("health", every, health_period_s, self.publish_health, long_running=True)
        if self._recorder is not None:
            tick = self._recorder.tick
            services.add("recorder", every, RECORDER_TICK_S, tick, long_running=True)
        await services.run(flush=lambda: until_flushed(self._uplink))

    async def _read_can(self, port: CanPort) -> None:
        async for batch in can_batches(port):
            self._recording.can_frames(port.name, batch)
            self.on_can_batch(batch)

    async def _read_gnss(self, port: SerialLinePort) -> None:
        async for line in serial_lines(port):
            self._recording.serial_lines(port.name, [line], self._clock.now_ns() / 1e9)
            self.on_gnss_line(line)

    def on_can_batch(self, batch: FrameBatch) -> None:
        """Decode ``batch`` into the estimator."""
        self.counters["can_frames"] += len(batch)
        self._estimator.update_can(self._decoder.decode_batch(batch))

    def on_gnss_line(self, line: bytes) -> None:
        """Feed one NMEA line; a completed fix goes into the estimator, stamped now."""
        fix = self._fixes.feed(line)
        if fix is not None:
            self.counters["gnss_fixes"] += 1
            self._estimator.update_gnss(fix, self._clock.now_ns() / 1e9)
            self._submit_events(
                self._sensor_faults.on_fix(has_position(fix), self._clock.monotonic_s())
            )
        if self._clock_check is not None:
            for event, capture_ns in self._clock_check.observe(line, fix, self._clock.now_ns()):
                if self._guard.admit(event):
                    self._uplink.submit(event, capture_ns)

    def publish_state(self) -> None:
        """Publish the vehicle's state (none before CAN is heard), its BSM and apps' events."""
        if self._estimator.last_can_time is None:
            return  # nothing heard from the vehicle yet: no state to report
        now_ns = self._clock.now_ns()
        state = self._estimator.state(now_ns / 1e9)
        if not self._guard.admit(state):
            return  # neither published, nor on the air, nor judged by the apps
        # Stamped when its newest input was sensed, not when this tick ran (never later).
        sensed_s = self._estimator.capture_time_s
        capture_ns = now_ns if sensed_s is None else min(now_ns, round(sensed_s * 1e9))
        self._uplink.submit(state, capture_ns)
        if self._radio is not None:
            self._radio.broadcast_state(state, capture_ns)
        events = [e for e in (app.evaluate(state) for app in self._apps) if e is not None]
        if self._v2x_apps is not None:
            events.extend(self._v2x_apps.cycle(state, now_ns / 1e9))
        for event in events:
            if self._guard.admit(event):
                what = f"{event.application}: " if event.application else ""
                log.info("%s: %s%s", self._uplink.identity.device_id, what, event.description)
                self._uplink.submit(event, capture_ns)

    def publish_health(self) -> None:
        """Publish a health report (and the sensors' fault events since the last one)."""
        self._submit_events(self._sensor_faults.check(self._clock.monotonic_s()))
        health = self.health.snapshot()
        if self._guard.admit(health):
            self._uplink.submit(health, self._clock.now_ns())

    def _submit_events(self, events: Sequence[Output]) -> None:
        for event, capture_ns in events:
            if self._guard.admit(event):
                self._uplink.submit(event, capture_ns)
