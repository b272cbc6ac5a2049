"""The bridge SIGKILLed again and again while QoS 1 messages stream in, restarted each time:
every message the broker acknowledged to its publisher is stored exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from protocols.schema.v1 import roadgate_pb2 as pb
from tests.cloud_bridge.factories import envelope, topic
from tests.e2e.test_pipeline_end_to_end import roadgate, wait_for_line
from tests.support.mosquitto import Broker, private_mosquitto
from tests.support.waiting import eventually

pytestmark = [pytest.mark.mosquitto, pytest.mark.e2e]

KILLS = 12
RATE_PER_S = 2000  # QoS 1 messages a second, for as long as the kills go on
BRIDGE_ID = "killed-bridge"
# A fleet, so that no device comes near the bridge's per-device flood limit.
DEVICES = [f"rsu-{n:03d}" for n in range(20)]
SEED = 20260110


class _Publisher(threading.Thread):
    """Publishes numbered QoS 1 envelopes at ``RATE_PER_S`` until ``stop`` is set."""

    def __init__(self, broker: Broker, stop: threading.Event) -> None:
        super().__init__(name="kill-test-publisher", daemon=True)
        self._broker = broker
        self._stop_event = stop
        self.infos: list[tuple[tuple[str, int], mqtt.MQTTMessageInfo]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._publish()
        except BaseException as err:  # reported by the test, not lost in the thread
            self.error = err

    def _publish(self) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="kill-test-publisher")
        client.max_inflight_messages_set(1000)
        client.connect(self._broker.host, self._broker.port)
        client.loop_start()
        try:
            started = time.monotonic()
            sequence = 0
            while not self._stop_event.is_set():
                due = int((time.monotonic() - started) * RATE_PER_S)
                while sequence < due:
                    sequence += 1
                    device = DEVICES[sequence % len(DEVICES)]
                    body = pb.VehicleState(speed_mps=sequence % 100, heading_rad=0.5)
                    payload = envelope(device, sequence, body=body).SerializeToString()
                    info = client.publish(topic(device), payload, qos=1)
                    self.infos.append(((device, sequence), info))
                time.sleep(0.005)  # pacing the stream, not waiting for anything
            for _, info in self.infos:
                info.wait_for_publish(timeout=20)
        finally:
            client.disconnect()
            client.loop_stop()

    def acknowledged(self) -> set[tuple[str, int]]:
        """(device, sequence) of each message the broker acknowledged (PUBACK) to us."""
        return {key for key, info in self.infos if info.is_published()}


def _stored(store: Path) -> list[tuple[str, int]]:
    """(device, sequence) of every stored message, one entry per row."""
    if not store.exists():
        return []
    with contextlib.closing(sqlite3.connect(store)) as db:
        return [(d, s) for d, s in db.execute("SELECT device_id, sequence FROM messages")]


def _dead_letters(store: Path) -> int:
    with contextlib.closing(sqlite3.connect(store)) as db:
        (count,) = db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()
        return int(count)


def _start_bridge(conf: Path, log: Path) -> subprocess.Popen[bytes]:
    bridge = roadgate("bridge", "--config", str(conf), log=log)
    wait_for_line(log, "subscribed to", bridge, timeout=30)
    return bridge


def test_sigkilled_bridge_stores_every_acknowledged_message_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    store = tmp_path / "bridge.sqlite3"
    conf = tmp_path / "bridge.toml"
    # The debug log shows each PUBLISH the broker sends, with its dup flag: the redeliveries.
    with private_mosquitto(tmp_path, extra_config="log_type debug\n") as broker:
        conf.write_text(
            f'[mqtt]\nport = {broker.port}\nclient_id = "{BRIDGE_ID}"\n'
            f'[bridge]\nstore = "{store}"\n'
        )
        bridge = _start_bridge(conf, tmp_path / "bridge-0.log")
        stop = threading.Event()
        publisher = _Publisher(broker, stop)
        publisher.start()
        published_at_kill: list[int] = []
        try:
            for kill in range(1, KILLS + 1):
                # A random moment (a sleep that waits for nothing): right after a restart the
                # bridge drains the backlog queued while it was down, later it follows the stream.
                time.sleep(rng.uniform(0.0, 0.4))
                bridge.send_signal(signal.SIGKILL)
                assert bridge.wait(timeout=10) == -signal.SIGKILL
                published_at_kill.append(len(publisher.infos))
                bridge = _start_bridge(conf, tmp_path / f"bridge-{kill}.log")
            stop.set()
            publisher.join(timeout=30)
            assert publisher.error is None, publisher.error
            published = len(publisher.infos)
            acknowledged = publisher.acknowledged()
            assert len(acknowledged) == published, "the broker did not acknowledge everything"
            assert published >= 3000, f"only {published} messages published"
            # Every kill hit the stream, not a quiet bridge.
            assert sorted(set(published_at_kill)) == published_at_kill
            assert published_at_kill[-1] < published
            # If some never arrive, the assertions below say how many.
            with contextlib.suppress(AssertionError):
                asyncio.run(eventually(lambda: acknowledged <= set(_stored(store)), within_s=20))
        finally:
            stop.set()
            bridge.send_signal(signal.SIGTERM)
            bridge.wait(timeout=15)
        broker_log = broker.log_path.read_text(errors="replace")

    rows = _stored(store)
    lost = acknowledged - set(rows)
    assert not lost, f"{len(lost)} of {published} acknowledged messages lost: {sorted(lost)[:10]}"
    assert sorted(rows) == sorted(acknowledged)  # each once, and nothing else
    assert _dead_letters(store) == 0
    # The kills left messages unacknowledged, which the broker sent again (dup flag) to the
    # restarted bridge; the store's key (device, boot, sequence) kept one copy of each.
    redelivered = broker_log.count(f"Sending PUBLISH to {BRIDGE_ID} (d1")
    assert redelivered > 0
    print(f"kills={KILLS} published={published} lost=0 redelivered={redelivered}")
