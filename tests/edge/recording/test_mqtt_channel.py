"""The ``mqtt/in/{client}`` channel: MQTT messages a box received, in the
``roadgate.mqtt-message.v1`` layout (golden bytes, any topic and payload round trip, any bytes
decode or raise ``ValueError``), written by every sink, read back (damaged payloads counted,
never raised), summarised, cut and exported."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.recording.log_file import LogFile
from edge.recording.log_format import (
    MQTT_MESSAGE_ENCODING,
    ChannelSpec,
    Kind,
    decode_mqtt_message,
    encode_mqtt_message,
)
from edge.recording.reader import LogReader, MqttItem, read_logs
from edge.recording.sink import NoRecording, RecordingSink
from edge.recording.summary import summarize
from edge.recording.switch import RecorderSwitch
from edge.recording.window import write_log
from edge.recording.writer import FlightRecorder
from firmware_py.cli import main
from protocols.envelope import seal
from protocols.schema.v1 import roadgate_pb2 as pb

T0 = 1_780_000_000.0
TOPIC = "rg/v1/xa/veh-1/state"
FEED = ChannelSpec(Kind.MQTT_IN, "state-feed")


def state_envelope(device: str, capture_s: float) -> bytes:
    return seal(
        pb.VehicleState(speed_mps=3.0),
        device_id=device,
        boot_id="boot-1",
        sequence=1,
        capture_time_ns=int(capture_s * 1e9),
        publish_time_ns=int(capture_s * 1e9),
        clock_source=pb.CLOCK_SOURCE_GNSS,
    ).SerializeToString()


def test_the_layout_is_version_topic_length_topic_payload() -> None:
    data = encode_mqtt_message("rg/v1/é/d/state", b"\x00\xff")
    topic = "rg/v1/é/d/state".encode()
    assert data == b"\x01" + len(topic).to_bytes(2, "little") + topic + b"\x00\xff"
    assert decode_mqtt_message(data) == ("rg/v1/é/d/state", b"\x00\xff")
    assert decode_mqtt_message(b"\x01\x00\x00") == ("", b"")
    assert FEED.topic == "mqtt/in/state-feed"
    assert FEED.encoding == MQTT_MESSAGE_ENCODING
    assert FEED.metadata == {"kind": "mqtt-in", "source": "state-feed"}


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "shorter than its header"),
        (b"\x01\x05", "shorter than its header"),
        (b"\x02\x00\x00", "version 2"),
        (b"\x01\x05\x00abc", "runs past its end"),
        (b"\x01\x02\x00\xc3\x28payload", "utf-8"),
    ],
)
def test_bad_payloads_raise_value_error(data: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        decode_mqtt_message(data)


def test_a_topic_mqtt_cannot_carry_is_refused() -> None:
    with pytest.raises(ValueError, match="over MQTT"):
        encode_mqtt_message("x" * 65536, b"")
    with pytest.raises(ValueError, match="surrogates"):
        encode_mqtt_message("\ud800", b"")


@given(topic=st.text(max_size=300), payload=st.binary(max_size=300))
def test_any_topic_and_payload_round_trip(topic: str, payload: bytes) -> None:
    assert decode_mqtt_message(encode_mqtt_message(topic, payload)) == (topic, payload)


@given(data=st.binary(max_size=64) | st.binary(max_size=60).map(lambda b: b"\x01" + b))
def test_any_bytes_decode_to_what_encodes_back_or_raise_value_error(data: bytes) -> None:
    try:
        topic, payload = decode_mqtt_message(data)
    except ValueError:
        return
    assert encode_mqtt_message(topic, payload) == data


def test_the_recorder_records_and_the_reader_reads_back(tmp_path: Path) -> None:
    recorder = FlightRecorder(tmp_path)
    accepted = state_envelope("veh-1", T0)
    recorder.mqtt_message("state-feed", TOPIC, accepted, T0 + 0.02)
    recorder.mqtt_message("state-feed", "rg/v1/xa/veh-2/state", b"not an envelope", T0 + 0.5)
    recorder.mqtt_message("state-feed", "\ud800", b"", T0 + 0.6)  # cannot be a topic: dropped
    recorder.close()
    assert recorder.dropped == {"bad_mqtt_topic": 1}
    assert recorder.counters["messages"] == 2
    reader = LogReader(*recorder.files())
    items = list(reader)
    assert all(isinstance(item, MqttItem) for item in items)
    got = [
        (i.channel, round(i.timestamp, 6), i.topic, i.message)
        for i in items
        if isinstance(i, MqttItem)
    ]
    assert got == [
        (FEED, round(T0 + 0.02, 6), TOPIC, accepted),
        (FEED, round(T0 + 0.5, 6), "rg/v1/xa/veh-2/state", b"not an envelope"),
    ]
    assert reader.report.complete
    assert not reader.report.damaged
    summary = summarize(recorder.files())
    stats = summary.channels["mqtt/in/state-feed"]
    assert (stats.kind, stats.messages, stats.frames) == ("mqtt-in", 2, 2)


def test_every_sink_takes_mqtt_messages(tmp_path: Path) -> None:
    now = [0.0]
    switch = RecorderSwitch(
        lambda: FlightRecorder(tmp_path, prefix="box"), monotonic=lambda: now[0]
    )
    sinks: list[RecordingSink] = [NoRecording(), switch]
    for sink in sinks:
        sink.mqtt_message("state-feed", TOPIC, b"\x01", T0)  # the switch is not recording yet
    switch.start()
    switch.mqtt_message("state-feed", TOPIC, b"\x02", T0 + 1)
    switch.stop()
    items = list(read_logs(sorted(tmp_path.glob("box-*.mcap"))))
    assert [(i.topic, i.message) for i in items if isinstance(i, MqttItem)] == [(TOPIC, b"\x02")]
    assert switch.counters["failures"] == 0


def damaged_log(path: Path) -> Path:
    """A log holding good MQTT messages between ones whose payload breaks the layout."""
    stream = io.BytesIO()
    log = LogFile(stream, 1 << 20)
    at = int(T0 * 1e9)
    for i, data in enumerate(
        [
            encode_mqtt_message(TOPIC, b"first"),
            b"\x01\x40\x00short",  # a topic cut short
            b"\x07\x00\x00",  # another version
            b"",  # nothing at all
            encode_mqtt_message(TOPIC, b"last"),
        ]
    ):
        log.add(FEED, data, at + i, at + i)
    stream.close = lambda: None  # type: ignore[method-assign]  # keep the bytes for the test
    log.finish()
    path.write_bytes(stream.getvalue())
    return path


def test_damaged_payloads_are_counted_not_raised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = damaged_log(tmp_path / "damaged.mcap")
    reader = LogReader(path)
    items = list(reader)
    assert [i.message for i in items if isinstance(i, MqttItem)] == [b"first", b"last"]
    assert reader.report.messages == 2
    assert reader.report.skipped_messages == {"bad_mqtt_message": 3}
    assert main(["record", "info", str(path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["files"][0]["skipped_messages"] == {"bad_mqtt_message": 3}
    assert [(c["topic"], c["messages"]) for c in shown["channels"]] == [("mqtt/in/state-feed", 2)]
    assert main(["record", "info", str(path)]) == 0
    text = capsys.readouterr().out
    assert "mqtt/in/state-feed: 2 messages" in text
    assert "3 bad_mqtt_message" in text


@pytest.fixture(scope="module")
def whole_log(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A log of 40 MQTT messages in 4 chunks, written once for the module's examples."""
    directory = tmp_path_factory.mktemp("mqtt-whole")
    now = [0.0]
    recorder = FlightRecorder(directory, monotonic=lambda: now[0])
    for n in range(40):
        recorder.mqtt_message("state-feed", TOPIC, f"m{n}".encode(), T0 + n * 0.01)
        if n % 10 == 9:
            now[0] += 0.5
            recorder.tick()
    recorder.close()
    return recorder.files()[0].read_bytes()


