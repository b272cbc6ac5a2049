"""The roadside unit pipeline: radars + GNSS + signal controller (or a fixed-time plan) ->
objects, SPaT, events -> uplink; the intersection's description -> MAP and RSI on the air, and
to the cloud."""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from edge.clock_check import GnssClockCheck
from edge.pipelines.health import CounterSource, counters_of, pipeline_health
from edge.pipelines.publish_guard import PublishGuard
from edge.pipelines.roles import (
    RECORDER_TICK_S,
    SYSTEM_CLOCK,
    BackgroundFeed,
    Clock,
    FixSource,
    FlightLog,
    ObjectFusion,
    ObjectListApp,
    ObjectPlacement,
    Radio,
    Uplink,
)
from edge.pipelines.scheduling import every
from edge.port_io import can_batches, datagram_batches, serial_lines
from edge.recording.log_format import Kind
from edge.recording.sink import NoRecording, RecordingSink
from edge.roadside.object_fusion import SensorPose, to_object_list
from edge.roadside.radar_reads import RADAR_READ_WINDOW_S
from edge.roadside.signal_controller import Output, SignalControllerFeed, SpatDecoder
from edge.roadside.signal_plan import FixedTimePlan
from edge.sensor_faults import SensorFaultWatch, has_position
from edge.supervision import Supervisor, until_flushed
from hal.can.frames import FrameBatch
from hal.can.port import CanPort
from hal.net.port import Datagram, DatagramPort
from hal.serial.port import SerialLinePort
from protocols.radar.ars408 import RadarObjectList
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x.intersection_file import IntersectionDescription
from protocols.v2x.intersection_geometry import to_intersection_geometry

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
    """``raw_object_lists``: with a fusion, also publish each radar's own list (debugging).
    ``uplink_period_s``: the fused list goes to the cloud at most once in this much capture
    time (0: every list); the applications and the radio take every list.
    ``map_period_s``: how often the intersection goes on the air as MAP and its signs as RSI
    (T/CSAE 53 application guidance: MAP about 1 Hz); ``intersection_period_s``: how often its
    description is published to the cloud, for subscribers that came late.
    ``radar_read_window_s``: a radar bus with frames coming is read at most once in this much
    time (``can_batches``' ``window_s``; 0: at every frame the socket has)."""

    spat_rate_hz: float = 10.0
    health_period_s: float = 5.0
    raw_object_lists: bool = False
    uplink_period_s: float = 0.0
    map_period_s: float = 1.0
    intersection_period_s: float = 60.0
    radar_read_window_s: float = RADAR_READ_WINDOW_S


def _capture_ns(timestamp_s: float, clock: Clock) -> int:
    """A list's capture time in ns; a list without a usable timestamp gets the clock's now."""
    if math.isfinite(timestamp_s) and timestamp_s > 0:
        return int(timestamp_s * 1e9)
    return clock.now_ns()


def _completion_time(item: tuple[RadarObjectList, RadarInput]) -> float:
    """When a list completed on its bus (its header's time where that is not known)."""
    radar_list = item[0]
    return radar_list.timestamp if radar_list.completed_at is None else radar_list.completed_at


