"""Run one scenario: broker, emulators, the real daemon, faults on a timeline, then the checks.

The bench plays the world around a box: it starts a private Mosquitto, renders the scenario's
box config (broker port, the GNSS emulator's serial device, the signal controller's, the
C-V2X radio's and the HMI's UDP ports, a private outbox), starts ``roadgate run`` as a
separate process and waits for its birth message, then starts the emulators at scenario time
0 and injects the faults at their times. Everything the daemon publishes is recorded by a
subscriber, as a cloud service would see it; the daemon's outbox is watched from outside.
After ``duration_s`` the emulators stop, the bench watches ``settle_s`` longer, stops
everything and checks the expectations against the recording. With ``[replay]`` the daemon
records its flight log, which is then played into a second daemon with the same config
(``hil.replay_phase``) before the checks.

Needs the scenario's vcan interfaces (``roadgate hil up``, or ``roadgate hil run`` which
creates them, inside user-mode-linux where this kernel has no CAN).
"""

from __future__ import annotations

import contextlib
import socket
import string
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from firmware_py.box import wanted_ids
from firmware_py.config.loader import load_box_config
from firmware_py.config.model import BoxConfig
from firmware_py.errors import FirmwareError
from hil.broker import MosquittoProcess
from hil.clock import ScenarioClock
from hil.daemon import DaemonProcess
from hil.emulators import (
    Ars408Emulator,
    CanLogReplayer,
    ChannelGate,
    CV2xRadioEmulator,
    GnssEmulator,
    HmiDisplayEmulator,
    RsuAir,
    SignalControllerEmulator,
    VehicleCanEmulator,
)
from hil.errors import HilError
from hil.faults import FaultActions, bus_off, interface_down
from hil.outbox_watch import OutboxWatch
from hil.recording import FaultWindow, Received, Recording, ReplayOutcome
from hil.replay_phase import replay_into_fresh_daemon, with_recorder
from hil.scenario_engine import (
    Ars408Spec,
    CanReplaySpec,
    CV2xRadioSpec,
    FaultSpec,
    GnssSpec,
    HmiSpec,
    ReplaySpec,
    Scenario,
    SignalControllerSpec,
    VehicleCanSpec,
    Verdict,
    evaluate,
)
from hil.subscriber import MqttRecorder
from protocols.dbc import load_dbc
from protocols.errors import ProtocolError
from protocols.schema.v1 import roadgate_pb2 as pb

BIRTH_TIMEOUT_S = 120.0
"""How long the daemon may take from start to its birth message (imports are slow in UML)."""


@dataclass
class ScenarioResult:
    """The outcome of one scenario run."""

    name: str
    verdicts: list[Verdict] = field(default_factory=list)
    error: str | None = None  # the bench could not run the scenario
    wall_s: float = 0.0
    emulator_stats: dict[str, dict[str, int]] = field(default_factory=dict)
    run_dir: Path | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(v.passed for v in self.verdicts)


def run_scenario(scenario: Scenario, workdir: Path, out: TextIO) -> ScenarioResult:
    """Run ``scenario`` with its files under ``workdir/<name>``; never raises for a failed
    check or a bench failure: both are in the result."""
    started = time.monotonic()
    run_dir = workdir / scenario.name
    run_dir.mkdir(parents=True, exist_ok=True)
    result = ScenarioResult(scenario.name, run_dir=run_dir)
    try:
        recording = _Bench(scenario, run_dir, out).run()
        result.emulator_stats = recording.emulator_stats
        result.verdicts = evaluate(scenario.expectations, recording)
    except HilError as err:
        result.error = str(err)
    result.wall_s = time.monotonic() - started
    return result


def check_interfaces(names: Sequence[str]) -> None:
    """Raise ``HilError`` unless every vcan interface in ``names`` exists here."""
    missing = [name for name in names if not Path("/sys/class/net", name).exists()]
    if missing:
        raise HilError(
            f"CAN interfaces {missing} do not exist: create them with `roadgate hil up` "
            "(or let `roadgate hil run` create them)"
        )


