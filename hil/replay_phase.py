"""A scenario's ``[replay]``: its flight log played back into a fresh daemon with the same config.

After the run the daemon's flight log (``[recorder]``) holds every input it read and every
envelope it published. The bench starts a second ``roadgate run`` with the same box config
(rendered into ``<run dir>/replay``, so only its own files' paths differ), waits for its birth
message, and plays the log with ``roadgate replay``'s player (``firmware_py.cli.replay``: the
same targets and timing) onto the same vcan interfaces, a pseudo-terminal at its GNSS port and
its signal controller port. The player runs in the bench's process, as the emulators do, so
that a pseudo-terminal exists before the daemon opens it and the first item goes out right
after the birth message. What the fresh daemon publishes is recorded by a subscriber of its
own; ``replay_equal`` compares it with what the log says was published. For a roadside unit
the bench then re-runs the replayed daemon's CAN reads through a fresh pipeline
(``hil.replay_rerun``), at its receive times and at the recorded ones, for
``replay_rerun_equal``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from edge.errors import EdgeError
from edge.recording.reader import CanItem, EnvelopeItem, read_logs
from firmware_py.cli.record import CanSource, SerialSource
from firmware_py.cli.replay import UdpTarget, open_targets, replay
from firmware_py.config.loader import load_box_config
from firmware_py.config.model import BoxConfig
from firmware_py.errors import FirmwareError
from hal.errors import HalError
from hil.broker import MosquittoProcess
from hil.clock import ScenarioClock
from hil.daemon import DaemonProcess
from hil.errors import HilError
from hil.recording import ReplayOutcome
from hil.replay_rerun import batches, rerun_objects, retimed
from hil.scenario_engine import ReplaySpec
from hil.subscriber import MqttRecorder
from protocols.schema.v1 import roadgate_pb2 as pb

WaitForBirth = Callable[[MqttRecorder, DaemonProcess, float], None]
"""Blocks until the daemon's birth message (``recorder``, ``daemon``, since); raises
``HilError`` when it exits or stays silent."""

RECORDER_SECTION = "\n# Added by the HIL bench for [replay]\n[recorder]\nenabled = true\n"


def with_recorder(config_path: Path, load: Callable[[Path], BoxConfig]) -> BoxConfig:
    """The box config at ``config_path`` with its flight recorder on from the start: a config
    without ``[recorder]`` gets one (recording beside its outbox); raises ``HilError`` for a
    ``[recorder]`` that does not record from the start."""
    config = load(config_path)
    if not config.recorder.configured:
        config_path.write_text(config_path.read_text() + RECORDER_SECTION)
        config = load(config_path)
    if not config.recorder.enabled:
        raise HilError(
            f"{config_path}: [replay] needs the box to record from the start: "
            "[recorder] enabled = true, or no [recorder] (the bench adds one)"
        )
    return config


def flight_logs(config: BoxConfig) -> list[Path]:
    """The flight log files the box with ``config`` wrote, in name (= time) order."""
    directory = config.recorder.recordings_dir(config.outbox.path)
    logs = sorted(directory.glob("*.mcap"))
    if not logs:
        raise HilError(f"the daemon recorded no flight log into {directory}")
    return logs


def recorded_envelopes(logs: list[Path]) -> list[tuple[str, pb.Envelope]]:
    """(MQTT topic, envelope) of every envelope the logs say the box published, in order."""
    try:
        return [
            (item.channel.source, pb.Envelope.FromString(item.payload))
            for item in read_logs(logs)
            if isinstance(item, EnvelopeItem)
        ]
    except EdgeError as err:
        raise HilError(f"cannot read the flight log: {err}") from err


def replay_into_fresh_daemon(
    spec: ReplaySpec,
    *,
    field_config: BoxConfig,
    config_path: Path,
    broker: MosquittoProcess,
    wait_for_birth: WaitForBirth,
    say: Callable[[str], None],
) -> ReplayOutcome:
    """Play the flight log of the box with ``field_config`` into a daemon started from
    ``config_path`` (the same config, rendered into a directory of its own) and record what
    that daemon publishes on ``broker``. Raises ``HilError`` when the log cannot be read, a
    target cannot be opened or the daemon fails."""
    logs = flight_logs(field_config)
    recorded = recorded_envelopes(logs)
    device = field_config.device
    clock = ScenarioClock()
    subscriber = MqttRecorder(
        broker.host,
        broker.port,
        f"rg/v1/{device.region}/{device.device_id}/#",
        clock,
        client_id=f"hil-replay-{device.device_id}",
    )
    subscriber.start()
    daemon = DaemonProcess(config_path, config_path.parent / "daemon.log")
    try:
        with ExitStack() as stack:
            try:
                targets = open_targets(stack, *_targets(field_config, config_path))
            except (HalError, FirmwareError) as err:
                raise HilError(f"[replay]: cannot open the replay's targets: {err}") from err
            daemon.start()
            wait_for_birth(subscriber, daemon, clock.now_s())
            report = replay(logs, targets, speed=spec.speed)
            say(
                f"replayed {sum(report.sent.values())} items ({report.log_span_s:.1f} s of log)"
                f" in {report.wall_s:.1f} s"
            )
            time.sleep(spec.settle_s)
            if not daemon.running:
                raise HilError(
                    f"the replay's daemon exited with status {daemon.returncode}:\n"
                    f"{daemon.log_tail()}"
                )
            daemon.stop()  # it sends what its outbox holds, then its offline status
            time.sleep(0.5)
        outcome = ReplayOutcome(
            recorded=recorded,
            messages=subscriber.snapshot(),
            shift_s=report.shift_s,
            speed=spec.speed,
            sent=sum(report.sent.values()),
            failed=sum(report.failed.values()),
            skipped=sum(report.skipped.values()),
        )
    finally:
        daemon.stop()
        subscriber.stop()
    if field_config.device.role == "roadside_unit":
        _rerun(outcome, field_config, logs, load_box_config(config_path))
    return outcome


def _rerun(
    outcome: ReplayOutcome, field_config: BoxConfig, field_logs: list[Path], replayed: BoxConfig
) -> None:
    """Fill ``outcome``'s re-runs of the replayed daemon's CAN reads (``hil.replay_rerun``)."""
    try:
        recorded = _can_items(field_logs)
        read = _can_items(flight_logs(replayed))
        outcome.rerun_own_times = rerun_objects(field_config, batches(read))
        at_recorded = retimed(read, recorded)
        if isinstance(at_recorded, str):
            outcome.inputs_difference = at_recorded
        else:
            outcome.rerun_recorded_times = rerun_objects(field_config, at_recorded)
    except (HilError, EdgeError, FirmwareError, HalError, TypeError) as err:
        outcome.rerun_error = f"{type(err).__name__}: {err}"


def _can_items(logs: list[Path]) -> list[CanItem]:
    return [item for item in read_logs(logs) if isinstance(item, CanItem)]


def _targets(
    field: BoxConfig, config_path: Path
) -> tuple[list[CanSource], list[SerialSource], None, UdpTarget | None]:
    """Where the replay plays (as ``roadgate replay --can/--serial/--spat`` would be given):
    every CAN bus of the config, its GNSS port, its signal controller's port. The replay's
    config differs from ``field``'s in its files' paths only: its GNSS port is read from it."""
    config = load_box_config(config_path)
    can = [CanSource(bus.name, bus.interface, bus.channel) for bus in field.can]
    serial = (
        [SerialSource("gnss", config.gnss.port, config.gnss.baudrate)]
        if config.gnss is not None
        else []
    )
    controller = field.roadside.signal_controller if field.roadside is not None else None
    spat = UdpTarget("127.0.0.1", controller.port) if controller is not None else None
    return can, serial, None, spat