@given(cut=st.integers(min_value=0, max_value=3000))
def test_a_truncated_log_reads_a_prefix_of_the_messages(cut: int, whole_log: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="rg-mqtt-cut-") as tmp:
        path = Path(tmp) / "truncated.mcap"
        path.write_bytes(whole_log[:cut])
        got = [i.message for i in LogReader(path) if isinstance(i, MqttItem)]
    assert got == [f"m{n}".encode() for n in range(len(got))]
    if cut >= len(whole_log):
        assert len(got) == 40


def test_a_log_cut_after_each_chunk_keeps_the_chunks_before(
    whole_log: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "cut.mcap"
    counts = set()
    for cut in range(0, len(whole_log) + 1, 8):
        path.write_bytes(whole_log[:cut])
        counts.add(sum(isinstance(i, MqttItem) for i in LogReader(path)))
    assert counts == {0, 10, 20, 30, 40}


def test_a_cut_keeps_mqtt_messages_byte_for_byte(tmp_path: Path) -> None:
    recorder = FlightRecorder(tmp_path / "logs")
    for n in range(5):
        recorder.mqtt_message("state-feed", TOPIC, bytes([n]) * 3, T0 + n)
    recorder.close()
    out = tmp_path / "cut.mcap"
    args = ["export", str(tmp_path / "logs"), "--to", "mcap", "-o", str(out)]
    assert main([*args, "--start", str(T0 + 1), "--end", str(T0 + 3)]) == 0
    items = [i for i in LogReader(out) if isinstance(i, MqttItem)]
    assert [(i.topic, i.message) for i in items] == [(TOPIC, bytes([n]) * 3) for n in (1, 2, 3)]
    assert write_log(tmp_path / "again.mcap", items, {}) == 3
    again = [i for i in LogReader(tmp_path / "again.mcap") if isinstance(i, MqttItem)]
    assert again == items


def test_jsonl_export_has_the_received_messages_decoded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = FlightRecorder(tmp_path / "logs")
    recorder.envelope("rg/v1/xa/rsu-1/health", state_envelope("rsu-1", T0), T0)
    recorder.mqtt_message("state-feed", TOPIC, state_envelope("veh-1", T0 + 1), T0 + 1.01)
    recorder.mqtt_message("state-feed", "rg/v1/xa/veh-2/state", b"\xff\xff", T0 + 2)
    recorder.close()
    out = tmp_path / "all.jsonl"
    assert main(["export", str(tmp_path / "logs"), "--to", "jsonl", "-o", str(out)]) == 0
    assert "(2 lines are MQTT messages the box received)" in capsys.readouterr().err
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(line["topic"], line.get("received_by")) for line in lines] == [
        ("rg/v1/xa/rsu-1/health", None),
        (TOPIC, "state-feed"),
        ("rg/v1/xa/veh-2/state", "state-feed"),
    ]
    assert lines[1]["t"] == pytest.approx(T0 + 1.01)
    assert lines[1]["envelope"]["device_id"] == "veh-1"
    assert lines[1]["envelope"]["vehicle_state"] == {"speed_mps": 3.0}
    assert lines[2]["payload_hex"] == "ffff"
    assert "envelope" not in lines[2]
