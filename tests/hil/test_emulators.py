"""The HIL emulators on this host: python-can's virtual bus for CAN, real ptys for GNSS."""

from __future__ import annotations

import gc
import itertools
import math
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import can
import cantools.database
import pytest

from edge.geo import GeoPoint, east_north_to_sensor
from firmware_py.simulation.world import INTERSECTION, Actor, Phase
from hal.can.frames import make_batch
from hal.serial.pyserial_port import PySerialLinePort
from hil.clock import ScenarioClock
from hil.emulators import (
    Ars408Emulator,
    CanLogReplayer,
    ChannelGate,
    GnssEmulator,
    HilEmulatorError,
    write_vehicle_log,
)
from hil.scenarios.data import generate
from hil.world import GroundTruth
from protocols.dbc import load_dbc
from protocols.nmea import FixQuality, GnssFix, NmeaFixAssembler
from protocols.radar.ars408 import Ars408ObjectListAssembler, RadarObjectList
from tests.conftest import TEST_DATA
from tests.support.waiting import wait_until

PYTHON_CAN = TEST_DATA / "python_can"
TIMING_TOLERANCE_S = 0.03


@pytest.fixture
def channel() -> str:
    """A virtual CAN channel no other test shares."""
    return f"hil-test-{uuid.uuid4().hex}"


