"""``roadgate replay --mqtt``: the vehicle states a field roadside unit's state feed received,
recorded in its flight log, published again into a real Mosquitto on their recorded topics and
received by the real state feed: retimed, they are offered as in the field (their capture times
moved by the replay's shift); played as recorded, they are stale; a payload that is not an
Envelope goes as recorded and is counted. A cooperative roadside unit built from its config
records what its state feed receives."""

from __future__ import annotations

import asyncio
import contextlib
import time
from contextlib import ExitStack
from pathlib import Path

import aiomqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.geodesy import LocalFrame
from edge.identity import DeviceIdentity
from edge.recording.reader import LogReader, MqttItem
from edge.recording.writer import FlightRecorder
from edge.roadside.cooperative import CooperativeReport
from edge.roadside.state_feed import StateFeed
from firmware_py.box import build_box
from firmware_py.cli import main
from firmware_py.cli.replay import (
    BrokerAddress,
    ReplayReport,
    open_targets,
    replay,
    retime_envelope,
)
from firmware_py.config.loader import load_box_config
from protocols.envelope import decode
from protocols.errors import ProtocolError
from protocols.mqtt_connection import MqttConnection
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.edge.recording.test_state_feed_recording import state as vehicle_state
from tests.firmware.test_box_recorder import box_text
from tests.support.mosquitto import Broker, free_port
from tests.support.tasks import running
from tests.support.waiting import eventually

FRAME = LocalFrame.at(34.2237, 108.8906, 400.0)
RSU = DeviceIdentity("rsu-001", "xian", pb.DEVICE_ROLE_ROADSIDE_UNIT)
CHANNEL = "mqtt/in/state-feed"
GARBAGE = b"not an Envelope"
STATES = 10
RECEIVED_AFTER_S = 0.03  # what the vehicle's uplink and the broker took in the field


def state(device: str, capture_s: float) -> bytes:
    return vehicle_state(device, capture_s, publish_delay_s=0.005)


def state_feed(offered: list[CooperativeReport], broker: Broker) -> StateFeed:
    mqtt = MqttConnection(host=broker.host, port=broker.port, reconnect_min_s=0.1)
    return StateFeed(mqtt, RSU, FRAME, offered.append)


@pytest.fixture
def field_log(tmp_path: Path) -> list[Path]:
    """One second of two vehicles' states at 10 Hz and one message that is not an Envelope,
    received days ago by a field unit's state feed, which offered every state and recorded
    what it received."""
    t0 = time.time() - 3 * 86_400
    clock = [t0]
    recorder = FlightRecorder(tmp_path / "log", prefix="field")
    offered: list[CooperativeReport] = []
    field = StateFeed(
        MqttConnection(), RSU, FRAME, offered.append, clock=lambda: clock[0], recording=recorder
    )
    for k in range(STATES):
        device = f"veh-{k % 2 + 1}"
        clock[0] = t0 + k * 0.1 + RECEIVED_AFTER_S
        field.on_message(f"rg/v1/xian/{device}/state", state(device, t0 + k * 0.1))
        if k == 5:
            field.on_message("rg/v1/xian/veh-9/state", GARBAGE)
    recorder.close()
    assert len(offered) == STATES  # the field box took them all
    assert field.counters["rejects.malformed"] == 1
    return recorder.files()


def recorded_states(files: list[Path]) -> list[MqttItem]:
    items = [item for path in files for item in LogReader(path) if isinstance(item, MqttItem)]
    return [item for item in items if item.message != GARBAGE]


async def replay_into_a_state_feed(
    files: list[Path], broker: Broker, *, retime: bool
) -> tuple[ReplayReport, list[CooperativeReport], dict[str, int]]:
    """Replay ``files`` at speed 1 into ``broker`` while a live state feed listens."""
    offered: list[CooperativeReport] = []
    feed = state_feed(offered, broker)

    def play() -> ReplayReport:
        with ExitStack() as stack:
            address = BrokerAddress(broker.host, broker.port)
            targets = open_targets(stack, [], [], None, None, mqtt=address, retime_mqtt=retime)
            return replay(files, targets, speed=1.0)

    async with running(feed.run(), "replayed-state-feed"):
        await asyncio.wait_for(feed.connected.wait(), 10)
        report = await asyncio.to_thread(play)
        await eventually(
            lambda: feed.counters["received"] == STATES + 1, what="every message received"
        )
    return report, offered, dict(feed.counters)


@pytest.mark.mosquitto
@pytest.mark.asyncio
async def test_retimed_states_are_offered_as_in_the_field(
    field_log: list[Path], mosquitto: Broker
) -> None:
    report, offered, counters = await replay_into_a_state_feed(field_log, mosquitto, retime=True)
    assert report.sent == {CHANNEL: STATES + 1}
    assert report.not_envelopes == {CHANNEL: 1}
    assert any(f"{CHANNEL}: 1 sent as recorded (not an Envelope" in line for line in report.lines())
    assert report.shift_s > 3 * 86_400
    assert counters["offered"] == STATES
    assert counters["rejects.malformed"] == 1
    assert "rejects.stale" not in counters
    recorded = recorded_states(field_log)
    assert [r.vehicle_id for r in offered] == [decode(i.message).device_id for i in recorded]
    for report_, item in zip(offered, recorded, strict=True):
        capture_s = decode(item.message).capture_time_ns / 1e9
        assert report_.time_s == pytest.approx(capture_s + report.shift_s, abs=1e-6)


