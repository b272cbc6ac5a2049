"""The recorder a box runs: started and stopped by command (each capture a complete file),
timed captures, counters over captures, a recorder bug never reaching the box; the radio link
recording what it hears and sends."""

from __future__ import annotations

import io
import socket
from pathlib import Path
from typing import BinaryIO

import pytest

from edge.recording.errors import RecordingError
from edge.recording.log_format import Kind
from edge.recording.reader import DatagramItem, ReadReport, read_logs
from edge.recording.recorded_link import RecordedLink
from edge.recording.switch import RecorderSwitch
from edge.recording.writer import FlightRecorder
from hal.can.frames import make_batch
from hal.net.udp_link import UdpLink

T0 = 1_780_000_000.0


def switch_in(directory: Path, now: list[float]) -> RecorderSwitch:
    return RecorderSwitch(lambda: FlightRecorder(directory, prefix="box"), monotonic=lambda: now[0])


def reports_of(directory: Path) -> list[ReadReport]:
    reports: list[ReadReport] = []
    for path in sorted(directory.glob("*.mcap")):
        list(read_logs([path], reports))
    return reports


def test_each_capture_is_a_complete_file_and_the_counters_add_up(tmp_path: Path) -> None:
    now = [0.0]
    switch = switch_in(tmp_path, now)
    switch.can_frames("bus", make_batch([(T0, 0x10, b"\x01")]))  # not recording: nothing
    assert switch.counters["recording"] == 0
    assert switch.stop() == "not recording"
    assert switch.start().startswith(f"recording into {tmp_path}/box-")
    assert switch.start(5).endswith("now for 5 s")  # extends the running capture
    switch.can_frames("bus", make_batch([(T0, 0x10, b"\x01"), (T0 + 0.1, 0x11, b"")]))
    switch.serial_lines("gnss", [b"$GNGGA"], T0)
    now[0] = 4.0
    switch.tick()
    assert switch.recording
    now[0] = 5.0
    switch.tick()  # the 5 s are up: stopped, file finished
    assert not switch.recording
    switch.start()
    switch.envelope("rg/v1/r/d/state", b"\x01", T0 + 1)
    assert switch.stop().startswith("stopped; 1 messages recorded, last file ")
    reports = reports_of(tmp_path)
    assert [(r.complete, r.messages) for r in reports] == [(True, 2), (True, 1)]
    counters = switch.counters
    assert (counters["messages"], counters["files_started"], counters["files_finished"]) == (
        3,
        2,
        2,
    )
    switch.close()
    switch.close()


def test_a_directory_that_cannot_be_written_refuses_the_start(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    switch = switch_in(tmp_path / "file" / "logs", [0.0])
    with pytest.raises(RecordingError, match="cannot record into"):
        switch.start()
    assert not switch.recording
    assert switch.counters["start_errors"] == 1


class FailingStream(io.BytesIO):
    """A file whose writes fail, once told to, with what no disk fault raises: a bug, say."""

    failing = False

    def write(self, data: object) -> int:
        if self.failing:
            raise RuntimeError("a bug in the recorder")
        return super().write(data)  # type: ignore[arg-type]


def test_a_recorder_that_raises_never_reaches_the_box(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stream = FailingStream()

    def open_file(path: Path) -> BinaryIO:
        return stream

    now = [0.0]
    recorder = FlightRecorder(tmp_path, open_file=open_file, monotonic=lambda: now[0])
    switch = RecorderSwitch(lambda: recorder, monotonic=lambda: now[0])
    switch.start()
    stream.failing = True
    for step in range(3):
        now[0] = step + 1.0  # each tick writes the chunk in progress
        switch.envelope("t", b"x" * 100, T0)
        switch.can_frames("bus", make_batch([(T0, 0x10, b"\x01")]))
        switch.tick()
    switch.close()
    assert switch.counters["failures"] >= 1
    assert caplog.text.count("flight recorder failed") == 1


def test_the_radio_link_records_what_it_hears_and_sends(tmp_path: Path) -> None:
    recorder = FlightRecorder(tmp_path)
    radio = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    radio.bind(("127.0.0.1", 0))
    radio.settimeout(2)
    with (
        radio,
        UdpLink(
            "v2x-radio", "127.0.0.1", 0, peer_host="127.0.0.1", peer_port=radio.getsockname()[1]
        ) as link,
    ):
        recorded = RecordedLink(link, recorder, wall_clock=lambda: T0)
        assert (recorded.name, recorded.counters) == (link.name, link.counters)
        recorded.send(b"BSM-1")
        assert radio.recv(100) == b"BSM-1"
        radio.sendto(b"HEARD", link.local_address)
        heard = recorded.receive(2.0)
        assert [data for data, _ in heard] == [b"HEARD"]
    recorder.close()
    items = [i for i in read_logs(sorted(tmp_path.glob("*.mcap"))) if isinstance(i, DatagramItem)]
    assert [(i.channel.kind, i.channel.source, i.payload) for i in items] == [
        (Kind.V2X_TX, "v2x-radio", b"BSM-1"),
        (Kind.V2X_RX, "v2x-radio", b"HEARD"),
    ]
    assert items[0].timestamp == T0