@pytest.fixture
def frozen_heap() -> Iterator[None]:
    """Keep the test process's heap out of the garbage collector's full passes.

    A full collection of pytest's heap holds the GIL for up to ~50 ms here, which shows up
    as replay lateness that is not the replayer's.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@pytest.fixture
def toyota_db() -> cantools.database.can.Database:
    return load_dbc(generate.TOYOTA_DBC).database


def collect(bus: can.BusABC, count: int, timeout_s: float) -> list[can.Message]:
    """Up to ``count`` frames from ``bus``, waiting at most ``timeout_s`` in all."""
    frames: list[can.Message] = []
    deadline = time.monotonic() + timeout_s
    while len(frames) < count and time.monotonic() < deadline:
        message = bus.recv(timeout=0.05)
        if message is not None:
            frames.append(message)
    return frames


def finish(replayer: CanLogReplayer, timeout_s: float = 5.0) -> None:
    """Wait for a replay to reach the end of its log, then stop it."""
    wait_until(lambda: not replayer.running, timeout_s, "the replay reached the end of its log")
    replayer.stop()


def sendable(path: Path) -> list[can.Message]:
    """The frames of a log that a replay puts on the bus, read independently."""
    with can.LogReader(path) as reader:
        messages = list(reader)
    t0 = messages[0].timestamp
    out = []
    for m in messages:
        if m.is_error_frame or (m.is_fd and m.is_remote_frame):
            continue
        m.timestamp -= t0
        out.append(m)
    return out


def key(m: can.Message) -> tuple[int, bool, bool, bool, bytes]:
    data = b"" if m.is_remote_frame else bytes(m.data)
    return (m.arbitration_id, m.is_extended_id, m.is_remote_frame, m.is_fd, data)


# --- CAN log replay -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("log", "speed", "start_s"),
    [
        (PYTHON_CAN / "logfile.asc", 20.0, 0.0),
        (PYTHON_CAN / "test_CanFdMessage64.asc", 1.0, 0.3),
        (PYTHON_CAN / "issue_1905.blf", 50.0, 0.0),
        (PYTHON_CAN / "test_CanMessage.trc", 10.0, 0.0),
        *((path, 10.0, 0.0) for path in generate.log_paths()),
    ],
    ids=lambda v: v.name if isinstance(v, Path) else str(v),
)
@pytest.mark.usefixtures("frozen_heap")
def test_replay_arrives_frame_for_frame_with_the_log_timing(
    channel: str, log: Path, speed: float, start_s: float
) -> None:
    expected = sendable(log)
    replayer = CanLogReplayer(
        "replay", log, channel=channel, interface="virtual", speed=speed, start_s=start_s
    )
    assert replayer.frames_in_log >= len(expected)
    span_s = expected[-1].timestamp / speed
    with can.Bus(interface="virtual", channel=channel) as bus:
        clock = ScenarioClock()
        replayer.start(clock)
        received = collect(bus, len(expected), timeout_s=start_s + span_s + 5)
        finish(replayer)
    assert [key(m) for m in received] == [key(m) for m in expected]
    lateness = [
        m.timestamp - clock.t0_unix - (start_s + e.timestamp / speed)
        for m, e in zip(received, expected, strict=True)
    ]
    assert max(lateness) < TIMING_TOLERANCE_S
    assert min(lateness) > -TIMING_TOLERANCE_S
    stats = replayer.stats
    assert stats["sent"] == len(expected)
    assert stats["failed"] == stats["suppressed"] == 0
    assert stats["loops"] == 1
    data_frames = Counter(m.arbitration_id for m in expected if not m.is_remote_frame)
    assert replayer.delivered == data_frames
    with can.LogReader(log) as reader:
        errors = sum(m.is_error_frame for m in reader)
    assert stats["skipped_error_frames"] == errors
    assert stats["skipped_invalid"] == replayer.frames_in_log - len(expected) - errors


def test_frames_no_controller_can_send_are_skipped(channel: str) -> None:
    # python-can's synthetic BLF frames: standard id 0x4444444, DLC 51.
    replayer = CanLogReplayer(
        "synthetic", PYTHON_CAN / "test_CanMessage.blf", channel=channel, interface="virtual"
    )
    with can.Bus(interface="virtual", channel=channel) as bus:
        replayer.start(ScenarioClock())
        received = collect(bus, 1, timeout_s=0.3)
        finish(replayer)
    assert received == []
    assert replayer.stats["skipped_invalid"] == 2
    assert replayer.stats["sent"] == 0


def test_replay_loops_the_log(channel: str) -> None:
    log = PYTHON_CAN / "test_CanFdMessage64.asc"  # 2 frames, 1 s apart
    replayer = CanLogReplayer(
        "loop", log, channel=channel, interface="virtual", speed=5.0, loop=True
    )
    with can.Bus(interface="virtual", channel=channel) as bus:
        replayer.start(ScenarioClock())
        received = collect(bus, 6, timeout_s=3)
        replayer.stop()
    assert len(received) == 6
    # A pass lasts the span plus one mean gap: frames stay 0.2 s apart across passes.
    gaps = [b.timestamp - a.timestamp for a, b in itertools.pairwise(received)]
    assert all(abs(gap - 0.2) < TIMING_TOLERANCE_S for gap in gaps), gaps
    assert replayer.stats["loops"] >= 2


def test_send_failures_are_counted_and_the_replay_goes_on(channel: str) -> None:
    # A receiver whose queue holds 5 frames and is never read: python-can's virtual bus
    # refuses the rest (CanOperationError), as a full or downed interface would.
    with can.Bus(interface="virtual", channel=channel, rx_queue_size=5):
        replayer = CanLogReplayer(
            "fail", PYTHON_CAN / "logfile.asc", channel=channel, interface="virtual", speed=50
        )
        replayer.start(ScenarioClock())
        finish(replayer)  # does not raise: failed sends are not errors
    stats = replayer.stats
    assert (stats["sent"], stats["failed"], stats["loops"]) == (5, 10, 1)
    # The first 5 frames: 3 remote frames (not delivered data) and 2 J1939 data frames.
    assert replayer.delivered == Counter({0x18EBFF00: 2})


def test_gate_suppresses_while_bus_off(channel: str) -> None:
    log = generate.log_paths()[0]
    gate = ChannelGate(bus_off=True)
    replayer = CanLogReplayer(
        "gated", log, channel=channel, interface="virtual", gate=gate, speed=20.0
    )
    with can.Bus(interface="virtual", channel=channel) as bus:
        clock = ScenarioClock()
        replayer.start(clock)
        clock.sleep_until(0.5)
        gate.bus_off = False
        received = collect(bus, replayer.frames_in_log, timeout_s=3)
        replayer.stop()
    stats = replayer.stats
    assert stats["suppressed"] > 0
    assert stats["sent"] == len(received) > 0
    assert stats["sent"] + stats["suppressed"] == replayer.frames_in_log
    assert clock.from_unix_ns(int(received[0].timestamp * 1e9)) >= 0.5
    assert replayer.delivered == Counter(m.arbitration_id for m in received)


def test_a_bad_log_fails_at_construction_naming_the_file(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.blf"
    corrupt.write_bytes(b"LOGG" + bytes(range(200)))
    empty = tmp_path / "empty.log"
    empty.write_text("")
    for path in (corrupt, empty, tmp_path / "missing.asc", tmp_path / "drive.xyz"):
        with pytest.raises(HilEmulatorError, match=path.name):
            CanLogReplayer("bad", path, channel="unused")


def test_stop_is_idempotent_and_safe_before_start() -> None:
    replayer = CanLogReplayer("idle", PYTHON_CAN / "logfile.asc", channel="unused")
    replayer.stop()
    replayer.stop()
    with pytest.raises(HilEmulatorError, match="already started"):
        replayer.start(ScenarioClock())


# --- ARS408 -------------------------------------------------------------------------------


def _actor(name: str, kind: str, east: float, north: float, heading: float, speed: float) -> Actor:
    return Actor(
        name,
        kind,
        start_east_m=east,
        start_north_m=north,
        heading_deg=heading,
        speed_mps=speed,
        phases=(Phase(60.0),),
        length_m=4.5 if kind == "car" else 1.8,
        width_m=1.8 if kind == "car" else 0.6,
        rcs_dbsm=10.0 if kind == "car" else -5.0,
    )


RADAR_TRUTH = GroundTruth(
    origin=INTERSECTION,
    actors={
        # Ahead of the north-looking radar, driving away.
        "car": _actor("car", "car", 1.0, 30.0, 0.0, 10.0),
        # Ahead of the east-looking radar, crossing its beam.
        "bike": _actor("bike", "bicycle", 25.0, -3.0, 0.0, 4.0),
        # Behind both radars: nobody sees it.
        "parked": _actor("parked", "car", -20.0, -20.0, 0.0, 0.0),
    },
)
RADAR_POLE = INTERSECTION.offset(0.0, 0.0)


def _assemble(frames: list[can.Message], sensor_id: int) -> list[RadarObjectList]:
    batch = make_batch([(m.timestamp, m.arbitration_id, bytes(m.data)) for m in frames])
    assembler = Ars408ObjectListAssembler(sensor_id)
    lists = assembler.feed_frames(
        batch["arbitration_id"], batch["data"], batch["dlc"], batch["timestamp"]
    )
    return lists


@pytest.mark.usefixtures("frozen_heap")
def test_two_radars_share_a_bus_and_report_the_ground_truth(channel: str) -> None:
    radars = [
        Ars408Emulator(
            f"radar-{sensor_id}",
            RADAR_TRUTH,
            channel=channel,
            interface="virtual",
            sensor_id=sensor_id,
            position=RADAR_POLE,
            heading_deg=heading,
        )
        for sensor_id, heading in ((0, 0.0), (1, 90.0))
    ]
    with can.Bus(interface="virtual", channel=channel) as bus:
        clock = ScenarioClock()
        for radar in radars:
            radar.start(clock)
        frames = collect(bus, 10_000, timeout_s=1.0)
        for radar in radars:
            radar.stop()
    names = list(RADAR_TRUTH.actors)
    for radar, (seen, heading_deg) in zip(radars, (("car", 0.0), ("bike", 90.0)), strict=True):
        lists = _assemble(frames, radar.sensor_id)
        assert len(lists) >= 8  # ~13 cycles of 72 ms in 1 s
        assert sum(radar.delivered.values()) == radar.stats["sent"]
        assert radar.stats["cycles"] >= len(lists)
        for object_list in lists:
            (obj,) = object_list.objects
            assert names[obj.object_id] == seen
            # The list was computed shortly before its header frame was sent (a GC pause can
            # fall in between): the truth at some instant of the 100 ms before matches within
            # 0.1 m rounding plus 0.2 m DBC resolution.
            sent_s = object_list.timestamp - clock.t0_unix
            error_m = min(
                _radar_error_m(obj.dist_long_m, obj.dist_lat_m, seen, heading_deg, t_s)
                for t_s in (sent_s - 0.005 * k for k in range(21))
            )
            assert error_m < 0.3
            assert obj.obj_class == (1 if seen == "car" else 5)


def _radar_error_m(x: float, y: float, actor: str, heading_deg: float, t_s: float) -> float:
    state = RADAR_TRUTH.state(actor, t_s)
    true_x, true_y = east_north_to_sensor(state.east_m, state.north_m, math.radians(heading_deg))
    return math.hypot(x - true_x, y - true_y)


def test_a_failing_thread_is_reported_by_stop(channel: str) -> None:
    # 200 m/s straight at the radar: outside the ARS408's relative-speed range, so encoding
    # fails in the emulator's thread.
    truth = GroundTruth(INTERSECTION, {"rocket": _actor("rocket", "car", 0.0, 60.0, 180.0, 200.0)})
    radar = Ars408Emulator(
        "radar",
        truth,
        channel=channel,
        interface="virtual",
        sensor_id=0,
        position=RADAR_POLE,
        heading_deg=0.0,
    )
    radar.start(ScenarioClock())
    wait_until(lambda: radar.error is not None, 5.0, "the emulator's thread failed")
    assert isinstance(radar.error, ValueError)
    with pytest.raises(HilEmulatorError, match="radar") as raised:
        radar.stop()
    assert isinstance(raised.value.__cause__, ValueError)
    radar.stop()  # reported once


# --- GNSS ---------------------------------------------------------------------------------


GNSS_TRUTH = GroundTruth(
    origin=INTERSECTION, actors={"car": _actor("car", "car", 1.75, -100.0, 0.0, 12.0)}
)


class NmeaReader:
    """The daemon's serial path: ``PySerialLinePort`` on the link, fixes assembled."""

    def __init__(self, link: Path) -> None:
        self.port = PySerialLinePort("gnss", str(link), reopen_interval=0.1)
        self.assembler = NmeaFixAssembler()
        self.fixes: list[GnssFix] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> NmeaReader:
        self.port.open()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.port.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            for line in self.port.read_lines(0.05):
                fix = self.assembler.feed(line)
                if fix is not None:
                    self.fixes.append(fix)

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 3.0) -> None:
        wait_until(predicate, timeout_s)

    def new_fixes(self, after: int, count: int) -> list[GnssFix]:
        self.wait_for(lambda: len(self.fixes) >= after + count)
        return self.fixes[after : after + count]


