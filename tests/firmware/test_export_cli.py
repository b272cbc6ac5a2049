"""``roadgate export``: a known recording through each format, read back with the format's own
reader (python-can, dpkt, json), and time windows around an event."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import can
import dpkt
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.recording.log_format import Kind
from edge.recording.reader import CanItem, DatagramItem, EnvelopeItem, LineItem, LogReader
from edge.recording.writer import FlightRecorder
from firmware_py.cli import main
from firmware_py.cli.export import instant
from hal.can.frames import FLAG_BRS, FLAG_ERROR, FLAG_EXTENDED, FLAG_FD, FLAG_REMOTE, make_batch
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.edge.recording.sample_log import T0, Sample, write_sample


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    return write_sample(tmp_path_factory.mktemp("export-sample"))


def recorded_frames(sample: Sample, bus: str) -> np.ndarray:
    batches = [
        item.frames
        for item in LogReader(sample.path)
        if isinstance(item, CanItem) and item.channel.source == bus
    ]
    return np.concatenate(batches)


def assert_same_frames(
    frames: np.ndarray, messages: list[can.Message], *, fmt: str = "blf"
) -> None:
    """What each format cannot hold is not compared: a remote request's length in candump
    (python-can writes ``#R``), an error frame's class bits and data in ASC (``ErrorFrame``)."""
    assert len(messages) == len(frames)
    start = float(frames["timestamp"][0])
    for frame, message in zip(frames, messages, strict=True):
        flags = int(frame["flags"])
        length = int(frame["dlc"])
        assert message.is_error_frame == bool(flags & FLAG_ERROR)
        relative = message.timestamp - messages[0].timestamp
        assert relative == pytest.approx(float(frame["timestamp"]) - start, abs=2e-5)
        if fmt == "asc" and message.is_error_frame:
            continue
        assert message.arbitration_id == int(frame["arbitration_id"])
        assert message.is_extended_id == bool(flags & FLAG_EXTENDED)
        assert message.is_remote_frame == bool(flags & FLAG_REMOTE)
        assert message.is_fd == bool(flags & FLAG_FD)
        assert message.bitrate_switch == bool(flags & FLAG_BRS)
        if fmt != "candump" or not message.is_remote_frame:
            assert message.dlc == length
        if not message.is_remote_frame:
            assert bytes(message.data) == frame["data"][:length].tobytes()


@pytest.mark.parametrize(("fmt", "suffix"), [("candump", ".log"), ("asc", ".asc"), ("blf", ".blf")])
def test_can_formats_round_trip_through_python_can(
    sample: Sample, tmp_path: Path, fmt: str, suffix: str
) -> None:
    out = tmp_path / f"cut{suffix}"
    args = ["export", str(sample.path), "--to", fmt, "-o", str(out), "--source", "vehicle"]
    assert main(args) == 0
    with can.LogReader(out) as reader:
        messages = list(reader)
    frames = recorded_frames(sample, "vehicle")
    assert_same_frames(frames, messages, fmt=fmt)


@pytest.mark.parametrize(("fmt", "suffix"), [("asc", ".asc"), ("blf", ".blf")])
def test_several_buses_go_to_one_file_each_with_fd_and_error_frames(
    sample: Sample, tmp_path: Path, fmt: str, suffix: str
) -> None:
    out = tmp_path / f"all{suffix}"
    assert main(["export", str(sample.path), "--to", fmt, "-o", str(out)]) == 0
    for bus in ("vehicle", "radar", "body-fd"):
        with can.LogReader(tmp_path / f"all.{bus}{suffix}") as reader:
            assert_same_frames(recorded_frames(sample, bus), list(reader), fmt=fmt)


def test_nmea_lines(sample: Sample, tmp_path: Path) -> None:
    out = tmp_path / "gnss.nmea"
    assert main(["export", str(sample.path), "--to", "nmea", "-o", str(out)]) == 0
    lines = [i.line for i in LogReader(sample.path) if isinstance(i, LineItem)]
    assert out.read_bytes() == b"".join(line + b"\r\n" for line in lines)


def test_pcap_datagrams_with_their_times(
    sample: Sample, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "radio.pcap"
    assert main(["export", str(sample.path), "--to", "pcap", "-o", str(out)]) == 0
    assert "v2x/rx/radio is UDP port 40000" in capsys.readouterr().err
    recorded = [i for i in LogReader(sample.path) if isinstance(i, DatagramItem)]
    with out.open("rb") as file:
        packets = list(dpkt.pcap.Reader(file))
    assert len(packets) == len(recorded)
    for (at, raw), item in zip(packets, recorded, strict=True):
        packet = dpkt.ip.IP(raw)
        assert isinstance(packet.data, dpkt.udp.UDP)
        assert packet.data.data == item.payload
        assert float(at) == pytest.approx(item.timestamp, abs=1e-6)
        sent = item.channel.kind is Kind.V2X_TX
        assert (packet.src == bytes([127, 0, 0, 1])) == sent


def _event(event_id: str, at: float) -> bytes:
    envelope = pb.Envelope(schema_version=1, device_id="obu-1", capture_time_ns=int(at * 1e9))
    envelope.event.event_id = event_id
    envelope.event.application = "FCW"
    return envelope.SerializeToString()


def _incident_log(directory: Path) -> Path:
    recorder = FlightRecorder(directory)
    for second in range(100):
        at = T0 + second
        recorder.can_frames("vehicle", make_batch([(at, 0x100, bytes([second]))]))
        recorder.serial_lines("gnss", [f"$GNGGA,{second}".encode()], at)
    recorder.envelope("rg/v1/xa/obu-1/events", _event("ev-7", T0 + 20.2), T0 + 20.3)
    recorder.envelope("rg/v1/xa/obu-1/events", _event("ev-42", T0 + 50.2), T0 + 50.3)
    recorder.envelope("rg/v1/xa/obu-1/health", b"\xff\xff", T0 + 51)  # not an Envelope
    recorder.close()
    return directory


def test_around_an_event_keeps_the_seconds_either_side(tmp_path: Path) -> None:
    logs = _incident_log(tmp_path / "logs")
    out = tmp_path / "incident.log"
    args = ["export", str(logs), "--to", "candump", "-o", str(out), "--around", "ev-42"]
    assert main([*args, "--seconds", "10"]) == 0
    with can.LogReader(out) as reader:
        seconds = [message.data[0] for message in reader]
    assert seconds == list(range(41, 61))  # 40.2 .. 60.2
    assert main([*args[:-1], "ev-none"]) == 2


def test_jsonl_envelopes_decoded_and_a_window(tmp_path: Path) -> None:
    logs = _incident_log(tmp_path / "logs")
    out = tmp_path / "envelopes.jsonl"
    window = ["--start", "2026-05-28T20:27:20", "--end", str(T0 + 60)]
    assert main(["export", str(logs), "--to", "jsonl", "-o", str(out), *window]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["topic"] for line in lines] == [
        "rg/v1/xa/obu-1/events",
        "rg/v1/xa/obu-1/health",
    ]
    assert lines[0]["envelope"]["event"] == {"event_id": "ev-42", "application": "FCW"}
    assert lines[0]["t"] == pytest.approx(T0 + 50.3)
    assert lines[1]["payload_hex"] == "ffff"


def test_bad_requests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logs = _incident_log(tmp_path / "logs")
    assert main(["export", str(logs), "--to", "blf", "-o", str(tmp_path / "x.log")]) == 2
    assert "must end in .blf" in capsys.readouterr().err
    out = str(tmp_path / "x.log")
    both = ["--around", "ev-42", "--start", "0"]
    assert main(["export", str(logs), "--to", "candump", "-o", out, *both]) == 2
    assert main(["export", str(tmp_path / "empty"), "--to", "candump", "-o", out]) == 2


def test_a_cut_around_an_event_is_a_flight_log_of_its_own(tmp_path: Path) -> None:
    logs = _incident_log(tmp_path / "logs")
    out = tmp_path / "incident.mcap"
    args = ["export", str(logs), "--to", "mcap", "-o", str(out), "--around", "ev-42"]
    assert main([*args, "--seconds", "5"]) == 0
    reader = LogReader(out)
    items = list(reader)
    assert reader.report.complete
    assert not reader.report.damaged
    assert reader.report.metadata["cut_from"].endswith(".mcap")
    can_seconds = [int(i.frames["data"][0][0]) for i in items if isinstance(i, CanItem)]
    assert can_seconds == list(range(46, 56))  # 45.2 .. 55.2
    lines = [i.line for i in items if isinstance(i, LineItem)]
    assert lines == [f"$GNGGA,{second}".encode() for second in range(46, 56)]
    events = [i for i in items if isinstance(i, EnvelopeItem)]
    assert [e.channel.source for e in events] == [
        "rg/v1/xa/obu-1/events",
        "rg/v1/xa/obu-1/health",
    ]
    assert pb.Envelope.FromString(events[0].payload).event.event_id == "ev-42"
    assert events[0].timestamp == pytest.approx(T0 + 50.3, abs=1e-6)
    # The cut reads like any log: exported again, it gives the same frames.
    candump = tmp_path / "again.log"
    assert main(["export", str(out), "--to", "candump", "-o", str(candump)]) == 0
    with can.LogReader(candump) as reader_again:
        assert [m.data[0] for m in reader_again] == can_seconds
    assert main(["export", str(out), "--to", "mcap", "-o", str(out)]) == 2


def test_instants() -> None:
    assert instant("1780000000.5") == T0 + 0.5
    assert instant("2026-05-28T20:26:40") == T0
    assert instant("2026-05-28T22:26:40+02:00") == T0
    for bad in ("tomorrow", "nan", "inf"):
        with pytest.raises(argparse.ArgumentTypeError):
            instant(bad)


@given(st.text(max_size=40))
def test_any_typed_instant_is_a_finite_time_or_an_argparse_error(text: str) -> None:
    try:
        value = instant(text)
    except argparse.ArgumentTypeError:
        return
    assert math.isfinite(value)
