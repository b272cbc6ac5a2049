"""A box whose outbox sits on a nearly full disk, during a broker outage: it keeps running
(evicting old telemetry, keeping safety events), and when the broker returns, messages flow and
every safety event of the outage arrives.

The disk is a real 4 MiB tmpfs with 200 KB left free, as a tester found it (needs root). The
box runs with the shipped defaults ([outbox] min_free_mb: 16), so the outbox is under its
free-space reserve from its first commit.
"""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from firmware_py.config.loader import EXAMPLES_DIR
from protocols.envelope import decode
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.e2e.test_pipeline_end_to_end import roadgate, wait_for_line
from tests.support.mosquitto import free_port, private_mosquitto
from tests.support.tmpfs import free_bytes, tiny_tmpfs

pytestmark = [pytest.mark.mosquitto, pytest.mark.e2e]

OUTAGE_S = 30.0
"""How long the box runs on the full disk with no broker: past the ~10 s the tester's box
lasted, and across a speeding episode of the simulated intersection (every 25 s)."""

LEFT_FREE = 200 * 1024


class Observer:
    """A persistent MQTT session on ``rg/v1/#``: the broker queues what arrives while it is
    away, so nothing the box sends right after the broker returns is missed."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[pb.Envelope] = []
        self._lock = threading.Lock()

    @contextmanager
    def connected(self) -> Iterator[None]:
        subscribed = threading.Event()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="disk-full-observer", clean_session=False
        )
        client.on_subscribe = lambda *_: subscribed.set()
        client.on_message = lambda _c, _u, message: self._add(bytes(message.payload))
        client.connect("127.0.0.1", self.port)
        client.subscribe("rg/v1/#", qos=1)
        client.loop_start()
        try:
            assert subscribed.wait(10), "the observer could not subscribe"
            yield
        finally:
            client.disconnect()
            client.loop_stop()

    def _add(self, payload: bytes) -> None:
        with self._lock:
            self.received.append(decode(payload))

    def envelopes(self) -> list[pb.Envelope]:
        with self._lock:
            return list(self.received)


def wait_until(
    condition: Callable[[], bool], what: str, timeout: float, box: subprocess.Popen[bytes]
) -> None:
    """Poll ``condition`` (other processes' state offers no event); the box must stay alive."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert box.poll() is None, f"the box died ({box.returncode})"
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.1)


def config(tmp_path: Path, port: int, outbox: Path) -> Path:
    """The shipped roadside unit, every stream at QoS 1, reconnecting within a second."""
    text = (EXAMPLES_DIR / "roadside.toml").read_text()
    assert text.count("port = 1883") == 1
    text = text.replace(
        "port = 1883",
        f"port = {port}\nreconnect_max_s = 1.0\n"
        "qos = { state = 1, objects = 1, spat = 1, health = 1 }",
    )
    text += f'\n[outbox]\npath = "{outbox}"\n'
    path = tmp_path / "roadside.toml"
    path.write_text(text)
    return path


@pytest.mark.timeout(180)
def test_a_box_on_a_full_disk_keeps_running_and_delivers_its_events_later(
    tmp_path: Path,
) -> None:
    port = free_port()
    observer = Observer(port)
    broker_dir = tmp_path / "broker"
    broker_dir.mkdir()
    with private_mosquitto(broker_dir, port=port, persistent=True), observer.connected():
        pass  # the session now exists: the restarted broker queues for it

    with tiny_tmpfs(tmp_path / "disk", 4096) as disk:
        filler = disk / "other-data"
        filler.write_bytes(bytes(free_bytes(disk) - LEFT_FREE))
        log = tmp_path / "box.log"
        box = roadgate("run", "--config", str(config(tmp_path, port, disk / "outbox")), log=log)
        try:
            wait_for_line(log, "publishing to", box, timeout=30)
            started = time.monotonic()
            wait_for_line(log, "filesystem nearly full", box, timeout=30)
            lowest = free_bytes(disk)
            # Running on the full disk, the broker away: alive all along, never out of space.
            wait_until(
                lambda: time.monotonic() - started > OUTAGE_S,
                "the outage",
                OUTAGE_S + 10,
                box,
            )
            lowest = min(lowest, free_bytes(disk))
            text = log.read_text()
            assert "Traceback" not in text, text
            assert "commit failed" not in text, "the reserve should prevent SQLITE_FULL"
            events_then = re.findall(r"rsu-001: object \d+ at \d+ km/h", text)
            assert events_then, "the simulated intersection should have had a speeding car"

            with private_mosquitto(broker_dir, port=port, persistent=True), observer.connected():

                def delivered() -> tuple[set[str], list[pb.Envelope], list[pb.Envelope]]:
                    mine = [e for e in observer.envelopes() if e.device_id == "rsu-001"]
                    events = {e.event.event_id for e in mine if e.HasField("event")}
                    live = [e for e in mine if e.HasField("object_list") and not e.historical]
                    health = [e for e in mine if e.HasField("health")]
                    return events, live, health

                wanted = {f"rsu-001-speeding-{n}" for n in range(1, len(events_then) + 1)}

                def recovered() -> bool:
                    events, live, health = delivered()
                    counted = any(
                        h.health.counters.get("uplink.outbox.evicted_for.disk_space", 0) > 0
                        for h in health
                    )
                    return wanted <= events and len(live) > 20 and counted

                wait_until(recovered, "events, live objects and health after recovery", 60, box)
            box.send_signal(signal.SIGTERM)
            assert box.wait(timeout=30) == 0, log.read_text()
        finally:
            if box.poll() is None:
                box.kill()
                box.wait()
    events, live, health = delivered()
    counters = max(
        (h.health.counters for h in health),
        key=lambda c: c.get("uplink.outbox.evicted_for.disk_space", 0),
    )
    uplink = {k: v for k, v in counters.items() if "evicted" in k or "outbox" in k}
    print(
        f"box on a full disk: ran {OUTAGE_S:.0f} s with no broker, lowest free space "
        f"{lowest} bytes; health: {uplink}; delivered after recovery: "
        f"{len(events)} events ({len(events_then)} logged during the outage), "
        f"{len(live)} live object lists"
    )
    assert "Traceback" not in log.read_text()
    assert lowest > 0