@pytest.fixture
def gnss(tmp_path: Path) -> Iterator[GnssEmulator]:
    emulator = GnssEmulator("gnss", GNSS_TRUTH, link=tmp_path / "gnss0", actor="car", rate_hz=10)
    try:
        yield emulator
    finally:
        emulator.stop()
    assert not emulator.link.exists()


def _error_m(fix: GnssFix, truth: GeoPoint) -> float:
    assert fix.latitude_deg is not None
    assert fix.longitude_deg is not None
    east, north = truth.east_north_of(GeoPoint(fix.latitude_deg, fix.longitude_deg, 0.0))
    return math.hypot(east, north)


def test_gnss_fixes_carry_the_ground_truth(gnss: GnssEmulator) -> None:
    gnss.open()
    assert gnss.link.is_symlink()
    assert gnss.device_path.startswith("/dev/pts/")
    clock = ScenarioClock()
    gnss.start(clock)
    clock.sleep_until(0.45)  # ~4 epochs before anyone opened the port
    assert gnss.stats["epochs_unread"] >= 3
    assert gnss.delivered == 0
    with NmeaReader(gnss.link) as reader:
        fixes = reader.new_fixes(0, 8)
    for fix in fixes:
        assert fix.time is not None
        assert fix.quality == FixQuality.RTK_FIXED
        t_s = fix.time.timestamp() - clock.t0_unix
        tenths = fix.time.timestamp() * 10
        assert tenths == pytest.approx(round(tenths), abs=1e-6)  # on the 10 Hz UTC grid
        assert _error_m(fix, GNSS_TRUTH.position("car", t_s)) < 0.01
        assert fix.speed_mps == pytest.approx(12.0, abs=0.01)
        assert fix.course_deg == pytest.approx(0.0, abs=0.01)
    assert reader.assembler.rejects == Counter()
    # The reader closed the port: epochs go unread again.
    delivered = gnss.delivered
    unread = gnss.stats["epochs_unread"]
    wait_until(lambda: gnss.stats["epochs_unread"] >= unread + 2, 5.0, "epochs go unread")
    assert gnss.delivered <= delivered + 1  # one may have been written as it closed
    stats = gnss.stats
    assert stats["epochs_delivered"] >= len(fixes)
    assert stats["epochs"] == sum(
        stats[k] for k in ("epochs_delivered", "epochs_unread", "epochs_unplugged")
    )


