"""End to end: two boxes and the bridge as separate processes, a real Mosquitto, and an
independent subscriber that knows only the .proto file. What was sent is what was stored."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cloud_bridge.store.sqlite_store import SqliteStore
from firmware_py.config.loader import EXAMPLES_DIR
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.support.mosquitto import Broker
from tests.support.waiting import wait_until

PROJECT = Path(__file__).resolve().parents[2]
PROTO = PROJECT / "protocols" / "schema" / "v1" / "roadgate.proto"
RUN_S = 6.0

pytestmark = [pytest.mark.mosquitto, pytest.mark.e2e]


def roadgate(*args: str, log: Path) -> subprocess.Popen[bytes]:
    """Start ``roadgate ARGS`` as its own process, logging to ``log``."""
    return subprocess.Popen(
        [sys.executable, "-m", "firmware_py.cli", *args],
        cwd=PROJECT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def wait_for_line(path: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text(errors="replace"):
        if process.poll() is not None:
            raise AssertionError(f"process exited ({process.returncode}):\n{path.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {text!r} within {timeout} s:\n{path.read_text()}")
        time.sleep(0.05)


def box_config(tmp_path: Path, example: str, broker: Broker) -> Path:
    """A shipped example config pointed at the test broker, every stream at QoS 1."""
    text = (EXAMPLES_DIR / example).read_text()
    assert text.count("port = 1883") == 1
    text = text.replace(
        "port = 1883",
        f"port = {broker.port}\nqos = {{ state = 1, objects = 1, spat = 1, health = 1 }}",
    )
    text += f'\n[outbox]\npath = "{tmp_path / (example + ".outbox.sqlite3")}"\n'
    path = tmp_path / example
    path.write_text(text)
    return path


@pytest.fixture
def subscriber(tmp_path: Path, mosquitto: Broker) -> Iterator[Path]:
    output = tmp_path / "independent.jsonl"
    process = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("independent_subscriber.py")),
            str(PROTO),
            mosquitto.host,
            str(mosquitto.port),
            str(output),
        ],
        stdout=subprocess.PIPE,
        cwd=tmp_path,  # not the project: it must not import RoadGate's generated code
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == b"ready"
    yield output
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0


def _stored_statuses(store_path: Path) -> int:
    with SqliteStore(store_path) as store:
        return store.count_messages(stream="status")


def publish_bad_input(broker: Broker) -> None:
    """Three bad messages a broken or hostile device might send."""
    good = pb.Envelope(schema_version=1, device_id="veh-001", boot_id="b", sequence=1)
    good.health.uptime_s = 1.0
    wrong_version = pb.Envelope()
    wrong_version.CopyFrom(good)
    wrong_version.schema_version = 2
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bad-device")
    client.connect(broker.host, broker.port)
    client.loop_start()
    for topic, payload in [
        ("rg/v1/xian-gaoxin/veh-001/health", b"\x08\x01\xff\xff not protobuf"),
        ("rg/v1/xian-gaoxin/veh-001/health", wrong_version.SerializeToString()),
        ("rg/v1/xian-gaoxin/rsu-001/health", good.SerializeToString()),  # spoofs rsu-001
    ]:
        client.publish(topic, payload, qos=1).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


def test_what_boxes_send_is_what_the_bridge_stores(
    tmp_path: Path, mosquitto: Broker, subscriber: Path
) -> None:
    store_path = tmp_path / "bridge.sqlite3"
    bridge_conf = tmp_path / "bridge.toml"
    bridge_conf.write_text(
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mosquitto.port}\nclient_id = "e2e-bridge"\n'
        f'[bridge]\nstore = "{store_path}"\n'
    )
    bridge_log = tmp_path / "bridge.log"
    bridge = roadgate("bridge", "--config", str(bridge_conf), log=bridge_log)
    try:
        wait_for_line(bridge_log, "subscribed to rg/v1/+/+/+", bridge, timeout=30)
        boxes = {
            name: roadgate(
                "run",
                "--config",
                str(box_config(tmp_path, example, mosquitto)),
                "--duration",
                str(RUN_S),
                log=tmp_path / f"{name}.log",
            )
            for name, example in [("rsu", "roadside.toml"), ("veh", "vehicle-toyota.toml")]
        }
        for name, process in boxes.items():
            wait_for_line(tmp_path / f"{name}.log", "publishing to", process, timeout=30)
        publish_bad_input(mosquitto)  # while both boxes publish
        for name, process in boxes.items():
            status = process.wait(timeout=RUN_S + 30)
            assert status == 0, (tmp_path / f"{name}.log").read_text()
        # Each box's last message is its OFFLINE status: once the subscriber has both and the
        # bridge stored all four statuses, everything before them has arrived too.
        wait_until(
            lambda: (
                subscriber.read_text().count('"LIVENESS_OFFLINE"') == 2
                and _stored_statuses(store_path) == 4
            ),
            within_s=30,
            what="both boxes' OFFLINE statuses at the subscriber and in the store",
        )
    finally:
        bridge.send_signal(signal.SIGTERM)
        bridge_status = bridge.wait(timeout=15)
    assert bridge_status == 0, bridge_log.read_text()

    sent: dict[tuple[str, str, int], bytes] = {}
    decoded: dict[tuple[str, str, int], dict[str, Any]] = {}
    for line in subscriber.read_text().splitlines():
        record = json.loads(line)
        env = record["envelope"]
        if (
            env is None
            or env.get("device_id") not in ("veh-001", "rsu-001")
            or env.get("boot_id") == "b"
        ):
            continue  # the bad input above
        key = (env["device_id"], env["boot_id"], int(env["sequence"]))
        sent[key] = base64.b64decode(record["payload"])
        decoded[key] = env

    with SqliteStore(store_path) as store:
        stored = {(m.device_id, m.boot_id, m.sequence): m.payload for m in store.messages()}
        reasons = store.dead_letter_reasons()
        per_stream = {
            s: store.count_messages(stream=s)
            for s in ("state", "objects", "spat", "health", "status")
        }

    assert len(sent) > 50
    assert stored == sent, "the bridge stored something other than what the boxes sent"
    assert reasons == {"malformed": 1, "unknown_schema_version": 1, "device_mismatch": 1}
    assert all(count > 0 for count in per_stream.values()), per_stream
    assert "device_mismatch" in bridge_log.read_text(), "a reject must be logged with its reason"

    # The independent decoding agrees with the topic layout and the simulated world.
    states = [e for e in decoded.values() if "vehicle_state" in e]
    assert all(e["device_id"] == "veh-001" for e in states)
    assert any(float(e["vehicle_state"].get("speed_mps", 0)) > 1.0 for e in states)
    statuses = [e["status"]["liveness"] for e in decoded.values() if "status" in e]
    assert statuses.count("LIVENESS_ONLINE") == 2
    assert statuses.count("LIVENESS_OFFLINE") == 2

    # Health reports carry every stage's counters: the sensors really went through hal and
    # protocols (CAN frames decoded, NMEA lines parsed into fixes, radar cycles assembled).
    health = {e["device_id"]: e["health"]["counters"] for e in decoded.values() if "health" in e}
    veh, rsu = health["veh-001"], health["rsu-001"]
    assert int(veh["can.powertrain.rx_frames"]) > 0
    assert int(veh["serial.gnss.lines"]) > 0
    assert int(veh["pipeline.gnss_fixes"]) > 0
    assert int(rsu["radar.radar0.cycles"]) > 0
    assert int(rsu["pipeline.fused_lists"]) > 0
    assert int(rsu["perception.cycles"]) > 0
