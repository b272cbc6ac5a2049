"""A box killed with SIGKILL: the broker publishes its retained last will."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from protocols.envelope import decode
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.e2e.test_pipeline_end_to_end import PROJECT, box_config
from tests.support.mosquitto import Broker

pytestmark = [pytest.mark.mosquitto, pytest.mark.e2e]


def retained_status(broker: Broker, topic: str) -> pb.Envelope | None:
    """The retained message on ``topic``, read by a fresh subscriber."""
    got: list[bytes] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{time.monotonic_ns()}")
    client.on_message = lambda _c, _u, msg: got.append(bytes(msg.payload))
    client.connect(broker.host, broker.port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    deadline = time.monotonic() + 2
    while not got and time.monotonic() < deadline:
        time.sleep(0.02)
    client.loop_stop()
    client.disconnect()
    return decode(got[-1]) if got else None


def test_sigkill_leaves_a_retained_last_will(tmp_path: Path, mosquitto: Broker) -> None:
    config = box_config(tmp_path, "vehicle-toyota.toml", mosquitto)
    topic = "rg/v1/xian-gaoxin/veh-001/status"
    log = tmp_path / "veh.log"
    box = subprocess.Popen(
        [sys.executable, "-m", "firmware_py.cli", "run", "--config", str(config)],
        cwd=PROJECT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        birth = None
        while birth is None or birth.status.liveness != pb.LIVENESS_ONLINE:
            assert time.monotonic() < deadline, log.read_text()
            assert box.poll() is None, log.read_text()
            birth = retained_status(mosquitto, topic)
        box.send_signal(signal.SIGKILL)
        box.wait(timeout=10)
        deadline = time.monotonic() + 10
        will: pb.Envelope | None = birth
        while will is not None and will.status.liveness == pb.LIVENESS_ONLINE:
            assert time.monotonic() < deadline, "no last will after SIGKILL"
            will = retained_status(mosquitto, topic)
    finally:
        if box.poll() is None:
            box.kill()
            box.wait()
    assert will is not None
    assert will.status.liveness == pb.LIVENESS_LOST
    assert will.boot_id == birth.boot_id
