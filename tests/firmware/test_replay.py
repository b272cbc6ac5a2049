"""``roadgate replay`` onto real interfaces: python-can's virtual bus, pseudo-terminals and UDP on
127.0.0.1; what arrives is compared with what was recorded (content, order, timing)."""

from __future__ import annotations

import argparse
import math
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.recording.log_format import Kind
from edge.recording.writer import FlightRecorder, RecorderLimits
from firmware_py.cli import main
from firmware_py.cli.record import CanSource, SerialSource
from firmware_py.cli.replay import (
    MAX_SPEED,
    ReplayReport,
    Target,
    UdpTarget,
    open_targets,
    replay,
    retime_nmea,
    speed,
    udp_target,
)
from hal.can.frames import FLAG_ERROR, FLAG_EXTENDED, FLAG_REMOTE, make_batch
from hal.can.registry import create_can_port
from hal.net.udp_port import UdpDatagramPort
from hal.serial.pyserial_port import PySerialLinePort
from protocols.nmea import (
    FixQuality,
    GgaSentence,
    RmcSentence,
    format_gga,
    format_rmc,
    format_zda,
    parse_sentence,
)

T0 = 1_780_000_000.0
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Arrivals:
    """What the receiving side got: (arrival Unix time, content), per channel."""

    can: list[tuple[float, tuple[int, bytes, bool]]] = field(default_factory=list)
    lines: list[tuple[float, bytes]] = field(default_factory=list)
    v2x: list[tuple[float, bytes]] = field(default_factory=list)
    spat: list[tuple[float, bytes]] = field(default_factory=list)


@dataclass
class Recorded:
    can: list[tuple[float, tuple[int, bytes, bool]]]
    lines: list[tuple[float, bytes]]
    v2x: list[tuple[float, bytes]]
    spat: list[tuple[float, bytes]]


def write_log(
    directory: Path, *, can_frames: int = 100, step_s: float = 0.01, batch: int = 1
) -> Recorded:
    """A log of every kind of channel, over about ``can_frames * step_s`` seconds; CAN frames
    in reads of ``batch`` frames."""
    recorder = FlightRecorder(directory, RecorderLimits(), prefix="field")
    can: list[tuple[float, tuple[int, bytes, bool]]] = []
    rows: list[tuple[float, int, bytes, int]] = []
    for i in range(can_frames):
        at = T0 + i * step_s
        if i % 25 == 7:  # an extended frame now and then
            frame = (0x18FEF100 + i, bytes([i % 256] * 8), True)
        else:
            frame = (0x100 + i % 3, i.to_bytes(4, "big"), False)
        can.append((at, frame))
        rows.append((at, frame[0], frame[1], FLAG_EXTENDED if frame[2] else 0))
        if len(rows) == batch:
            recorder.can_frames("vehicle", make_batch(rows))
            rows = []
    if rows:
        recorder.can_frames("vehicle", make_batch(rows))
    span = can_frames * step_s
    lines = [(T0 + k * span / 6, f"$GNGGA,{k:06d}.00,LINE*00".encode()) for k in range(6)]
    for at, line in lines:
        recorder.serial_lines("gnss", [line], at)
    v2x = [(T0 + 0.05 + k * span / 4, b"BSM" + bytes([k])) for k in range(4)]
    recorder.datagrams(Kind.V2X_RX, "v2x-radio", [(d, at) for at, d in v2x])
    spat = [(T0 + 0.02 + k * span / 5, b"SPAT" + bytes([k])) for k in range(5)]
    recorder.datagrams(Kind.SPAT, "signal-controller", [(d, at) for at, d in spat])
    # What the box itself sent: never played back.
    recorder.datagrams(Kind.V2X_TX, "v2x-radio", [(b"OWN", T0 + 0.3)])
    recorder.envelope("rg/v1/r/dev/state", b"\x0a\x00", T0 + 0.4)
    recorder.close()
    return Recorded(can, lines, v2x, spat)


@pytest.fixture
def channel() -> str:
    return f"rg-replay-{uuid.uuid4().hex}"


