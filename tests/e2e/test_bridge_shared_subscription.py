"""Two bridge workers share the uplink through an MQTT shared subscription on a real Mosquitto;
one of them is SIGKILLed and restarted again and again mid-stream.

What holds with Mosquitto 2.0.11 (measured by this test): every message the broker
acknowledged to its publisher is stored, and stored once over both workers' SQLite files. The
broker splits the stream between the workers; a message sent to the killed worker and not yet
acknowledged (it acknowledges after its commit) stays in that worker's persistent session and is
sent again to the same worker when it is back (with the dup flag), never to the other one, so
its own store's key (device, boot, sequence) absorbs the copy. So even separate stores hold
disjoint sets; a shared store (PostgreSQL) would dedupe across workers by the same key if a
broker did hand a redelivery to another worker.

Mosquitto 2.0.11 also goes on handing every other new message to the killed worker's session
while it is down (round robin over the group's sessions, connected or not): they wait there and
arrive when it is back, so the split stays even. The flip side: the session of a worker that is
gone for good keeps collecting its share of the traffic, so a retired worker's session must be
removed (connect once with its client id and a clean start) or given an expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sqlite3
import subprocess
import threading
import time
import uuid
from collections import Counter
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

KILLS = 6
MAX_KILLS = 4 * KILLS
RATE_PER_S = 1500  # QoS 1 messages a second, for as long as the kills go on
GROUP = "ingest"
DEVICES = [f"obu-{n:03d}" for n in range(30)]
SEED = 20261204


class _Publisher(threading.Thread):
    """Publishes numbered QoS 1 envelopes at ``RATE_PER_S`` until ``stop`` is set."""

    def __init__(self, broker: Broker, stop: threading.Event, client_id: str) -> None:
        super().__init__(name="shared-test-publisher", daemon=True)
        self._broker = broker
        self._stop_event = stop
        self._client_id = client_id
        self.infos: list[tuple[tuple[str, int], mqtt.MQTTMessageInfo]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._publish()
        except BaseException as err:  # reported by the test, not lost in the thread
            self.error = err

    def _publish(self) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self._client_id)
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


def _redeliveries(log: Path | str, client_id: str) -> int:
    """PUBLISHes the broker sent ``client_id`` again (the dup flag) in its debug log (a path,
    or the text)."""
    text = log.read_text(errors="replace") if isinstance(log, Path) else log
    return text.count(f"Sending PUBLISH to {client_id} (d1")


def _worker_config(tmp_path: Path, name: str, broker: Broker, client_id: str) -> Path:
    conf = tmp_path / f"{name}.toml"
    conf.write_text(
        f'[mqtt]\nport = {broker.port}\nclient_id = "{client_id}"\n'
        f'[bridge]\nstore = "{tmp_path / (name + ".sqlite3")}"\nshare_group = "{GROUP}"\n'
    )
    return conf


def _start(conf: Path, log: Path) -> subprocess.Popen[bytes]:
    worker = roadgate("bridge", "--config", str(conf), log=log)
    wait_for_line(log, "subscribed to", worker, timeout=30)
    return worker


def test_two_workers_one_killed_store_every_message_once(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    unique = uuid.uuid4().hex[:8]
    ids = {"a": f"shared-a-{unique}", "b": f"shared-b-{unique}"}
    # The debug log shows each PUBLISH the broker sends, with its dup flag: the redeliveries.
    with private_mosquitto(tmp_path, extra_config="log_type debug\n") as broker:
        confs = {name: _worker_config(tmp_path, name, broker, ids[name]) for name in ids}
        survivor = _start(confs["b"], tmp_path / "b.log")
        killed = _start(confs["a"], tmp_path / "a-0.log")
        assert f"$share/{GROUP}/rg/v1/+/+/+" in (tmp_path / "a-0.log").read_text()
        stop = threading.Event()
        publisher = _Publisher(broker, stop, f"shared-publisher-{unique}")
        publisher.start()
        try:
            kill = 0
            # A kill may fall between two messages; more follow until one hits a message in
            # flight (the broker sends it again), so the test always covers a redelivery.
            while kill < KILLS or (
                kill < MAX_KILLS and not _redeliveries(broker.log_path, ids["a"])
            ):
                kill += 1
                time.sleep(rng.uniform(0.2, 0.6))  # a random moment in the stream
                killed.send_signal(signal.SIGKILL)
                assert killed.wait(timeout=10) == -signal.SIGKILL
                time.sleep(rng.uniform(0.0, 0.3))  # down for a while: the survivor takes all
                killed = _start(confs["a"], tmp_path / f"a-{kill}.log")
            time.sleep(0.5)
            stop.set()
            publisher.join(timeout=30)
            assert publisher.error is None, publisher.error
            published = len(publisher.infos)
            acknowledged = publisher.acknowledged()
            assert len(acknowledged) == published, "the broker did not acknowledge everything"
            assert published >= 3000, f"only {published} messages published"

            def union() -> set[tuple[str, int]]:
                return set(_stored(tmp_path / "a.sqlite3")) | set(_stored(tmp_path / "b.sqlite3"))

            with contextlib.suppress(AssertionError):  # the assertions below say what is missing
                asyncio.run(eventually(lambda: acknowledged <= union(), within_s=20))
        finally:
            stop.set()
            for worker in (killed, survivor):
                worker.send_signal(signal.SIGTERM)
            for worker in (killed, survivor):
                worker.wait(timeout=15)
        broker_log = broker.log_path.read_text(errors="replace")

    rows_a = _stored(tmp_path / "a.sqlite3")
    rows_b = _stored(tmp_path / "b.sqlite3")
    both = Counter(rows_a) + Counter(rows_b)
    lost = acknowledged - set(both)
    assert not lost, f"{len(lost)} of {published} acknowledged messages lost: {sorted(lost)[:10]}"
    twice = sorted(key for key, n in both.items() if n > 1)
    assert not twice, f"{len(twice)} messages stored by both workers: {twice[:10]}"
    assert set(both) == acknowledged  # nothing else
    # The group split the stream evenly although worker a was down now and then: the broker
    # queued a's share in its session meanwhile (round robin over sessions, not connections).
    assert abs(len(rows_a) - len(rows_b)) <= published // 100, (len(rows_a), len(rows_b))
    # The kills hit unacknowledged messages, which the broker sent again to the same worker.
    redelivered_a = _redeliveries(broker_log, ids["a"])
    redelivered_b = _redeliveries(broker_log, ids["b"])
    assert redelivered_a > 0, f"no kill of {kill} hit a message in flight"
    assert redelivered_b == 0
    print(
        f"kills={kill} published={published} worker_a={len(rows_a)} worker_b={len(rows_b)} "
        f"lost=0 twice=0 redelivered_to_killed={redelivered_a}"
    )