@pytest.mark.mosquitto
@pytest.mark.asyncio
async def test_states_played_with_their_recorded_times_are_stale(
    field_log: list[Path], mosquitto: Broker
) -> None:
    report, offered, counters = await replay_into_a_state_feed(field_log, mosquitto, retime=False)
    assert report.sent == {CHANNEL: STATES + 1}
    assert not report.not_envelopes
    assert not offered
    assert counters["rejects.stale"] == STATES
    assert counters["rejects.malformed"] == 1


@pytest.mark.mosquitto
@pytest.mark.asyncio
async def test_the_command_line_publishes_on_the_recorded_topics(
    field_log: list[Path], mosquitto: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded = [(i.topic, i.message) for i in LogReader(field_log[0]) if isinstance(i, MqttItem)]
    for flags, same in (([], False), (["--keep-mqtt-time"], True)):
        got: list[tuple[str, bytes]] = []
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
            await client.subscribe("rg/v1/#")
            args = ["replay", str(field_log[0]), "--mqtt", f"127.0.0.1:{mosquitto.port}", *flags]
            status = await asyncio.to_thread(main, args)
            async with asyncio.timeout(10):
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    got.append((message.topic.value, message.payload))
                    if len(got) == len(recorded):
                        break
        assert status == 0
        assert [topic for topic, _ in got] == [topic for topic, _ in recorded]
        assert (got == recorded) is same
        assert GARBAGE in {payload for _, payload in got}
        out = capsys.readouterr().out
        assert f"{CHANNEL}: {STATES + 1} sent" in out
        assert ("1 sent as recorded (not an Envelope to retime)" in out) is not same


def test_a_broker_that_is_not_there_is_an_error(
    field_log: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(field_log[0]), "--mqtt", str(free_port())]) == 2
    assert "--mqtt: broker 127.0.0.1:" in capsys.readouterr().err


def test_without_a_broker_the_mqtt_inputs_are_skipped(field_log: list[Path]) -> None:
    report = replay(field_log, {}, speed=float("inf"))
    assert report.skipped == {CHANNEL: STATES + 1}
    assert not report.sent


def test_retime_envelope_moves_the_times_that_are_set() -> None:
    moved = decode(retime_envelope(state("veh-1", 1_000.0), 2.5))
    assert moved.capture_time_ns == 1_002_500_000_000
    assert moved.publish_time_ns == 1_002_505_000_000
    unset = pb.Envelope.FromString(state("veh-1", 0.0))
    unset.publish_time_ns = 0
    assert decode(retime_envelope(unset.SerializeToString(), 2.5)).capture_time_ns == 0
    with pytest.raises(ProtocolError):
        retime_envelope(GARBAGE, 1.0)
    with pytest.raises(ProtocolError):
        retime_envelope(state("veh-1", 9e9), 1e9)  # past int64 ns


@given(payload=st.binary(max_size=200), shift_s=st.floats(-1e6, 1e6))
def test_any_payload_is_retimed_or_refused_with_a_protocol_error(
    payload: bytes, shift_s: float
) -> None:
    try:
        moved = retime_envelope(payload, shift_s)
    except ProtocolError:
        return
    before, after = decode(payload), decode(moved)
    shift_ns = round(shift_s * 1e9)
    for name in ("capture_time_ns", "publish_time_ns"):
        value = getattr(before, name)
        assert getattr(after, name) == (value + shift_ns if value > 0 else value)


@pytest.mark.mosquitto
@pytest.mark.asyncio
async def test_a_cooperative_roadside_unit_records_what_its_state_feed_receives(
    tmp_path: Path, mosquitto: Broker
) -> None:
    logs = tmp_path / "flight"
    extra = f'\n[recorder]\nenabled = true\ndirectory = "{logs}"\n'
    config = load_box_config(box_text("roadside.toml", tmp_path, mosquitto.port, extra))
    assert config.perception.cooperative
    topic = f"rg/v1/{config.device.region}/veh-1/state"
    sent = [(topic, state("veh-1", time.time())), (topic, GARBAGE)]
    with ExitStack() as stack:
        box = build_box(config, stack)
        task = asyncio.create_task(box.run(), name="box-under-test")

        def received() -> int:
            return box.pipeline.health.snapshot().counters.get("state_feed.received", 0)

        try:
            async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
                # The feed subscribes on its own connection: publish until it hears one.
                async with asyncio.timeout(20):
                    while received() == 0:
                        await client.publish(topic, sent[0][1])
                        await asyncio.sleep(0.1)
                before = received()
                for where, payload in sent:
                    await client.publish(where, payload, qos=1)
                await eventually(lambda: received() == before + 2, within_s=10)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    items = [
        item
        for path in sorted(logs.glob("*.mcap"))
        for item in LogReader(path)
        if isinstance(item, MqttItem)
    ]
    assert {item.channel.topic for item in items} == {CHANNEL}
    assert len(items) == before + 2
    assert [(item.topic, item.message) for item in items[-2:]] == sent