class Receivers:
    """The box's side: a CAN port, the serial port at the replay's link, two UDP ports, each
    read on a thread into ``arrivals``."""

    def __init__(self, stack: ExitStack, channel: str, serial_path: Path) -> None:
        self.arrivals = Arrivals()
        self.v2x_port, self.spat_port = free_udp_port(), free_udp_port()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        can_port = stack.enter_context(create_can_port("vehicle", "virtual", channel))
        serial = stack.enter_context(PySerialLinePort("gnss", str(serial_path)))
        v2x = stack.enter_context(UdpDatagramPort("v2x", "127.0.0.1", self.v2x_port))
        spat = stack.enter_context(UdpDatagramPort("spat", "127.0.0.1", self.spat_port))
        stack.callback(self.stop)

        def read_can() -> None:
            batch = can_port.receive(4096, 0.01)
            for frame in batch:
                length = int(frame["dlc"])
                content = (
                    int(frame["arbitration_id"]),
                    bytes(frame["data"][:length]),
                    bool(int(frame["flags"]) & FLAG_EXTENDED),
                )
                self.arrivals.can.append((float(frame["timestamp"]), content))

        def read_serial() -> None:
            for line in serial.read_lines(0.005):
                self.arrivals.lines.append((time.time(), line))

        def reader(port: UdpDatagramPort, into: list[tuple[float, bytes]]) -> Callable[[], None]:
            return lambda: into.extend((at, data) for data, at in port.receive(0.01))

        for loop in (
            read_can,
            read_serial,
            reader(v2x, self.arrivals.v2x),
            reader(spat, self.arrivals.spat),
        ):
            thread = threading.Thread(target=self._forever(loop), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _forever(self, loop: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            while not self._stop.is_set():
                loop()

        return run

    def wait_for(self, counts: tuple[int, int, int, int], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.counts() < counts and time.monotonic() < deadline:
            time.sleep(0.02)

    def counts(self) -> tuple[int, int, int, int]:
        a = self.arrivals
        return (len(a.can), len(a.lines), len(a.v2x), len(a.spat))

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)


@contextmanager
def replaying_onto_receivers(
    tmp_path: Path, channel: str
) -> Iterator[tuple[dict[str, Target], Receivers]]:
    """The replay's targets (virtual bus ``channel``, a pty linked in ``tmp_path``, UDP) and
    the receivers reading them."""
    link = tmp_path / "gnss-tty"
    with ExitStack() as stack:
        # The pty exists once the targets are open: the receivers open it after them.
        targets = open_targets(
            stack,
            [CanSource("vehicle", "virtual", channel)],
            [SerialSource("gnss", str(link), 9600)],
            None,
            None,
        )
        receivers = Receivers(stack, channel, link)
        targets.update(
            open_targets(
                stack,
                [],
                [],
                UdpTarget("127.0.0.1", receivers.v2x_port),
                UdpTarget("127.0.0.1", receivers.spat_port),
            )
        )
        yield targets, receivers


def lateness(
    arrived: list[tuple[float, object]], recorded: list[tuple[float, object]]
) -> tuple[float, float]:
    """How far arrivals strayed from the recorded spacing: each arrival's offset (arrival
    minus recorded time) against the median offset; (95th percentile, largest), seconds."""
    offsets = [a - r for (a, _), (r, _) in zip(arrived, recorded, strict=True)]
    median = statistics.median(offsets)
    errors = sorted(abs(offset - median) for offset in offsets)
    return errors[int(0.95 * (len(errors) - 1))], errors[-1]


def test_replay_at_speed_1_keeps_content_order_and_timing(tmp_path: Path, channel: str) -> None:
    recorded = write_log(tmp_path / "log", can_frames=150, step_s=0.01)
    with replaying_onto_receivers(tmp_path, channel) as (targets, receivers):
        time.sleep(0.2)  # the serial reader has opened its terminal
        report = replay([*sorted((tmp_path / "log").glob("*.mcap"))], targets, speed=1.0)
        receivers.wait_for((150, 6, 4, 5))
        arrivals = receivers.arrivals
    assert [c for _, c in arrivals.can] == [c for _, c in recorded.can]
    assert [line for _, line in arrivals.lines] == [line for _, line in recorded.lines]
    assert [d for _, d in arrivals.v2x] == [d for _, d in recorded.v2x]
    assert [d for _, d in arrivals.spat] == [d for _, d in recorded.spat]
    assert report.sent == {
        "can/vehicle": 150,
        "serial/gnss": 6,
        "v2x/rx/v2x-radio": 4,
        "spat/signal-controller": 5,
    }
    assert not report.failed
    assert not report.skipped
    assert report.own_output == {"v2x/tx/v2x-radio": 1, "envelope/rg/v1/r/dev/state": 1}
    # Original timing: every channel's items keep their spacing, and the channels keep
    # theirs to each other (one offset for all), within the scheduler's jitter.
    everything_arrived = arrivals.can + arrivals.lines + arrivals.v2x + arrivals.spat
    everything_recorded = recorded.can + recorded.lines + recorded.v2x + recorded.spat
    typical, worst = lateness(everything_arrived, everything_recorded)  # type: ignore[arg-type]
    print(f"--speed 1: 95 % within {typical * 1e3:.1f} ms, worst {worst * 1e3:.1f} ms")
    assert typical < 0.01
    assert worst < 0.1  # a scheduler hiccup on a busy machine, caught up at once
    assert 1.4 < report.wall_s < 1.7
    assert report.log_span_s == pytest.approx(1.49, abs=0.01)


def test_replay_at_speed_max_runs_far_faster_than_real_time(tmp_path: Path, channel: str) -> None:
    # 20 s of one bus at 1,000 frames/s.
    recorded = write_log(tmp_path / "log", can_frames=20_000, step_s=0.001, batch=50)
    with replaying_onto_receivers(tmp_path, channel) as (targets, receivers):
        time.sleep(0.2)
        report = replay(sorted((tmp_path / "log").glob("*.mcap")), targets, speed=MAX_SPEED)
        receivers.wait_for((20_000, 6, 4, 5), timeout=30)
        arrivals = receivers.arrivals
    assert [c for _, c in arrivals.can] == [c for _, c in recorded.can]
    assert [line for _, line in arrivals.lines] == [line for _, line in recorded.lines]
    assert [d for _, d in arrivals.spat] == [d for _, d in recorded.spat]
    assert report.log_span_s == pytest.approx(20.0, abs=0.01)
    print(f"--speed max: {report.log_span_s / report.wall_s:.1f}x real time")
    assert report.log_span_s / report.wall_s >= 10


def test_replay_at_speed_4_is_four_times_faster(tmp_path: Path, channel: str) -> None:
    recorded = write_log(tmp_path / "log", can_frames=200, step_s=0.01)
    with replaying_onto_receivers(tmp_path, channel) as (targets, receivers):
        time.sleep(0.2)
        report = replay(sorted((tmp_path / "log").glob("*.mcap")), targets, speed=4.0)
        receivers.wait_for((200, 6, 4, 5))
        arrivals = receivers.arrivals
    assert 0.45 < report.wall_s < 0.65
    scaled = [(T0 + (at - T0) / 4, c) for at, c in recorded.can]
    typical, worst = lateness(arrivals.can, scaled)  # type: ignore[arg-type]
    assert typical < 0.01
    assert worst < 0.1


def test_frames_that_cannot_be_sent_are_counted_and_the_rest_played(
    tmp_path: Path, channel: str
) -> None:
    recorder = FlightRecorder(tmp_path / "log", prefix="field")
    recorder.can_frames(
        "vehicle",
        make_batch(
            [
                (T0, 0x10, b"\x01"),
                (T0 + 0.01, 0x20000004, b"\x00" * 8, FLAG_ERROR),  # error frames: not sendable
                (T0 + 0.02, 0x11, b"\x00\x00\x00", FLAG_REMOTE),
                (T0 + 0.03, 0x12, b"\x02"),
            ]
        ),
    )
    recorder.can_frames("other-bus", make_batch([(T0, 0x99, b"")]))
    recorder.close()
    with ExitStack() as stack:
        rx = stack.enter_context(create_can_port("rx", "virtual", channel))
        targets = open_targets(stack, [CanSource("vehicle", "virtual", channel)], [], None, None)
        report = replay(sorted((tmp_path / "log").glob("*.mcap")), targets, speed=MAX_SPEED)
        batch = rx.receive(16, 1.0)
    assert [int(i) for i in batch["arbitration_id"]] == [0x10, 0x11, 0x12]
    assert int(batch[1]["flags"]) & FLAG_REMOTE
    assert int(batch[1]["dlc"]) == 3
    assert report.sent == {"can/vehicle": 3}
    assert report.failed == {"can/vehicle": 1}
    assert report.skipped == {"can/other-bus": 1}


def test_a_truncated_log_is_played_up_to_the_damage(tmp_path: Path, channel: str) -> None:
    write_log(tmp_path / "log", can_frames=3000, step_s=0.001)
    (path,) = (tmp_path / "log").glob("*.mcap")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with ExitStack() as stack:
        stack.enter_context(create_can_port("rx", "virtual", channel))
        targets = open_targets(stack, [CanSource("vehicle", "virtual", channel)], [], None, None)
        report = replay([path], targets, speed=MAX_SPEED)
    (read,) = report.reads
    assert not read.complete
    assert 0 < report.sent["can/vehicle"] <= 3000
    assert any("cut short" in line for line in report.lines())


def test_the_command_line_replays_onto_udp(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded = write_log(tmp_path / "log", can_frames=10, step_s=0.01)
    port = free_udp_port()
    with UdpDatagramPort("spat", "127.0.0.1", port) as spat:
        status = main(
            ["replay", str(tmp_path / "log"), "--spat", f"127.0.0.1:{port}", "--speed", "max"]
        )
        got = [data for data, _ in spat.receive(1.0)]
    assert status == 0
    assert got == [d for _, d in recorded.spat]
    out = capsys.readouterr().out
    assert "spat/signal-controller: 5 sent" in out
    assert "can/vehicle: 10 skipped (no target)" in out
    assert main(["replay", str(tmp_path / "log")]) == 2
    assert "nothing to replay onto" in capsys.readouterr().err


def test_serial_link_in_the_way_is_refused(tmp_path: Path) -> None:
    write_log(tmp_path / "log", can_frames=1)
    (tmp_path / "taken").write_text("mine")
    status = main(["replay", str(tmp_path / "log"), "--serial", f"gnss={tmp_path / 'taken'}"])
    assert status == 2
    assert (tmp_path / "taken").read_text() == "mine"


@given(st.text(max_size=20))
def test_speed_and_udp_target_take_good_text_and_refuse_the_rest(text: str) -> None:
    try:
        value = speed(text)
    except argparse.ArgumentTypeError:
        pass
    else:
        assert value == MAX_SPEED or (math.isfinite(value) and value > 0)
    try:
        target = udp_target(text)
    except argparse.ArgumentTypeError:
        pass
    else:
        assert 1 <= target.port <= 65535
        assert target.host


def test_the_report_counts_each_channel() -> None:
    report = ReplayReport()
    report.sent["can/x"] += 2
    report.log_span_s, report.wall_s = 10.0, 0.5
    report.shift_s = 7.25
    assert report.lines()[0] == (
        "replayed 2 items, 10.000 s of log in 0.500 s (20.0x real time), "
        "7.25 s after it was recorded"
    )


def rmc_at(utc: datetime) -> bytes:
    return format_rmc(utc, 34.2, 108.9, speed_mps=10.0, course_deg=90.0, quality=FixQuality.GNSS)


def test_nmea_times_move_with_the_replay_and_sentences_stay_valid() -> None:
    utc = datetime(2026, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC)
    moved = parse_sentence(retime_nmea(rmc_at(utc), 0.75))
    assert isinstance(moved, RmcSentence)
    assert (moved.date, moved.time_of_day) == (date(2027, 1, 1), dt_time(0, 0, 0, 250_000))
    gga = format_gga(utc, 34.2, 108.9, altitude_msl_m=410.0, quality=FixQuality.GNSS)
    moved_gga = parse_sentence(retime_nmea(gga, -60.0))
    assert isinstance(moved_gga, GgaSentence)
    assert moved_gga.time_of_day == dt_time(23, 58, 59, 500_000)
    zda = retime_nmea(format_zda(utc), 1.0)
    assert zda.startswith(b"$GNZDA,000000.50,01,01,2027,")
    for untouched in (
        b"$GPGSV,3,1,11,03,03,111,00*74",  # no time
        b"$GNRMC,235959.50,A,3412.0000,N,10854.0000,E,19.4,90.0,311226,,,A*00",  # bad checksum
        b"\xff\xfe",
        b"",
        b"$GNGGA,2359*4A",
    ):
        assert retime_nmea(untouched, 5.0) == untouched


@given(
    # RMC's two-digit year is read as 1980-2079.
    st.datetimes(min_value=datetime(1981, 1, 1), max_value=datetime(2078, 12, 31)),
    st.integers(min_value=-10 * 86_400 * 100, max_value=10 * 86_400 * 100),
)
def test_a_moved_rmc_says_its_time_plus_the_shift(when: datetime, centiseconds: int) -> None:
    utc = when.replace(microsecond=when.microsecond // 10_000 * 10_000, tzinfo=UTC)
    shift_s = centiseconds / 100
    moved = parse_sentence(retime_nmea(rmc_at(utc), shift_s))
    assert isinstance(moved, RmcSentence)
    assert moved.date is not None
    expected = utc + timedelta(seconds=shift_s)
    got = datetime.combine(moved.date, moved.time_of_day, tzinfo=UTC)
    assert got == expected
    assert retime_nmea(retime_nmea(rmc_at(utc), shift_s), -shift_s) == rmc_at(utc)


def test_sigterm_stops_the_replay_cleanly(tmp_path: Path) -> None:
    write_log(tmp_path / "log", can_frames=500, step_s=0.01)  # 5 s
    link = tmp_path / "gnss-tty"
    player = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "firmware_py.cli",
            "replay",
            str(tmp_path / "log"),
            "--serial",
            f"gnss={link}",
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not link.is_symlink():
        assert time.monotonic() < deadline, "no link"
        assert player.poll() is None, player.communicate()
        time.sleep(0.05)
    time.sleep(1.0)
    player.send_signal(signal.SIGTERM)
    out, err = player.communicate(timeout=30)
    assert player.returncode == 130, (out, err)
    assert "stopped before the end of the log" in out
    assert "serial/gnss: " in out
    assert "Traceback" not in err
    assert not link.is_symlink()