class RoadsideUnitPipeline:
    """Runs one roadside unit until cancelled. Ports must be open; the caller closes them.

    Each radar's object lists are placed on the map by ``place``, published and judged by each
    of ``apps`` (their events published too). SPaT comes from ``signal_controller`` as its
    datagrams arrive (at most ``spat_rate_hz``), or else from the fixed-time ``signal_plan`` at
    ``spat_rate_hz``; never from both (a ``ValueError``): a plan published while the controller
    is silent would be a guess. With a ``radio``, every SPaT published also goes on the air as
    a SPAT, every fused object list as RSM (at most 10 Hz) and every event as RSI. With an
    ``intersection`` description, the radio broadcasts it as MAP and its static signs as RSI
    every ``map_period_s``, and the description is published (``IntersectionGeometry``) at
    start and every ``intersection_period_s``; it is fixed for the process. ``clock``
    stamps what is published and judges the controller's silence;
    ``clock_check`` compares it with GNSS time (health, CLOCK_FAULT events). With a
    ``recorder``, every CAN batch (with its bus), GNSS line and controller datagram read is
    recorded before it is used (the radio's and the uplink's traffic by the builder). The step
    methods (``on_can_batch``, ``on_gnss_line``, ``on_controller_datagrams``,
    ``check_controller``, ``publish_spat``, ``publish_health``, ``broadcast_intersection``,
    ``publish_intersection``) are what ``run`` schedules.
    """

    def __init__(
        self,
        *,
        radars: Sequence[RadarInput],
        gnss: SerialLinePort | None,
        fixes: FixSource,
        signal_plan: FixedTimePlan | None,
        uplink: Uplink,
        settings: RoadsideUnitSettings,
        signal_controller: SignalControllerInput | None = None,
        apps: Sequence[ObjectListApp] = (),
        place: ObjectPlacement = to_object_list,
        fusion: ObjectFusion | None = None,
        feeds: Mapping[str, BackgroundFeed] | None = None,
        health_sources: Mapping[str, CounterSource] | None = None,
        radio: Radio | None = None,
        clock: Clock = SYSTEM_CLOCK,
        clock_check: GnssClockCheck | None = None,
        intersection: IntersectionDescription | None = None,
        recorder: FlightLog | None = None,
    ) -> None:
        if signal_plan is not None and signal_controller is not None:
            raise ValueError("SPaT comes from a signal controller or a fixed-time plan, not both")
        self._gnss = gnss
        self._fixes = fixes
        self._plan = signal_plan
        self._uplink = uplink
        self._settings = settings
        self._last_uplinked_ns: int | None = None
        self._apps = list(apps)
        self._place = place
        self._fusion = fusion
        self._radio = radio
        self._clock = clock
        self._clock_check = clock_check
        self._intersection = intersection
        self._geometry = None if intersection is None else to_intersection_geometry(intersection)
        self._recorder = recorder
        self._recording: RecordingSink = NoRecording() if recorder is None else recorder
        self._services: Supervisor | None = None
        self.counters: Counter[str] = Counter()
        self._guard = PublishGuard(uplink.identity.device_id)
        self.health = pipeline_health(self, uplink.counters, self._guard, clock.monotonic_s)
        if clock_check is not None:
            self.health.add_clock_check(clock_check)
        # Several radars may share one bus (ARS408 sensor-id offsets): one reader per port.
        self._by_port: dict[str, tuple[CanPort, list[RadarInput]]] = {}
        for radar in radars:
            port_radars = self._by_port.setdefault(radar.port.name, (radar.port, []))[1]
            port_radars.append(radar)
            self.health.add(f"can.{radar.port.name}", counters_of(radar.port))
            self.health.add(f"radar.{radar.pose.sensor_id}", radar.counters)
        if fusion is not None:
            self.health.add("perception", lambda: fusion.counters)
        self._feeds = dict(feeds or {})
        for name, background in self._feeds.items():
            self.health.add(name, counters_of(background))
        for name, source in (health_sources or {}).items():
            self.health.add(name, source)
        if gnss is not None:
            self.health.add(f"serial.{gnss.name}", counters_of(gnss))
        self.health.add("nmea.rejects", lambda: fixes.rejects)
        # Bus states, ports lost and reopened, the GNSS fix: SENSOR_FAULT events each way.
        self._sensor_faults = SensorFaultWatch(
            uplink.identity.device_id,
            can_ports=[port for port, _ in self._by_port.values()],
            serial_ports=[] if gnss is None else [gnss],
            wall_clock_ns=clock.now_ns,
        )
        self.health.add("sensor_faults", counters_of(self._sensor_faults))
        if radio is not None:
            self.health.add(f"udp.{radio.link.name}", counters_of(radio.link))
            self.health.add("v2x", counters_of(radio))
        if recorder is not None:
            self.health.add("recorder", counters_of(recorder))
        # The controller's port and the feed turning its datagrams into SPaT and faults.
        self._controller: tuple[DatagramPort, SignalControllerFeed] | None = None
        if signal_controller is not None:
            port = signal_controller.port
            feed = SignalControllerFeed(
                uplink.identity.device_id,
                signal_controller.decode,
                timeout_s=signal_controller.timeout_s,
                max_rate_hz=settings.spat_rate_hz,
                wall_clock_ns=clock.now_ns,
            )
            self._controller = (port, feed)
            self.health.add(f"udp.{port.name}", counters_of(port))
            self.health.add("signal_controller", counters_of(feed))

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
        """Read the ports, publish objects, SPaT and health, run the uplink (and radio) until
        cancelled."""
        # Supervised: a failing reader (a radar bus, the GNSS, a feed) is restarted with backoff
        # and shows in health, while the rest of the box keeps publishing.
        services = self._services = Supervisor()
        self.health.add("services", counters_of(services))
        services.add("uplink", self._uplink.run, long_running=True, stops_last=True)
        for name, (port, _) in self._by_port.items():
            services.add(f"can-{name}", self._read_radars, port, long_running=True)
        if self._gnss is not None:
            services.add("gnss", self._read_gnss, self._gnss, long_running=True)
        if self._radio is not None:
            services.add("v2x-radio", self._radio.run, long_running=True)
        for name, background in self._feeds.items():
            services.add(f"feed-{name}", background.run, long_running=True)
        if self._plan is not None:
            spat_period_s = 1 / self._settings.spat_rate_hz
            services.add("spat-plan", every, spat_period_s, self.publish_spat, long_running=True)
        if self._controller is not None:
            udp, _ = self._controller
            services.add(f"udp-{udp.name}", self._read_controller, udp, long_running=True)
            services.add(
                "controller-watchdog",
                every,
                WATCHDOG_PERIOD_S,
                self.check_controller,
                long_running=True,
            )
        health_period_s = self._settings.health_period_s
        services.add("health", every, health_period_s, self.publish_health, long_running=True)
        if self._recorder is not None:
            tick = self._recorder.tick
            services.add("recorder", every, RECORDER_TICK_S, tick, long_running=True)
        if self._intersection is not None:
            period_s = self._settings.intersection_period_s
            services.add(
                "intersection", every, period_s, self.publish_intersection, long_running=True
            )
            if self._radio is not None:
                map_period_s = self._settings.map_period_s
                services.add(
                    "v2x-map", every, map_period_s, self.broadcast_intersection, long_running=True
                )
        await services.run(flush=lambda: until_flushed(self._uplink))

    async def _read_radars(self, port: CanPort) -> None:
        async for batch in can_batches(port, window_s=self._settings.radar_read_window_s):
            # Reads against frames (can_frames) say how well the reads batch: each costs a
            # wake-up (and off SocketCAN a thread hand-off), whatever it carries.
            self.counters["can_reads"] += 1
            self._recording.can_frames(port.name, batch)
            self.on_can_batch(port.name, batch)

    async def _read_gnss(self, port: SerialLinePort) -> None:
        async for line in serial_lines(port):
            self._recording.serial_lines(port.name, [line], self._clock.now_ns() / 1e9)
            self.on_gnss_line(line)

    async def _read_controller(self, port: DatagramPort) -> None:
        async for datagrams in datagram_batches(port):
            self._recording.datagrams(Kind.SPAT, port.name, datagrams)
            self.on_controller_datagrams(datagrams)

    def on_can_batch(self, port_name: str, batch: FrameBatch) -> None:
        """Give ``batch``, read on port ``port_name``, to that bus's radars; publish each
        completed object list, in the order the lists completed on the bus."""
        self.counters["can_frames"] += len(batch)
        completed = [
            (radar_list, radar)
            for radar in self._by_port[port_name][1]
            for radar_list in radar.extract(batch)
        ]
        if len(completed) > 1:
            # Radar by radar, two lists completed in one read would be fused in config order:
            # what is published would depend on how the reader happened to batch the frames
            # (a replay reads them in other batches). The sort is stable: ties keep that order.
            completed.sort(key=_completion_time)
        for radar_list, radar in completed:
            self._publish_objects(radar, radar_list)

    def _publish_objects(self, radar: RadarInput, radar_list: RadarObjectList) -> None:
        # Stamped with the radar cycle's capture time (its header frame's kernel timestamp).
        capture_ns = _capture_ns(radar_list.timestamp, self._clock)
        if self._fusion is None or self._settings.raw_object_lists:
            raw = self._place(radar_list, radar.pose)
            self.counters["object_lists"] += 1
            if self._guard.admit(raw):
                self._uplink.submit(raw, capture_ns)
                if self._fusion is None:
                    self._judge(raw, capture_ns)
        if self._fusion is not None:
            result = self._fusion.on_list(radar.pose.sensor_id, radar_list)
            if result is not None:
                fused, fused_ns = result
                self.counters["fused_lists"] += 1
                if self._guard.admit(fused, self._fusion.checked_fields):
                    if self._uplink_due(fused_ns):
                        self._uplink.submit(fused, fused_ns)
                    else:
                        self.counters["fused_lists_not_uplinked"] += 1
                    if self._radio is not None:
                        self._radio.broadcast_objects(fused, fused_ns)
                    self._judge(fused, fused_ns)

    def _uplink_due(self, capture_ns: int) -> bool:
        """Whether a fused list captured at ``capture_ns`` goes to the cloud: ``uplink_period_s``
        of capture time after the last that went. By capture time, so that a replay sends the
        same lists; a list captured a little before the last (radars' cycles overlap) waits
        too, one from long before (the clock was stepped back) goes."""
        period_ns = round(self._settings.uplink_period_s * 1e9)
        last = self._last_uplinked_ns
        if period_ns and last is not None and -period_ns <= capture_ns - last < period_ns:
            return False
        self._last_uplinked_ns = capture_ns
        return True

    def _judge(self, objects: pb.ObjectList, now_ns: int) -> None:
        """Let the apps judge a published list; publish their events."""
        for app in self._apps:
            for event in app.evaluate(objects):
                if self._guard.admit(event):
                    log.info("%s: %s", self._uplink.identity.device_id, event.description)
                    self._uplink.submit(event, now_ns)
                    if self._radio is not None:
                        self._radio.broadcast_event(event, now_ns)

    def on_gnss_line(self, line: bytes) -> None:
        """Feed one NMEA line: the RSU's position is surveyed; GNSS gives it time and a health
        signal."""
        received_ns = self._clock.now_ns()
        fix = self._fixes.feed(line)
        if fix is not None:
            self.counters["gnss_fixes"] += 1
            self._submit(self._sensor_faults.on_fix(has_position(fix), self._clock.monotonic_s()))
        if self._clock_check is not None:
            self._submit(self._clock_check.observe(line, fix, received_ns))

    def on_controller_datagrams(self, datagrams: Sequence[Datagram]) -> None:
        """Turn the controller's datagrams (data, Unix receive time) into SPaT and events."""
        assert self._controller is not None, "no signal controller configured"
        feed = self._controller[1]
        now_s = self._clock.monotonic_s()
        for data, received_s in datagrams:
            self._submit(feed.datagram(data, received_s, now_s))

    def check_controller(self) -> None:
        """Publish a fault event when the controller has been silent too long."""
        assert self._controller is not None, "no signal controller configured"
        self._submit(self._controller[1].check(self._clock.monotonic_s()))

    def publish_spat(self) -> None:
        """Publish (and broadcast) the fixed-time plan's SPaT for now."""
        assert self._plan is not None, "no signal plan configured"
        now_ns = self._clock.now_ns()
        self._submit([(self._plan.spat(now_ns / 1e9), now_ns)])

    def broadcast_intersection(self) -> None:
        """Broadcast the intersection as MAP and its static signs as RSI."""
        assert self._intersection is not None, "no intersection description"
        if self._radio is None:
            return
        now_ns = self._clock.now_ns()
        intersection = self._intersection.map
        self._radio.broadcast_map(intersection, now_ns)
        self._radio.broadcast_signs(self._intersection.signs, intersection.reference, now_ns)

    def publish_intersection(self) -> None:
        """Publish the intersection's description to the cloud."""
        assert self._geometry is not None, "no intersection description"
        if self._guard.admit(self._geometry):
            self._uplink.submit(self._geometry, self._clock.now_ns())

    def publish_health(self) -> None:
        """Publish a health report (and the sensors' fault events since the last one)."""
        self._submit(self._sensor_faults.check(self._clock.monotonic_s()))
        health = self.health.snapshot()
        if self._guard.admit(health):
            self._uplink.submit(health, self._clock.now_ns())

    def _submit(self, outputs: Sequence[Output]) -> None:
        for body, capture_time_ns in outputs:
            if not self._guard.admit(body):
                continue
            self._uplink.submit(body, capture_time_ns)
            # SPaT goes on the air; the faults of the unit's own equipment (its controller's
            # silence, its clock) are for its operators, not for the vehicles: cloud only.
            if self._radio is not None and isinstance(body, pb.SignalPhaseTiming):
                self._radio.broadcast_spat(body, capture_time_ns)
