"""The flight recorder in a running box: built from ``[recorder]``, fed every input and every
published envelope (the exact bytes a subscriber receives), reported in health and Prometheus;
a box without it never loads mcap; a recorder that cannot write never stops the box."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import ExitStack
from pathlib import Path

import aiomqtt
import pytest

from edge.recording.errors import RecordingError
from edge.recording.log_format import Kind
from edge.recording.reader import (
    CanItem,
    DatagramItem,
    EnvelopeItem,
    LineItem,
    LogItem,
    ReadReport,
    read_logs,
)
from firmware_py.box import build_box
from firmware_py.config.loader import EXAMPLES_DIR, load_box_config
from firmware_py.metrics import counter_metrics
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.spat import PhaseTiming, StatusGroups, TscbmMessage, encode_tscbm, phase_bitmap
from tests.support.mosquitto import Broker
from tests.support.waiting import eventually

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SPAT = encode_tscbm(
    TscbmMessage(
        (PhaseTiming(1, 42, 42), PhaseTiming(2, 72, 72)),
        StatusGroups(greens=phase_bitmap([1]), reds=phase_bitmap([2])),
    )
)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def box_text(example: str, tmp_path: Path, broker_port: int, extra: str) -> Path:
    """A shipped example on the test's broker, outbox and CAN channels, plus ``extra``."""
    text = (EXAMPLES_DIR / example).read_text()
    assert text.count("port = 1883") == 1
    text = text.replace("port = 1883", f"port = {broker_port}")
    suffix = tmp_path.name[-20:]
    text = re.sub(r'channel = "([^"]+)"', rf'channel = "\1-{suffix}"', text)
    text += f'\n[outbox]\npath = "{tmp_path / "state" / "outbox.sqlite3"}"\n'
    text += "\n[metrics]\nenabled = false\n" + extra
    path = tmp_path / example
    path.write_text(text)
    return path


