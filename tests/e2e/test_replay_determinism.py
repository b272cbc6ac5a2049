"""Replay determinism (issue 18, item 3): a simulated vehicle gateway runs with ``[recorder]``
against a private Mosquitto ("the field"); its log is then

* fed to a fresh pipeline in recorded order with the recorded times: every state and event the
  field box published comes out again, byte for byte (the pipeline is deterministic given its
  inputs);
* replayed by ``roadgate replay`` onto python-can's virtual bus and a pseudo-terminal into a
  second box with the same config but no simulation ("the bench"): its inputs arrive equal in
  content and order, shifted in time by the replay's shift plus the receiving side's jitter; the
  bench's own log fed to a fresh pipeline reproduces the bench's states byte for byte, and its
  states agree with the field's within what that jitter explains (measured and printed).

A simulated roadside unit's recorded radar frames, fed to a fresh pipeline, give every fused
object list it published again, byte for byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import threading
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edge.apps.emergency_brake import EmergencyBrakeDetector
from edge.identity import DeviceIdentity
from edge.pipelines.roadside_unit import RoadsideUnitPipeline
from edge.pipelines.vehicle_gateway import VehicleGatewayPipeline, VehicleGatewaySettings
from edge.recording.reader import CanItem, EnvelopeItem, LineItem, LogItem, read_logs
from edge.uplink.outbox import SqliteOutbox
from edge.uplink.publisher import UplinkPublisher
from edge.vehicle.state_estimator import VehicleStateEstimator
from firmware_py.box import build_box
from firmware_py.box.parts import PB_ROLE, fix_assembler, gnss_clock_check, needed_messages
from firmware_py.cli.record import CanSource, SerialSource
from firmware_py.cli.replay import ReplayReport, open_targets, replay, retime_nmea
from firmware_py.config.loader import EXAMPLES_DIR, load_box_config
from firmware_py.config.model import BoxConfig
from hal.can.frames import FrameBatch
from protocols.dbc import VectorDecoder, load_dbc
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.support.mosquitto import Broker, private_mosquitto
from tests.support.waiting import eventually

pytestmark = [pytest.mark.mosquitto, pytest.mark.e2e]

FIELD_RUN_S = 6.0
STATE_FIELDS_EXACT = ("turn_signal", "gear", "length_m", "width_m", "brake_applied")


def box_config(directory: Path, name: str, broker: Broker, *, simulated: bool) -> BoxConfig:
    """The shipped vehicle gateway with a recorder; without simulation it reads the replay's
    CAN channel and pseudo-terminal. Both boxes label their clock alike."""
    text = (EXAMPLES_DIR / "vehicle-toyota.toml").read_text()
    text = text.replace("port = 1883", f"port = {broker.port}")
    text = text.replace('channel = "veh-001-powertrain"', f'channel = "{directory.name}-{name}"')
    if not simulated:
        text = text.replace('[simulation]\nenabled = true\nactor = "veh-001"\n', "")
        text = text.replace('port = "simulated"', f'port = "{directory / "gnss-link"}"')
    text += (
        f'\n[outbox]\npath = "{directory / name / "outbox.sqlite3"}"\n'
        f'[metrics]\nenabled = false\n[clock]\nsource = "system"\n'
        f'[recorder]\nenabled = true\ndirectory = "{directory / name / "flight"}"\n'
    )
    path = directory / f"{name}.toml"
    path.write_text(text)
    config = load_box_config(path)
    assert config.simulation.enabled is simulated
    return config


async def run_box(config: BoxConfig, seconds: float, started: threading.Event | None) -> None:
    """Run the box ``seconds`` once connected (setting ``started`` then), until all is sent."""
    with ExitStack() as stack:
        box = build_box(config, stack)
        task = asyncio.create_task(box.run(), name="box-under-test")
        try:
            await eventually(lambda: box.uplink.connected.is_set(), within_s=30)
            if started is not None:
                started.set()
            await asyncio.sleep(seconds)
            await eventually(lambda: box.uplink.queued == 0, within_s=30)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def log_items(directory: Path) -> list[LogItem]:
    return list(read_logs(sorted(directory.glob("*.mcap"))))


def envelopes(items: list[LogItem], stream: str) -> list[pb.Envelope]:
    return [
        pb.Envelope.FromString(item.payload)
        for item in items
        if isinstance(item, EnvelopeItem) and item.channel.source.endswith(f"/{stream}")
    ]


@dataclass
class Runs:
    field_config: BoxConfig
    field: list[LogItem]
    bench: list[LogItem]
    replayed: ReplayReport


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """The field run, then its replay into the bench box, against one private broker."""
    directory = tmp_path_factory.mktemp("determinism")
    with private_mosquitto(directory) as broker:
        field_config = box_config(directory, "field", broker, simulated=True)
        asyncio.run(run_box(field_config, FIELD_RUN_S, None))
        field_logs = sorted((directory / "field" / "flight").glob("*.mcap"))
        bench_config = box_config(directory, "bench", broker, simulated=False)
        channel = bench_config.can[0].channel
        with ExitStack() as stack:
            # The pseudo-terminal exists before the bench box opens it as its GNSS port.
            targets = open_targets(
                stack,
                [CanSource("powertrain", "virtual", channel)],
                [SerialSource("gnss", str(directory / "gnss-link"), 115200)],
                None,
                None,
            )
            started = threading.Event()
            reports: list[ReplayReport] = []

            def play() -> None:
                started.wait(60)
                reports.append(replay(field_logs, targets, speed=1.0))

            player = threading.Thread(target=play, name="replayer")
            player.start()
            asyncio.run(run_box(bench_config, FIELD_RUN_S + 1.0, started))
            player.join(timeout=30)
    return Runs(
        field_config,
        log_items(directory / "field" / "flight"),
        log_items(directory / "bench" / "flight"),
        reports[0],
    )


class LogClock:
    """The pipeline's clock during a re-run: the time of the input being processed, in whole
    ns (a float of Unix seconds cannot hold every ns the box's clock gave)."""

    def __init__(self) -> None:
        self.now = 0

    def now_ns(self) -> int:
        return self.now

    def monotonic_s(self) -> float:
        return self.now / 1e9


@dataclass
class Rerun:
    pipeline: VehicleGatewayPipeline
    estimator: VehicleStateEstimator
    outbox: SqliteOutbox
    clock: LogClock

    @classmethod
    def of(cls, config: BoxConfig) -> Rerun:
        """The vehicle gateway's pipeline as the builder wires it, on a log clock, publishing
        into an outbox in memory (nothing is sent)."""
        assert config.vehicle is not None
        bus = config.can[0]
        database = load_dbc(bus.dbc, encoding=bus.dbc_encoding).database
        device = config.device
        identity = DeviceIdentity(device.device_id, device.region, PB_ROLE[device.role])
        outbox = SqliteOutbox(":memory:")
        estimator = VehicleStateEstimator(config.vehicle.signals, config.vehicle.dimensions)
        clock = LogClock()
        pipeline = VehicleGatewayPipeline(
            can_ports=[],
            decoder=VectorDecoder(database, needed_messages(config)),
            estimator=estimator,
            gnss=None,
            fixes=fix_assembler(config),
            uplink=UplinkPublisher(identity, config.uplink, outbox),
            settings=VehicleGatewaySettings(),
            apps=[EmergencyBrakeDetector(device.device_id, config.vehicle.hard_braking_mps2)],
            clock=clock,
            clock_check=gnss_clock_check(config),
        )
        return cls(pipeline, estimator, outbox, clock)

    def feed(self, item: LogItem) -> None:
        """One recorded input, as the box's reader handed it over, at its recorded time."""
        if isinstance(item, CanItem):
            newest = round(float(item.frames["timestamp"].max()) * 1e9)
            self.clock.now = max(self.clock.now, newest)
            self.pipeline.on_can_batch(item.frames)
        elif isinstance(item, LineItem):
            self.clock.now = round(item.timestamp * 1e9)
            self.pipeline.on_gnss_line(item.line)

    def published(self, stream: str) -> list[pb.Envelope]:
        bodies = [pb.Envelope.FromString(entry.body) for entry in self.outbox.peek(1_000_000)]
        return [e for e in bodies if e.WhichOneof("body") == _BODY[stream]]


_BODY = {"state": "vehicle_state", "events": "event"}


@dataclass
class Ticks:
    """Where a box's state timer fired among its inputs: ``at`` maps an input's position in
    the log to the capture times of the states published right after it; ``ambiguous`` holds
    the capture times of states whose timer may have fired at more than one place."""

    at: dict[int, list[int]]
    ambiguous: set[int]


def ticks_of(config: BoxConfig, items: list[LogItem]) -> Ticks:
    """Where a box's state timer fired among its inputs (``Ticks``).

    The log holds the inputs in the order the box processed them, but a state is recorded
    when it was sent, shortly after its timer fired; so a pass over the inputs finds, for each
    recorded state, the last input after which the filter's time was that state's capture
    time: its timer fired there (a later input would have moved the filter's time on). A state
    captured at no input's time was stamped with its timer's clock time, the filter being ahead
    of it (a GNSS epoch rounded up to 1/100 s): its timer fired after the input that put the
    filter's time past it and no later than the last input that arrived before then. The log
    cannot tell whether an input that left the filter's time as it was (a frame of no motion
    signal, a GNSS fix of an earlier epoch), or one that arrived before the timer but was read
    after it (a CAN batch the reader's thread handed over late), came before the timer or
    after: such a state is taken after the last of them, and called ambiguous.
    """
    first = Rerun.of(config)
    time_after: list[int | None] = []
    arrived: list[int] = []
    for item in items:
        first.feed(item)
        at = first.estimator.capture_time_s
        time_after.append(None if at is None else round(at * 1e9))
        arrived.append(first.clock.now_ns())
    ticks = Ticks({}, set())
    for position, item in enumerate(items):
        if isinstance(item, EnvelopeItem) and item.channel.source.endswith("/state"):
            captured = pb.Envelope.FromString(item.payload).capture_time_ns
            exact = [k for k in range(position) if time_after[k] == captured]
            if exact:
                fired = exact[-1]
                inputs = [k for k in range(exact[0], position) if not _is_output(items[k])]
                if inputs[-1] != exact[0]:
                    ticks.ambiguous.add(captured)
            else:
                fired = max(k for k in range(position) if arrived[k] <= captured)
                ahead = fired
                while ahead > 0 and _after(time_after[ahead - 1], captured):
                    ahead -= 1
                if any(not _is_output(items[k]) for k in range(ahead + 1, fired + 1)):
                    ticks.ambiguous.add(captured)
            ticks.at.setdefault(fired, []).append(captured)
    return ticks


def _after(time_ns: int | None, captured: int) -> bool:
    """Whether a filter at ``time_ns`` was ahead of a timer that stamped ``captured``."""
    return time_ns is not None and time_ns > captured


def _is_output(item: LogItem) -> bool:
    return isinstance(item, EnvelopeItem)


def rerun(
    config: BoxConfig,
    items: list[LogItem],
    ticks: Ticks | None = None,
    clock_shift_ns: int = 0,
) -> Rerun:
    """Feed a box's logged inputs to a fresh pipeline, publishing a state at each of
    ``ticks`` (by default the box's own, ``ticks_of``). When it publishes, the re-run's clock
    says the capture time (minus ``clock_shift_ns``): the box's clock said that or later (a
    capture is the earlier of the filter's time and the clock's)."""
    fired = ticks_of(config, items) if ticks is None else ticks
    second = Rerun.of(config)
    for position, item in enumerate(items):
        second.feed(item)
        for clock_ns in fired.at.get(position, []):
            was = second.clock.now
            second.clock.now = clock_ns - clock_shift_ns
            second.pipeline.publish_state()
            second.clock.now = was
    return second


def with_times_of(items: list[LogItem], times_from: list[LogItem]) -> list[LogItem]:
    """``items`` (a replayed box's log) with each frame's time and each line as
    ``times_from`` (the recorded log) has them: the same inputs, batched and interleaved as
    the replayed box read them, at their original times."""
    frame_times = iter(
        [t for i in times_from if isinstance(i, CanItem) for t in i.frames["timestamp"]]
    )
    lines = iter([i for i in times_from if isinstance(i, LineItem)])
    out: list[LogItem] = []
    for item in items:
        if isinstance(item, CanItem):
            frames = item.frames.copy()
            frames["timestamp"] = [next(frame_times) for _ in range(len(frames))]
            out.append(CanItem(item.channel, float(frames["timestamp"][0]), frames))
        elif isinstance(item, LineItem):
            out.append(next(lines))
        else:
            out.append(item)
    return out


def content(envelope: pb.Envelope) -> tuple[int, bytes]:
    """An envelope's capture time and body: what does not depend on the run (boot id,
    sequence, publish time, clock label)."""
    body = getattr(envelope, envelope.WhichOneof("body") or "")
    return envelope.capture_time_ns, body.SerializeToString(deterministic=True)


def test_the_recorded_inputs_give_the_recorded_states_and_events_exactly(runs: Runs) -> None:
    field_states = envelopes(runs.field, "state")
    assert len(field_states) >= FIELD_RUN_S * 8  # 10 Hz
    ticks = ticks_of(runs.field_config, runs.field)
    again = rerun(runs.field_config, runs.field, ticks)
    republished = again.published("state")
    assert [e.capture_time_ns for e in republished] == [e.capture_time_ns for e in field_states]
    differ = [
        e.capture_time_ns
        for e, f in zip(republished, field_states, strict=True)
        if content(e) != content(f)
    ]
    print(
        f"{len(field_states)} states: {len(field_states) - len(differ)} byte for byte, "
        f"{len(ticks.ambiguous)} whose timer's place the log leaves open, "
        f"{len(differ)} differ (each one of those)"
    )
    assert set(differ) <= ticks.ambiguous
    assert len(differ) <= len(field_states) // 10
    field_events = [content(e) for e in envelopes(runs.field, "events")]
    assert [content(e) for e in again.published("events")] == field_events


def test_a_replay_into_a_second_box_feeds_it_the_same_inputs(runs: Runs) -> None:
    report = runs.replayed
    assert not report.failed
    assert not report.skipped
    shift = report.shift_s
    field_can = [item for item in runs.field if isinstance(item, CanItem)]
    bench_can = [item for item in runs.bench if isinstance(item, CanItem)]

    def frames(items: list[CanItem]) -> list[tuple[int, bytes, int]]:
        return [
            (int(f["arbitration_id"]), f["data"][: int(f["dlc"])].tobytes(), int(f["flags"]))
            for item in items
            for f in item.frames
        ]

    assert frames(bench_can) == frames(field_can)
    late = [
        float(b) - float(f) - shift
        for b, f in zip(
            (t for item in bench_can for t in item.frames["timestamp"]),
            (t for item in field_can for t in item.frames["timestamp"]),
            strict=True,
        )
    ]
    print(
        f"CAN receive time minus recorded time minus the shift ({shift:.2f} s): median "
        f"{statistics.median(late) * 1e3:.2f} ms, range {min(late) * 1e3:.2f}.."
        f"{max(late) * 1e3:.2f} ms over {len(late)} frames"
    )
    # Never early; late by what the replaying thread waits for the interpreter, which it
    # shares with the receiving box here (a median of 0.34 ms on a quiet machine, 15.8 ms
    # once in CI): a replay that ignored the times, or played at another speed, is off by
    # seconds.
    assert -0.001 < statistics.median(late) < 0.05
    assert max(late) - min(late) < 0.1
    field_lines = [item.line for item in runs.field if isinstance(item, LineItem)]
    bench_lines = [item.line for item in runs.bench if isinstance(item, LineItem)]
    assert bench_lines == [retime_nmea(line, shift) for line in field_lines]
    # Its GNSS time agrees with its clock: no CLOCK_FAULT (as with the NMEA times as recorded).
    bench_events = envelopes(runs.bench, "events")
    assert pb.EVENT_TYPE_CLOCK_FAULT not in {e.event.type for e in bench_events}


def test_the_second_box_is_deterministic_and_differs_from_the_first_by_its_jitter_only(
    runs: Runs,
) -> None:
    config = runs.field_config
    bench_states = envelopes(runs.bench, "state")
    bench_ticks = ticks_of(config, runs.bench)
    again = rerun(config, runs.bench, bench_ticks)
    for republished, published in zip(again.published("state"), bench_states, strict=True):
        if published.capture_time_ns not in bench_ticks.ambiguous:
            assert content(republished) == content(published)
    # The bench's states sampled its inputs where its timer fired, not where the field's did.
    # The field's inputs at their recorded times, batched and sampled as the bench read them:
    # what the field box would have published had its timer fired there. The two differ only
    # by the receive jitter of each CAN frame (and the replay's shift, in time fields).
    shift_ns = round(runs.replayed.shift_s * 1e9)
    field_timed = rerun(config, with_times_of(runs.bench, runs.field), bench_ticks, shift_ns)
    expected = field_timed.published("state")
    assert len(expected) == len(bench_states)
    worst: dict[str, float] = {}
    flipped = 0  # a position withheld in one (stale fix, accuracy over the bound), not the other
    for field_envelope, bench_envelope in zip(expected, bench_states, strict=True):
        field, bench = field_envelope.vehicle_state, bench_envelope.vehicle_state
        for name in STATE_FIELDS_EXACT:
            assert getattr(field, name) == getattr(bench, name), name
        if field.HasField("position") != bench.HasField("position"):
            flipped += 1
            continue
        assert field.position.fix_quality == bench.position.fix_quality
        assert field.position.satellites == bench.position.satellites
        late_ms = (bench_envelope.capture_time_ns - shift_ns - field_envelope.capture_time_ns) / 1e6
        for name, a, b in (
            ("capture_ms", 0.0, late_ms),
            ("speed_mps", field.speed_mps, bench.speed_mps),
            ("heading_rad", field.heading_rad, bench.heading_rad),
            ("yaw_rate_rad_s", field.yaw_rate_rad_s, bench.yaw_rate_rad_s),
            ("accel_mps2", field.longitudinal_accel_mps2, bench.longitudinal_accel_mps2),
            (
                "north_m",
                field.position.latitude_deg * 111_195,
                bench.position.latitude_deg * 111_195,
            ),
            (
                "east_m",
                field.position.longitude_deg * 92_000,
                bench.position.longitude_deg * 92_000,
            ),
        ):
            worst[name] = max(worst.get(name, 0.0), abs(a - b))
    print(
        f"{len(bench_states)} bench states against the field's inputs sampled alike; "
        f"{flipped} with a position in one only; largest differences:",
        {name: f"{value:.3g}" for name, value in worst.items()},
    )
    # The position is withheld by thresholds on times and accuracy: a few ms may cross one.
    assert flipped <= len(bench_states) // 20
    assert worst["speed_mps"] < 0.05
    assert worst["north_m"] < 0.5
    assert worst["east_m"] < 0.5


def test_a_roadside_units_fused_lists_come_again_from_its_recorded_radar_frames(
    tmp_path: Path, mosquitto: Broker
) -> None:
    """Object lists are published per radar cycle, at its capture time: no timer samples them,
    so the recorded frames alone give every fused list again, byte for byte, however the CAN
    reader batched them (two radars share a bus: lists completed in one read are fused in the
    order they completed, not radar by radar)."""

    def roadside(name: str, simulated: bool) -> BoxConfig:
        text = (EXAMPLES_DIR / "roadside.toml").read_text()
        text = text.replace("port = 1883", f"port = {mosquitto.port}")
        text = text.replace('channel = "rsu-001-radar"', f'channel = "{tmp_path.name}-{name}"')
        text = text.replace(
            'intersection = "intersection-101.toml"',
            f'intersection = "{EXAMPLES_DIR / "intersection-101.toml"}"',
        )
        if not simulated:
            text = text.replace("[simulation]\nenabled = true\n", "")
            text = text.replace('port = "simulated"', 'port = "loop://"')  # pyserial's loopback
        # A second radar on the same bus, looking north from across the intersection.
        text = text.replace(
            "[perception]\n",
            '[[radar]]\nsensor = "radar1"\nbus = "radar"\nkind = "ars408"\nsensor_id = 1\n'
            "latitude_deg = 34.2233\nlongitude_deg = 108.8904\naltitude_m = 415.0\n"
            "heading_deg = 0.0\nheight_m = 5.0\n\n[perception]\n",
            1,
        )
        text += (
            f'\n[outbox]\npath = "{tmp_path / name / "outbox.sqlite3"}"\n'
            f'[metrics]\nenabled = false\n[clock]\nsource = "system"\n'
            f'[recorder]\nenabled = true\ndirectory = "{tmp_path / name / "flight"}"\n'
        )
        path = tmp_path / f"{name}.toml"
        path.write_text(text)
        return load_box_config(path)

    asyncio.run(run_box(roadside("field", True), 6.0, None))
    items = log_items(tmp_path / "field" / "flight")
    recorded = envelopes(items, "objects")
    assert len(recorded) >= 50
    reads = [(i.channel.source, i.frames) for i in items if isinstance(i, CanItem)]
    assert max(len(frames) for _, frames in reads) > 1  # else batching would not be tried
    for name, batching in (
        ("as-read", reads),
        (
            "frame-by-frame",
            [(bus, frames[i : i + 1]) for bus, frames in reads for i in range(len(frames))],
        ),
        ("reads-merged", merged_reads(reads, 5)),
    ):
        with ExitStack() as stack:
            box = build_box(roadside(name, False), stack)  # not run: fed the frames directly
            pipeline = box.pipeline
            assert isinstance(pipeline, RoadsideUnitPipeline)
            for bus, frames in batching:
                pipeline.on_can_batch(bus, frames)
            queued = [pb.Envelope.FromString(e.body) for e in box.uplink.outbox.peek(1_000_000)]
        again = [e for e in queued if e.WhichOneof("body") == "object_list"]
        assert [content(e) for e in again] == [content(e) for e in recorded], name


def merged_reads(reads: list[tuple[str, FrameBatch]], most: int) -> list[tuple[str, FrameBatch]]:
    """Up to ``most`` consecutive reads of one bus as one (a reader that fell behind)."""
    out: list[tuple[str, list[FrameBatch]]] = []
    for bus, frames in reads:
        if out and out[-1][0] == bus and len(out[-1][1]) < most:
            out[-1][1].append(frames)
        else:
            out.append((bus, [frames]))
    return [(bus, np.concatenate(parts)) for bus, parts in out]