def render_box_config(template: Path, values: dict[str, str], target: Path) -> Path:
    """Fill ``$name`` placeholders of the box config template; raise ``HilError`` for an
    unknown one."""
    try:
        text = string.Template(template.read_text()).substitute(values)
    except OSError as err:
        raise HilError(f"cannot read the box config template {template}: {err}") from err
    except (KeyError, ValueError) as err:
        raise HilError(f"{template}: unknown placeholder {err}; known: {sorted(values)}") from err
    target.write_text(text)
    return target


class _Bench:
    """One scenario run's moving parts."""

    def __init__(self, scenario: Scenario, run_dir: Path, out: TextIO) -> None:
        self.scenario = scenario
        self.run_dir = run_dir
        self.out = out
        self.gates = {channel: ChannelGate() for channel in scenario.can_channels}

    def say(self, text: str) -> None:
        print(f"[{self.scenario.name}] {text}", file=self.out, flush=True)

    def run(self) -> Recording:
        check_interfaces(self.scenario.vcan)
        broker = MosquittoProcess(self.run_dir, persistent=True)
        broker.start()
        try:
            return self._with_broker(broker)
        finally:
            broker.stop()

    def _with_broker(self, broker: MosquittoProcess) -> Recording:
        udp_ports = self._pick_udp_ports()
        values = self._template_values(broker, self.run_dir, udp_ports)
        config_path = render_box_config(
            self.scenario.box_template, values, self.run_dir / "box.toml"
        )
        config = self._load_config(config_path)
        device = config.device
        pre_clock = ScenarioClock()
        recorder = MqttRecorder(
            broker.host,
            broker.port,
            f"rg/v1/{device.region}/{device.device_id}/#",
            pre_clock,
            client_id=f"hil-{self.scenario.name}",
        )
        recorder.start()
        emulators = self._emulators(udp_ports)
        daemon = DaemonProcess(config_path, self.run_dir / "daemon.log")
        watch = OutboxWatch(config.outbox.path)
        try:
            # Serial devices must exist before the daemon opens them, as on a board; the HMI
            # holds its port from the start, so that no warning line finds it closed.
            for emulator in emulators:
                if isinstance(emulator, GnssEmulator | HmiDisplayEmulator):
                    emulator.open()
            daemon.start()
            self._wait_for_birth(recorder, daemon, since=pre_clock.now_s())
            clock = ScenarioClock()
            recording = Recording(
                scenario=self.scenario.name,
                device_id=device.device_id,
                clock=clock,
                truth=self.scenario.truth,
                duration_s=self.scenario.duration_s,
                daemon_starts=[0.0],
            )
            watch.start()
            for emulator in emulators:
                emulator.start(clock)
            self.say(f"running for {self.scenario.duration_s:.0f} s")
            faults = _FaultTimeline(self, recording, clock, broker, daemon, watch, emulators)
            faults.start()
            clock.sleep_until(self.scenario.duration_s)
            faults.join()
            errors = self._stop_emulators(emulators, recording, config)
            time.sleep(self.scenario.settle_s)
            watch.stop()
            watch.read_now()
            if not daemon.running:
                raise HilError(
                    f"the daemon exited with status {daemon.returncode} during the scenario:\n"
                    f"{daemon.log_tail()}"
                )
            status = daemon.stop()
            if status not in (0, None):
                self.say(f"daemon exited with {status} on SIGTERM")
            # After a clean stop: acknowledged rows are deleted in batches while it runs, so
            # only what was never acknowledged may be left.
            recording.outbox_left = watch.read_now()
            recording.outbox_left_keys = set(watch.last)
            recording.outbox_seen = set(watch.seen)
            time.sleep(0.5)  # the offline status, for the record
            if errors:
                raise HilError("; ".join(errors))
            recording.messages = recorder.snapshot()
            recording.messages = [
                _rebase(message, pre_clock, clock) for message in recording.messages
            ]
            if faults.error is not None:
                raise HilError(f"fault injection failed: {faults.error}")
            if self.scenario.replay is not None:
                recorder.stop()  # the replay's daemon has a subscriber of its own
                recording.replay = self._replay(self.scenario.replay, broker, udp_ports, config)
            return recording
        finally:
            watch.stop()
            daemon.stop()
            recorder.stop()
            for emulator in emulators:
                # Already reported by _stop_emulators, or never started.
                with contextlib.suppress(Exception):
                    emulator.stop()

    def _pick_udp_ports(self) -> dict[str, int]:
        """The UDP ports of the emulators that have one: a signal controller's (the daemon's
        SPaT port), a radio's and the daemon's own (``<name>/box``), an HMI's."""
        udp_ports: dict[str, int] = {}
        for spec in self.scenario.emulators:
            if isinstance(spec, SignalControllerSpec):
                udp_ports[spec.name] = spec.port or free_udp_port()
            elif isinstance(spec, CV2xRadioSpec):
                # Two ports: the radio's (the daemon sends there) and the daemon's own.
                radio_port = free_udp_port()
                listen_port = free_udp_port()
                while listen_port == radio_port:
                    listen_port = free_udp_port()
                udp_ports[spec.name] = radio_port
                udp_ports[f"{spec.name}/box"] = listen_port
            elif isinstance(spec, HmiSpec):
                udp_ports[spec.name] = free_udp_port()
        return udp_ports

    def _template_values(
        self, broker: MosquittoProcess, run_dir: Path, udp_ports: dict[str, int]
    ) -> dict[str, str]:
        """The box config template's placeholders for a daemon whose files are in
        ``run_dir``."""
        values = {
            "mqtt_host": broker.host,
            "mqtt_port": str(broker.port),
            "run_dir": str(run_dir),
        }
        for spec in self.scenario.emulators:
            if isinstance(spec, GnssSpec):
                values[f"gnss_{spec.name}"] = str(run_dir / spec.name)
            elif isinstance(spec, SignalControllerSpec):
                values[f"spat_port_{spec.name}"] = str(udp_ports[spec.name])
            elif isinstance(spec, CV2xRadioSpec):
                values[f"v2x_radio_port_{spec.name}"] = str(udp_ports[spec.name])
                values[f"v2x_listen_port_{spec.name}"] = str(udp_ports[f"{spec.name}/box"])
            elif isinstance(spec, HmiSpec):
                values[f"hmi_port_{spec.name}"] = str(udp_ports[spec.name])
        return values

    def _load_config(self, config_path: Path) -> BoxConfig:
        """The rendered box config; with ``[replay]``, recording from the start."""
        try:
            if self.scenario.replay is not None:
                return with_recorder(config_path, load_box_config)
            return load_box_config(config_path)
        except FirmwareError as err:
            raise HilError(f"the scenario's box config is invalid: {err}") from err

    def _replay(
        self,
        spec: ReplaySpec,
        broker: MosquittoProcess,
        udp_ports: dict[str, int],
        config: BoxConfig,
    ) -> ReplayOutcome:
        """The field run's flight log played into a fresh daemon with the same config, its
        files in ``<run dir>/replay`` (the same UDP ports: the first daemon has stopped)."""
        replay_dir = self.run_dir / "replay"
        replay_dir.mkdir(exist_ok=True)
        values = self._template_values(broker, replay_dir, udp_ports)
        config_path = render_box_config(self.scenario.box_template, values, replay_dir / "box.toml")
        self._load_config(config_path)
        self.say(f"replaying the flight log at speed {spec.speed:g} into a fresh daemon")
        return replay_into_fresh_daemon(
            spec,
            field_config=config,
            config_path=config_path,
            broker=broker,
            wait_for_birth=self._wait_for_birth,
            say=self.say,
        )

    def _emulators(self, udp_ports: dict[str, int]) -> list[Emulator]:
        """The scenario's emulators; a signal controller sends to ``udp_ports[its name]``, a
        radio listens there and sends to ``udp_ports[its name + "/box"]``."""
        emulators: list[Emulator] = []
        truth = self.scenario.truth
        for spec in self.scenario.emulators:
            if isinstance(spec, CanReplaySpec):
                emulators.append(
                    CanLogReplayer(
                        spec.name,
                        spec.log,
                        channel=spec.channel,
                        gate=self.gates[spec.channel],
                        speed=spec.speed,
                        start_s=spec.start_s,
                        loop=spec.loop,
                    )
                )
            elif isinstance(spec, Ars408Spec):
                emulators.append(
                    Ars408Emulator(
                        spec.name,
                        truth,
                        channel=spec.channel,
                        sensor_id=spec.sensor_id,
                        position=spec.position,
                        heading_deg=spec.heading_deg,
                        cycle_s=spec.cycle_s,
                        gate=self.gates[spec.channel],
                        mount=spec.mount,
                        model=spec.model,
                        seed=spec.seed,
                    )
                )
            elif isinstance(spec, SignalControllerSpec):
                emulators.append(
                    SignalControllerEmulator(
                        spec.name,
                        plan=spec.plan,
                        target_port=udp_ports[spec.name],
                        rate_hz=spec.rate_hz,
                    )
                )
            elif isinstance(spec, CV2xRadioSpec):
                rsu = RsuAir(
                    truth,
                    intersection=spec.intersection,
                    plan=spec.signal_plan,
                    rsm_actors=spec.rsm_actors,
                )
                emulators.append(
                    CV2xRadioEmulator(
                        spec.name,
                        truth,
                        listen_port=udp_ports[spec.name],
                        box_port=udp_ports[f"{spec.name}/box"],
                        remote_actors=spec.remote_actors,
                        rate_hz=spec.rate_hz,
                        emergency_actors=spec.emergency_actors,
                        rsu=rsu,
                    )
                )
            elif isinstance(spec, VehicleCanSpec):
                emulators.append(
                    VehicleCanEmulator(
                        spec.name,
                        truth,
                        channel=spec.channel,
                        actor=spec.actor,
                        db=_database(spec.dbc),
                        gate=self.gates[spec.channel],
                    )
                )
            elif isinstance(spec, HmiSpec):
                emulators.append(HmiDisplayEmulator(spec.name, port=udp_ports[spec.name]))
            else:
                emulators.append(
                    GnssEmulator(
                        spec.name,
                        truth,
                        link=self.run_dir / spec.name,
                        actor=spec.actor,
                        position=spec.position,
                        rate_hz=spec.rate_hz,
                        quality=spec.quality,
                    )
                )
        return emulators

    def _wait_for_birth(self, recorder: MqttRecorder, daemon: DaemonProcess, since: float) -> None:
        deadline = time.monotonic() + BIRTH_TIMEOUT_S
        while time.monotonic() < deadline:
            birth = recorder.wait_for(
                lambda m: (
                    m.stream == "status"
                    and not m.retained
                    and m.envelope.status.liveness == pb.LIVENESS_ONLINE
                ),
                timeout=0.5,
            )
            if birth is not None:
                self.say(f"daemon up after {birth.t_s - since:.1f} s")
                return
            if not daemon.running:
                raise HilError(
                    f"the daemon exited with status {daemon.returncode} before its birth "
                    f"message:\n{daemon.log_tail()}"
                )
        raise HilError(
            f"no birth message from the daemon within {BIRTH_TIMEOUT_S:.0f} s:\n{daemon.log_tail()}"
        )

    def _stop_emulators(
        self, emulators: Sequence[Emulator], recording: Recording, config: BoxConfig
    ) -> list[str]:
        errors = []
        for emulator in emulators:
            try:
                emulator.stop()
            except Exception as err:  # an emulator's own failure: the run is not valid
                errors.append(f"emulator {emulator.name} failed: {err}")
            recording.emulator_stats[emulator.name] = dict(emulator.stats)
            if isinstance(emulator, GnssEmulator):
                recording.gnss_delivered[emulator.name] = emulator.delivered
            elif isinstance(emulator, CV2xRadioEmulator):
                recording.v2x_sent[emulator.name] = emulator.sent
            elif isinstance(emulator, HmiDisplayEmulator):
                recording.hmi_lines[emulator.name] = emulator.lines
            elif not isinstance(emulator, SignalControllerEmulator):  # a CAN emulator
                delivered = recording.can_delivered.setdefault(emulator.channel, Counter())
                delivered.update(emulator.delivered)
        recording.can_wanted = _wanted_by_channel(config)
        return errors


