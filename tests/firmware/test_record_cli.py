"""``roadgate record`` on real interfaces (python-can's virtual bus, a pseudo-terminal, UDP on
127.0.0.1) and ``roadgate record info``."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tty
import uuid
from collections.abc import Callable
from pathlib import Path

import can
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.recording.log_format import Kind
from edge.recording.reader import (
    CanItem,
    DatagramItem,
    LineItem,
    LogReader,
    ReadReport,
    read_logs,
)
from edge.recording.writer import FlightRecorder, RecorderLimits
from firmware_py.cli import main
from firmware_py.cli.record import (
    CanSource,
    SerialSource,
    UdpSource,
    _udp_source,
    can_source,
    serial_source,
)
from hal.can.frames import make_batch

T0 = 1_780_000_000.0


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_record_captures_can_serial_and_udp_into_one_log(tmp_path: Path) -> None:
    channel = f"rg-record-{uuid.uuid4().hex}"
    master, slave = os.openpty()
    tty.setraw(slave)
    port = free_udp_port()
    out = tmp_path / "logs"
    status: list[int] = []
    argv = [
        "record",
        "--can",
        f"vehicle=virtual:{channel}",
        "--serial",
        f"gnss={os.ttyname(slave)}@115200",
        "--spat",
        f"127.0.0.1:{port}",
        "-o",
        str(out),
        "--duration",
        "3",
    ]
    recorder = threading.Thread(target=lambda: status.append(main(argv)))
    recorder.start()
    try:
        wait_for(lambda: any(out.glob("*.mcap")))
        with can.Bus(interface="virtual", channel=channel, ignore_config=True) as bus:
            for i in range(200):
                bus.send(can.Message(arbitration_id=0x100 + i % 16, data=i.to_bytes(4, "big")))
            bus.send(can.Message(arbitration_id=0x1ABCDEF0, is_extended_id=True, data=b"\xff"))
        lines = [f"$GNRMC,{i:06d}.00,A,3420.4,N,10856.4,E,0.0,,281126,,,A*6A" for i in range(5)]
        os.write(master, "".join(line + "\r\n" for line in lines).encode())
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for i in range(3):
                sender.sendto(b"SPAT" + bytes([i]), ("127.0.0.1", port))
    finally:
        recorder.join(timeout=15)
        os.close(master)
        os.close(slave)
    assert status == [0]
    reports: list[ReadReport] = []
    items = list(read_logs(sorted(out.glob("*.mcap")), reports))
    assert all(report.complete for report in reports)
    frames = [item for item in items if isinstance(item, CanItem)]
    ids = [int(i) for item in frames for i in item.frames["arbitration_id"]]
    assert ids == [0x100 + i % 16 for i in range(200)] + [0x1ABCDEF0]
    assert {item.channel.topic for item in frames} == {"can/vehicle"}
    got_lines = [item.line.decode() for item in items if isinstance(item, LineItem)]
    assert got_lines == lines
    datagrams = [item for item in items if isinstance(item, DatagramItem)]
    assert [d.payload for d in datagrams] == [b"SPAT\x00", b"SPAT\x01", b"SPAT\x02"]
    assert {d.channel.topic for d in datagrams} == {"spat/signal-controller"}
    assert all(abs(d.timestamp - time.time()) < 30 for d in datagrams)  # the kernel's clock


def test_record_says_what_is_missing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["record", "-o", str(tmp_path)]) == 2
    assert "nothing to record" in capsys.readouterr().err
    missing = tmp_path / "no-such-tty"
    assert main(["record", "--serial", str(missing), "-o", str(tmp_path), "--duration", "1"]) == 2
    assert "cannot open" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.mcap"))


def _log_with_a_gap(directory: Path) -> None:
    now = [0.0]
    recorder = FlightRecorder(directory, RecorderLimits(), monotonic=lambda: now[0])
    for step in range(20):
        if 8 <= step < 13:
            continue  # the bus goes quiet for 5 s; the GNSS does not
        now[0] = step * 1.0
        at = T0 + step
        recorder.can_frames("vehicle", make_batch([(at, 0x10, b"\x01"), (at + 0.5, 0x11, b"")]))
    for step in range(20):
        recorder.serial_lines("gnss", [b"$GNGGA"], T0 + step)
    recorder.datagrams(Kind.V2X_TX, "radio", [(b"\x00", T0 + 3)])
    recorder.close()


def test_record_info_gives_span_channels_counts_and_gaps(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _log_with_a_gap(tmp_path)
    assert main(["record", "info", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "files: 1 (1 complete, 0 cut short)" in text
    assert "(19.500 s)" in text
    assert "can/vehicle: 30 frames in 15 batches" in text
    assert "serial/gnss: 20 messages" in text
    assert "v2x/tx/radio: 1 messages" in text
    assert "can/vehicle: 1, longest 5.500 s from 2026-05-28T20:26:47.500+00:00" in text
    assert "damage: none" in text
    assert main(["record", "info", "--json", "--gap", "0.9", str(tmp_path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    channels = {channel["topic"]: channel for channel in summary["channels"]}
    assert channels["can/vehicle"]["gap_count"] == 1
    assert channels["serial/gnss"]["gap_count"] == 19  # 1 s apart, over 0.9 s
    assert summary["duration_s"] == pytest.approx(19.5)


def test_record_info_reports_a_cut_log(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _log_with_a_gap(tmp_path)
    (path,) = tmp_path.glob("*.mcap")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert main(["record", "info", str(path)]) == 0
    text = capsys.readouterr().out
    assert "files: 1 (0 complete, 1 cut short)" in text
    assert "skipped" in text
    assert main(["record", "info", str(tmp_path / "none.mcap")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_ctrl_c_stops_a_recording_with_a_complete_log(tmp_path: Path) -> None:
    port = free_udp_port()
    out = tmp_path / "logs"
    roadgate = Path(sys.executable).with_name("roadgate")
    child = subprocess.Popen(
        [str(roadgate), "record", "--v2x", f"127.0.0.1:{port}", "-o", str(out)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stderr is not None
        assert "Ctrl-C stops" in child.stderr.readline()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"BSM", ("127.0.0.1", port))
        time.sleep(0.5)
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=10) == 0
        assert "1 messages in 1 files" in child.stderr.read()
    finally:
        child.kill()
        child.wait()
    reader = LogReader(next(out.glob("*.mcap")))
    items = list(reader)
    assert reader.report.complete
    assert [(i.channel.topic, getattr(i, "payload", None)) for i in items] == [
        ("v2x/rx/radio", b"BSM")
    ]


def test_source_arguments() -> None:
    assert can_source("can0") == CanSource("can0", "socketcan", "can0")
    assert can_source("radar=socketcan:can1") == CanSource("radar", "socketcan", "can1")
    assert can_source("virtual:bench") == CanSource("bench", "virtual", "bench")
    assert serial_source("/dev/ttyACM0") == SerialSource("ttyACM0", "/dev/ttyACM0", 9600)
    assert serial_source("gnss=/dev/gnss@115200") == SerialSource("gnss", "/dev/gnss", 115200)
    spat = _udp_source("spat", "signal-controller")
    assert spat("6053") == UdpSource("spat", "signal-controller", "0.0.0.0", 6053)
    assert spat("sc=127.0.0.1:6053") == UdpSource("spat", "sc", "127.0.0.1", 6053)
    for parse, bad in ((can_source, "x="), (serial_source, "a@0"), (spat, "host:70000")):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(bad)


@given(st.text(max_size=40))
def test_source_arguments_parse_or_say_why(text: str) -> None:
    """Anything typed is a usable source or an argparse error, never another exception."""
    parsed: list[CanSource | SerialSource | UdpSource] = []
    for parse in (can_source, serial_source, _udp_source("v2x", "radio")):
        with contextlib.suppress(argparse.ArgumentTypeError):
            parsed.append(parse(text))
    for source in parsed:
        assert source.name
        if isinstance(source, CanSource):
            assert source.channel
            assert source.interface
        elif isinstance(source, SerialSource):
            assert source.url
            assert source.baudrate >= 1
        else:
            assert 0 < source.port <= 65535