class Radio:
    """The C-V2X radio's host interface: takes what the box sends, sends what it "heard"."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]
        self.listen_port = free_udp_port()
        self.received: list[bytes] = []

    def table(self, station_id: int) -> str:
        return (
            f'\n[v2x]\nradio = "udp"\nradio_port = {self.port}\n'
            f"listen_port = {self.listen_port}\nstation_id = {station_id}\n"
        )

    def drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while True:
                self.received.append(self.sock.recv(65536))

    def hear(self, data: bytes) -> None:
        self.sock.sendto(data, ("127.0.0.1", self.listen_port))


@contextlib.asynccontextmanager
async def subscribed(broker: Broker) -> AsyncIterator[list[tuple[str, bytes]]]:
    """Every message on the broker, as (topic, payload), while the block runs."""
    received: list[tuple[str, bytes]] = []
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe("rg/#", qos=1)

        async def collect() -> None:
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                received.append((str(message.topic), message.payload))

        task = asyncio.create_task(collect(), name="test-subscriber")
        try:
            yield received
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def read_all(directory: Path) -> tuple[list[LogItem], list[ReadReport]]:
    reports: list[ReadReport] = []
    return list(read_logs(sorted(directory.glob("*.mcap")), reports)), reports


@pytest.mark.mosquitto
@pytest.mark.asyncio
async def test_a_vehicle_gateway_records_its_inputs_radio_and_the_exact_envelopes(
    tmp_path: Path, mosquitto: Broker
) -> None:
    radio = Radio()
    logs = tmp_path / "flight"
    extra = f'\n[recorder]\nenabled = true\ndirectory = "{logs}"\n' + radio.table(1234)
    path = box_text("vehicle-toyota.toml", tmp_path, mosquitto.port, extra)
    path.write_text(path.read_text().replace("period_s = 5\n", "period_s = 0.5\n"))
    config = load_box_config(path)
    heard = [b"\x00HEARD-" + bytes([i]) for i in range(3)]  # not V2X: counted as rejects
    async with subscribed(mosquitto) as received:
        with ExitStack() as stack:
            box = build_box(config, stack)
            task = asyncio.create_task(box.run(), name="box-under-test")
            try:
                await eventually(lambda: box.uplink.connected.is_set(), within_s=20)
                for data in heard:
                    radio.hear(data)
                await eventually(
                    lambda: box.pipeline.health.snapshot().counters["uplink.published.health"] >= 2,
                    within_s=20,
                )
                await asyncio.sleep(0.5)
                health = box.pipeline.health.snapshot()
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await asyncio.sleep(0.5)  # the goodbye reaches the subscriber
    radio.drain()
    items, reports = read_all(logs)
    assert all(report.complete for report in reports)
    assert reports[0].metadata["device_id"] == "veh-001"
    can = [item for item in items if isinstance(item, CanItem)]
    assert can
    assert {item.channel.source for item in can} == {"powertrain"}
    assert [item for item in items if isinstance(item, LineItem)]
    datagrams = [item for item in items if isinstance(item, DatagramItem)]
    rx = [d.payload for d in datagrams if d.channel.kind is Kind.V2X_RX]
    tx = [d.payload for d in datagrams if d.channel.kind is Kind.V2X_TX]
    assert rx == heard
    assert tx
    assert tx == radio.received[: len(tx)]  # every BSM sent, in order, byte for byte
    envelopes = [
        (item.channel.source, item.payload) for item in items if isinstance(item, EnvelopeItem)
    ]
    topics = {topic.rsplit("/", 1)[-1] for topic, _ in envelopes}
    assert {"status", "state", "health"} <= topics
    # What was recorded is what was published: the same bytes on the same topics.
    assert set(envelopes) <= set(received)
    published_state = [(t, p) for t, p in received if t.endswith("/state")]
    assert [e for e in envelopes if e[0].endswith("/state")] == published_state
    assert pb.Envelope.FromString(envelopes[0][1]).status.liveness == pb.LIVENESS_ONLINE
    counters = health.counters
    assert counters["recorder.recording"] == 1
    assert counters["recorder.messages"] > 0
    assert counters["recorder.files_started"] == 1
    assert not [key for key in counters if key.startswith("recorder.dropped.")]
    metrics = {family.name: family for family in counter_metrics(dict(counters))}
    assert metrics["roadgate_recorder_messages"].samples[0].value == counters["recorder.messages"]
    assert metrics["roadgate_recorder_recording"].samples[0].value == 1


@pytest.mark.mosquitto
@pytest.mark.asyncio
async def test_a_roadside_unit_records_the_controllers_spat_and_its_broadcasts(
    tmp_path: Path, mosquitto: Broker
) -> None:
    radio = Radio()
    controller_port = free_udp_port()
    logs = tmp_path / "flight"
    path = box_text("roadside.toml", tmp_path, mosquitto.port, "")
    text = path.read_text()
    plan = text.index("[roadside.signal_plan]")
    end = text.index("]\n\n", text.index("groups = [", plan)) + 2
    text = text[:plan] + text[end:]
    text += (
        f"\n[roadside.signal_controller]\nport = {controller_port}\nintersection_id = 101\n"
        f'\n[recorder]\nenabled = true\ndirectory = "{logs}"\n' + radio.table(2001)
    )
    path.write_text(text)
    config = load_box_config(path)
    with ExitStack() as stack, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as controller:
        box = build_box(config, stack)
        task = asyncio.create_task(box.run(), name="box-under-test")
        try:
            await eventually(lambda: box.uplink.connected.is_set(), within_s=20)
            for _ in range(5):
                controller.sendto(SPAT, ("127.0.0.1", controller_port))
                await asyncio.sleep(0.15)
            await eventually(lambda: box.pipeline.counters["can_frames"] > 0, within_s=20)
            await asyncio.sleep(1.2)  # a MAP goes on the air every second
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    radio.drain()
    items, reports = read_all(logs)
    assert all(report.complete for report in reports)
    spat = [i.payload for i in items if isinstance(i, DatagramItem) and i.channel.kind is Kind.SPAT]
    assert spat == [SPAT] * 5
    tx = [i.payload for i in items if isinstance(i, DatagramItem) and i.channel.kind is Kind.V2X_TX]
    assert tx
    assert tx == radio.received[: len(tx)]
    assert {i.channel.source for i in items if isinstance(i, CanItem)} == {"radar"}
    spat_topics = [
        i for i in items if isinstance(i, EnvelopeItem) and i.channel.source.endswith("/spat")
    ]
    assert spat_topics


@pytest.mark.asyncio
async def test_a_recorder_that_cannot_write_leaves_the_box_running(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    extra = f'\n[recorder]\nenabled = true\ndirectory = "{tmp_path / "a-file" / "logs"}"\n'
    config = load_box_config(box_text("vehicle-toyota.toml", tmp_path, 1, extra))
    with ExitStack() as stack:
        box = build_box(config, stack)
        task = asyncio.create_task(box.run(), name="box-under-test")
        try:
            await eventually(lambda: box.pipeline.counters["can_frames"] > 0, within_s=20)
            await asyncio.sleep(0.5)  # the recorder's tick runs
            assert not task.done()
            counters = box.pipeline.health.snapshot().counters
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert "running without recording" in caplog.text
    assert counters["recorder.recording"] == 0
    assert counters["recorder.start_errors"] == 1
    # An operator's record start says why it cannot record.
    assert box.pipeline.recorder is not None
    with pytest.raises(RecordingError, match="cannot record into"):
        box.pipeline.recorder.start()


_BUILD = """
import json, sys
from contextlib import ExitStack
from pathlib import Path
from firmware_py.box import build_box
from firmware_py.config.loader import load_box_config

with ExitStack() as stack:
    build_box(load_box_config(Path(sys.argv[1])), stack)
    print(json.dumps(sorted({n.split(".")[0] for n in sys.modules} & {"mcap", "zstandard"})))
"""


@pytest.mark.parametrize(
    ("extra", "loaded"),
    [("", []), ("\n[recorder]\nenabled = false\n", ["mcap", "zstandard"])],
)
def test_only_a_box_with_a_recorder_loads_mcap(
    tmp_path: Path, extra: str, loaded: list[str]
) -> None:
    config = box_text("vehicle-toyota.toml", tmp_path, 1, extra)
    done = subprocess.run(
        [sys.executable, "-c", _BUILD, str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
        check=True,
    )
    assert json.loads(done.stdout.splitlines()[-1]) == loaded
