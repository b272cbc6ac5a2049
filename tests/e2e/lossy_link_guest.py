"""Runs INSIDE a user-mode-linux guest (its kernel has netem): a slow, lossy link.

Loopback gets 20 ms of delay and 10 % loss each way; a private Mosquitto, the bridge and a
box's uplink all run behind it. Prints one JSON line with what it measured; exits 0 when every
message was stored exactly once and memory stayed bounded, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT))

from cloud_bridge.service import BridgeService  # noqa: E402
from cloud_bridge.settings import BRIDGE_MQTT, BridgeSettings  # noqa: E402
from cloud_bridge.store.sqlite_store import SqliteStore  # noqa: E402
from edge.identity import DeviceIdentity  # noqa: E402
from edge.uplink.outbox import SqliteOutbox  # noqa: E402
from edge.uplink.publisher import UplinkPublisher  # noqa: E402
from edge.uplink.settings import UplinkSettings  # noqa: E402
from hil.uml import guest_modules  # noqa: E402
from protocols.mqtt_connection import MqttConnection  # noqa: E402
from protocols.schema.v1 import roadgate_pb2 as pb  # noqa: E402
from protocols.topics import Stream  # noqa: E402
from tests.support.mosquitto import private_mosquitto  # noqa: E402

MESSAGES = 1500
NETEM = ["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "20ms", "loss", "10%"]


def rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def scenario(port: int, workdir: Path) -> dict[str, object]:
    identity = DeviceIdentity("veh-lossy", "test", pb.DEVICE_ROLE_VEHICLE_GATEWAY)
    settings = UplinkSettings(
        MqttConnection(port=port, keepalive_s=10, reconnect_min_s=0.2, reconnect_max_s=2),
        qos={s: 1 for s in Stream},
        ack_timeout_s=10,
    )
    bridge_mqtt = replace(
        BRIDGE_MQTT, port=port, client_id="lossy-bridge", reconnect_min_s=0.2, reconnect_max_s=2
    )
    bridge = BridgeService(BridgeSettings(bridge_mqtt, workdir / "b.sqlite3"))
    ready = asyncio.Event()
    bridge_task = asyncio.create_task(bridge.run(ready))
    await asyncio.wait_for(ready.wait(), 60)
    with SqliteOutbox(workdir / "outbox.sqlite3") as outbox:
        uplink = UplinkPublisher(identity, settings, outbox)
        uplink_task = asyncio.create_task(uplink.run())
        try:
            started = time.monotonic()
            rss_start = rss_kib()
            for i in range(MESSAGES):
                body = pb.TrafficEvent(event_id=str(i)) if i % 50 == 0 else pb.VehicleState()
                uplink.submit(body, i)
                if i % 100 == 99:
                    await asyncio.sleep(0.05)
            rss_submitted = rss_kib()
            deadline = time.monotonic() + 240
            while bridge.stats.stored < MESSAGES and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            elapsed = time.monotonic() - started
            diagnostics = {
                "published": dict(uplink.published),
                "queued": uplink.queued,
                "uplink_connected": uplink.connected.is_set(),
                "bridge_received": bridge.stats.received,
            }
        finally:
            for task in (uplink_task, bridge_task):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    with SqliteStore(workdir / "b.sqlite3") as store:
        sequences = [m.sequence for m in store.messages("veh-lossy") if m.stream != "status"]
    return {
        "stored": len(sequences),
        "unique": len(set(sequences)),
        "expected": MESSAGES,
        "duplicates_seen": bridge.stats.duplicates,
        "seconds": round(elapsed, 1),
        "msg_per_s": round(MESSAGES / elapsed, 1),
        "rss_growth_kib": rss_submitted - rss_start,
        **diagnostics,
    }


def main() -> int:
    netem = guest_modules() / "kernel/net/sched/sch_netem.ko"
    subprocess.run(["insmod", str(netem)], check=False, capture_output=True)
    with tempfile.TemporaryDirectory() as tmp, private_mosquitto(Path(tmp)) as broker:
        subprocess.run(NETEM, check=True)
        try:
            # A TCP handshake crosses the delayed loopback twice: proof that netem is in effect.
            t0 = time.monotonic()
            socket.create_connection(("127.0.0.1", broker.port), timeout=30).close()
            connect_ms = (time.monotonic() - t0) * 1000
            result = asyncio.run(scenario(broker.port, Path(tmp)))
            result["connect_ms"] = round(connect_ms, 1)
        finally:
            subprocess.run(["tc", "qdisc", "del", "dev", "lo", "root"], check=False)
    print(json.dumps(result), flush=True)
    ok = result["stored"] == result["unique"] == result["expected"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