Emulator = (
    CanLogReplayer
    | Ars408Emulator
    | GnssEmulator
    | SignalControllerEmulator
    | CV2xRadioEmulator
    | VehicleCanEmulator
    | HmiDisplayEmulator
)


class _FaultTimeline(threading.Thread):
    """Injects the scenario's faults at their times; records when each actually ran."""

    def __init__(
        self,
        bench: _Bench,
        recording: Recording,
        clock: ScenarioClock,
        broker: MosquittoProcess,
        daemon: DaemonProcess,
        watch: OutboxWatch,
        emulators: Sequence[Emulator],
    ) -> None:
        super().__init__(name="faults", daemon=True)
        self.bench = bench
        self.recording = recording
        self.clock = clock
        self.broker = broker
        self.device = daemon
        self.watch = watch
        self.gnss = {e.name: e for e in emulators if isinstance(e, GnssEmulator)}
        self.controllers = {e.name: e for e in emulators if isinstance(e, SignalControllerEmulator)}
        self.error: str | None = None

    def run(self) -> None:
        try:
            for fault in self.bench.scenario.faults:
                self._inject(fault)
        except (HilError, OSError) as err:
            self.error = str(err)

    def _inject(self, fault: FaultSpec) -> None:
        actions = self._actions(fault)
        self.clock.sleep_until(fault.at_s)
        self.watch.read_now()  # what the outbox holds right before the fault must arrive
        start = self.clock.now_s()
        actions.begin()
        self.bench.say(f"{start:5.1f} s: {fault.kind} {fault.target}".rstrip())
        self.clock.sleep_until(fault.at_s + fault.duration_s)
        self.watch.read_now()
        actions.end()
        end = self.clock.now_s()
        self.bench.say(f"{end:5.1f} s: {fault.kind} {fault.target} ended".rstrip())
        self.recording.faults.append(FaultWindow(fault.kind, fault.target, start, end))

    def _actions(self, fault: FaultSpec) -> FaultActions:
        kind, target = fault.kind, fault.target
        if kind == "interface_down":
            return interface_down(target)
        if kind == "bus_off":
            return bus_off(target, self.bench.gates[target])
        if kind == "gnss_unplug":
            gnss = self.gnss[target]
            return FaultActions(gnss.unplug, gnss.replug)
        if kind == "gnss_no_fix":
            gnss = self.gnss[target]
            return FaultActions(lambda: gnss.set_no_fix(True), lambda: gnss.set_no_fix(False))
        if kind == "gnss_garbage":
            gnss = self.gnss[target]
            return FaultActions(lambda: gnss.garbage_burst(fault.size), _nothing)
        if kind == "controller_silent":
            controller = self.controllers[target]
            return FaultActions(lambda: controller.silence(True), lambda: controller.silence(False))
        if kind == "broker_outage":
            return FaultActions(self.broker.stop, self.broker.start)
        if kind == "daemon_kill":
            return FaultActions(self.device.kill, self._restart_daemon)
        raise HilError(f"fault kind {kind!r} is not supported by this bench")

    def _restart_daemon(self) -> None:
        self.device.start()
        self.recording.daemon_starts.append(self.clock.now_s())


def _nothing() -> None:
    return None


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port free on ``host`` right now, for the daemon to bind (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _database(path: Path) -> Any:
    """The cantools database of a vehicle CAN emulator's DBC (checked by the loader)."""
    try:
        return load_dbc(path).database
    except ProtocolError as err:
        raise HilError(f"cannot load {path}: {err}") from err


def _wanted_by_channel(config: BoxConfig) -> dict[str, frozenset[int] | None]:
    """CAN channel -> the ids the daemon reads there (None: every id)."""
    wanted: dict[str, frozenset[int] | None] = {}
    for bus in config.can:
        try:
            database = load_dbc(bus.dbc, encoding=bus.dbc_encoding).database
        except ProtocolError as err:
            raise HilError(f"cannot load {bus.dbc}: {err}") from err
        ids = wanted_ids(config, bus.name, database)
        wanted[bus.channel] = None if ids is None else ids.standard | ids.extended
    return wanted


def _rebase(message: Received, old: ScenarioClock, new: ScenarioClock) -> Received:
    """``message`` with its arrival time on the scenario clock (it was recorded on ``old``)."""
    return replace(message, t_s=message.t_s - (new.t0_monotonic - old.t0_monotonic))