def test_gnss_unplug_and_replug_through_the_same_link(gnss: GnssEmulator) -> None:
    gnss.start(ScenarioClock())
    with NmeaReader(gnss.link) as reader:
        reader.new_fixes(0, 3)
        gnss.unplug()
        assert not gnss.link.exists()
        reader.wait_for(lambda: reader.port.counters["disconnects"] == 1)
        assert not reader.port.connected
        wait_until(lambda: gnss.stats["epochs_unplugged"] >= 2, 5.0, "unplugged epochs counted")
        before = len(reader.fixes)
        gnss.replug()
        reader.wait_for(lambda: reader.port.counters["reopens"] == 1)
        assert reader.new_fixes(before, 3)[-1].latitude_deg is not None
    assert (gnss.stats["unplugs"], gnss.stats["replugs"]) == (1, 1)


def test_gnss_outage_and_garbage(gnss: GnssEmulator) -> None:
    gnss.start(ScenarioClock())
    with NmeaReader(gnss.link) as reader:
        reader.new_fixes(0, 2)
        gnss.set_no_fix(True)
        # An epoch already being written may still have a fix: wait for the outage's first.
        reader.wait_for(lambda: reader.fixes[-1].quality == FixQuality.NONE)
        outage = reader.new_fixes(len(reader.fixes), 3)
        assert all(f.quality == FixQuality.NONE and f.latitude_deg is None for f in outage)
        gnss.set_no_fix(False)
        reader.wait_for(lambda: reader.fixes[-1].quality == FixQuality.RTK_FIXED)
        assert reader.new_fixes(len(reader.fixes), 2)[-1].quality == FixQuality.RTK_FIXED
        gnss.garbage_burst(500)
        after = len(reader.fixes)
        fixes = reader.new_fixes(after, 3)
    assert all(f.latitude_deg is not None for f in fixes)
    assert gnss.stats["epochs_no_fix"] >= 3
    assert gnss.stats["garbage_bytes"] == 500
    rejects = reader.assembler.rejects
    assert rejects["checksum"] + rejects["no_checksum"] + rejects["malformed"] > 0
    assert reader.port.counters["garbage_bytes"] > 0  # the binary part, dropped by the framer


def test_gnss_needs_exactly_one_source(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        GnssEmulator("g", GNSS_TRUTH, link=tmp_path / "g")
    with pytest.raises(ValueError, match="quality"):
        GnssEmulator("g", GNSS_TRUTH, link=tmp_path / "g", actor="car", quality="ppp")
    pole = GnssEmulator("g", GNSS_TRUTH, link=tmp_path / "g", position=INTERSECTION)
    with pytest.raises(HilEmulatorError, match="not open"):
        pole.unplug()


# --- vehicle logs -------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".log", ".asc", ".blf"])
def test_vehicle_log_decodes_to_the_actors_motion(
    tmp_path: Path, toyota_db: cantools.database.can.Database, suffix: str
) -> None:
    truth = generate.eebl_drive()
    path = tmp_path / f"drive{suffix}"
    written = write_vehicle_log(truth, "ego", toyota_db, path, duration_s=6.0)
    with can.LogReader(path) as reader:
        frames = list(reader)
    assert len(frames) == written == 300 * 4 + 60 * 2
    t0 = frames[0].timestamp  # ASC reads relative times, the others Unix times
    speed_id = toyota_db.get_message_by_name("SPEED").frame_id
    brake_id = toyota_db.get_message_by_name("BRAKE_MODULE").frame_id
    speeds = [f for f in frames if f.arbitration_id == speed_id]
    assert len(speeds) == 300  # 50 Hz
    braking = set()
    for frame in frames:
        if frame.arbitration_id not in (speed_id, brake_id):
            continue
        decoded = toyota_db.decode_message(frame.arbitration_id, bytes(frame.data))
        assert isinstance(decoded, dict)  # not a container message
        t_s = round((frame.timestamp - t0) / 0.02) * 0.02  # the tick the frame belongs to
        state = truth.state("ego", t_s)
        if frame.arbitration_id == speed_id:
            assert decoded["SPEED"] == pytest.approx(state.speed_mps * 3.6, abs=0.011)
        elif decoded["BRAKE_PRESSED"]:
            braking.add(round(t_s, 2))
    assert min(braking) == 4.0
    assert max(braking) == pytest.approx(5.18)


def test_the_committed_logs_are_the_generators_output(tmp_path: Path) -> None:
    for committed, fresh in zip(generate.log_paths(), generate.generate(tmp_path), strict=True):
        with can.LogReader(committed) as a, can.LogReader(fresh) as b:
            old, new = list(a), list(b)
        assert [key(m) for m in old] == [key(m) for m in new]
        assert [m.timestamp for m in old] == pytest.approx([m.timestamp for m in new], abs=1e-5)
