"""``roadgate benchmark uplink``: the durable uplink against a bare paho-mqtt loop, same broker.

Throughput: N vehicle-state messages at QoS 1 through ``UplinkPublisher`` (sealed, committed to
the SQLite outbox, sent with a window of messages in flight, deleted when acknowledged), against
a bare paho-mqtt QoS 1 publish loop of the same payload size, in the same run. Each outbox
durability setting is measured, to show what ``full`` (fsync per commit) costs.

Latency: messages submitted at a steady rate; a subscriber process on the same broker stamps
arrival. Reported from submit (through the outbox) to the subscriber, both stamps from the same
wall clock, so it includes everything ours adds; every message counts (no warm-up dropped), and
a lost or duplicated one fails the run. Also reported from the producer's schedule: a stall of
the event loop delays the producer too, which the submit-based figure cannot show.

The process collects its garbage once before the latency run: a box measured hours after its
start has long done the first full collection that a fresh process does within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.identity import DeviceIdentity
from edge.uplink.outbox import Durability, SqliteOutbox
from edge.uplink.publisher import UplinkPublisher
from edge.uplink.settings import UplinkSettings
from firmware_py.errors import FirmwareError
from protocols.mqtt_connection import MqttConnection
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import Stream

PROJECT = Path(__file__).resolve().parents[2]

ALL_QOS1 = {stream: 1 for stream in Stream}


@dataclass(frozen=True)
class Latencies:
    """Per message, in ms: subscriber arrival minus submit, and minus the scheduled submit."""

    from_submit: list[float]
    from_schedule: list[float]


@dataclass(frozen=True)
class UplinkBenchResult:
    ours: float
    peer: float
    by_durability: dict[str, float]
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    schedule_p99_ms: float
    schedule_p999_ms: float
    messages: int
    latency_rate: int
    latency_messages: int
    latency_samples_ms: tuple[float, ...] = ()
    """Every message's submit-to-subscriber latency, ms (for ``bench all``'s plot; not in
    ``as_json``)."""

    @property
    def ratio(self) -> float:
        return self.ours / self.peer if self.peer else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "ours": round(self.ours, 1),
            "peer": round(self.peer, 1),
            "ratio": round(self.ratio, 3),
            "unit": "msg/s",
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "p999_ms": round(self.p999_ms, 3),
            "max_ms": round(self.max_ms, 3),
            "schedule_p99_ms": round(self.schedule_p99_ms, 3),
            "schedule_p999_ms": round(self.schedule_p999_ms, 3),
            "by_durability": {k: round(v, 1) for k, v in self.by_durability.items()},
            "messages": self.messages,
            "latency_rate": self.latency_rate,
            "latency_messages": self.latency_messages,
        }


@contextlib.contextmanager
def local_broker(host: str | None, port: int | None) -> Iterator[tuple[str, int]]:
    """The broker to measure against: the given one, or a private Mosquitto on a free port."""
    if host is not None and port is not None:
        yield host, port
        return
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        raise FirmwareError(
            "bench uplink needs a broker: pass --host/--port or install mosquitto "
            "(apt-get install mosquitto)"
        )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = int(probe.getsockname()[1])
    with tempfile.TemporaryDirectory(prefix="roadgate-bench-") as tmp:
        conf = Path(tmp) / "mosquitto.conf"
        # set_tcp_nodelay: without it the broker holds small messages back (Nagle) on their way
        # to the subscriber, and the latency measured would be the broker's, not ours.
        conf.write_text(
            f"listener {free} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "set_tcp_nodelay true\n"
        )
        process = subprocess.Popen(
            [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", free), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise FirmwareError("the private mosquitto did not start") from None
                    time.sleep(0.05)
            yield "127.0.0.1", free
        finally:
            process.terminate()
            process.wait(10)


def _payload() -> pb.VehicleState:
    return pb.VehicleState(
        position=pb.Position(latitude_deg=34.2235, longitude_deg=108.8905, altitude_m=410.0),
        speed_mps=13.3,
        heading_rad=1.0,
        yaw_rate_rad_s=0.01,
        brake_applied=False,
        turn_signal=pb.TURN_SIGNAL_OFF,
        length_m=4.6,
        width_m=1.8,
    )


async def _ours(host: str, port: int, n: int, durability: Durability, outbox_dir: Path) -> float:
    identity = DeviceIdentity("bench-ours", "bench", pb.DEVICE_ROLE_VEHICLE_GATEWAY)
    settings = UplinkSettings(MqttConnection(host=host, port=port), qos=ALL_QOS1)
    path = outbox_dir / f"outbox-{durability.value}.sqlite3"
    with SqliteOutbox(path, durability=durability) as outbox:
        uplink = UplinkPublisher(identity, settings, outbox)
        task = asyncio.create_task(uplink.run(), name="bench-uplink")
        try:
            await asyncio.wait_for(uplink.connected.wait(), 10)
            body = _payload()
            started = time.perf_counter()
            for i in range(n):
                uplink.submit(body, time.time_ns())
                if i % 256 == 255:
                    await asyncio.sleep(0)  # let the sender run, as a real producer would
            # Polling a counter: the publisher offers no event per message, by design.
            while uplink.published["state"] < n:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
            return n / (time.perf_counter() - started)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _peer(host: str, port: int, n: int, payload_size: int) -> float:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-paho")
    # Unbounded: paho's own bound walks every message in flight at each PUBACK (a third of
    # the peer's CPU at 256); the uplink runs paho unbounded too, behind its own window.
    client.max_inflight_messages_set(0)
    client.max_queued_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    try:
        payload = b"\x00" * payload_size
        started = time.perf_counter()
        infos = [client.publish("rg/v1/bench/bench-paho/state", payload, qos=1) for _ in range(n)]
        for info in infos:
            info.wait_for_publish(30)
        return n / (time.perf_counter() - started)
    finally:
        client.loop_stop()
        client.disconnect()


_SUBSCRIBER = """
import gc, sys, time
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from protocols.schema.v1 import roadgate_pb2 as pb
host, port, total, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
arrivals = []
def on_message(_c, _u, msg):
    arrived = time.time_ns()
    arrivals.append((msg.payload, arrived))
client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-latency-sub")
client.on_message = on_message
client.on_subscribe = lambda *_: print("ready", flush=True)
client.connect(host, port)
client.subscribe("rg/v1/bench/bench-latency/state", qos=1)
# The measuring instrument must not pause: nothing it keeps is cyclic garbage.
gc.collect()
gc.disable()
deadline = time.monotonic() + 600
while len(arrivals) < total and time.monotonic() < deadline:
    client.loop(0.05)
with open(out, "w") as f:
    for payload, arrived in arrivals:
        print(pb.Envelope.FromString(payload).sequence, arrived, file=f)
"""


async def _latency(host: str, port: int, rate: int, seconds: float, outbox_dir: Path) -> Latencies:
    """Submit-to-subscriber latencies at ``rate`` messages/s, and from the producer's schedule.

    The subscriber is a process of its own, so that it does not compete with the publisher for
    the interpreter: what is measured is our uplink plus the broker, not a shared GIL.
    """
    total = int(rate * seconds)
    out = outbox_dir / "latencies.txt"
    subscriber = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _SUBSCRIBER,
        host,
        str(port),
        str(total),
        str(out),
        stdout=asyncio.subprocess.PIPE,
        cwd=PROJECT,
    )
    identity = DeviceIdentity("bench-latency", "bench", pb.DEVICE_ROLE_VEHICLE_GATEWAY)
    settings = UplinkSettings(MqttConnection(host=host, port=port), qos=ALL_QOS1)
    submitted: dict[int, tuple[int, int]] = {}  # sequence -> (scheduled, submitted) ns
    try:
        assert subscriber.stdout is not None
        line = await asyncio.wait_for(subscriber.stdout.readline(), 30)
        if line.strip() != b"ready":
            raise FirmwareError("latency subscriber could not subscribe")
        with SqliteOutbox(outbox_dir / "latency.sqlite3") as outbox:
            uplink = UplinkPublisher(identity, settings, outbox)
            task = asyncio.create_task(uplink.run(), name="bench-latency-uplink")
            try:
                await asyncio.wait_for(uplink.connected.wait(), 10)
                body = _payload()
                gc.collect()
                loop = asyncio.get_running_loop()
                start = loop.time()
                start_ns = time.time_ns()
                for i in range(total):
                    await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
                    now = time.time_ns()
                    sequence = uplink.submit(body, now)
                    submitted[sequence] = (start_ns + i * 1_000_000_000 // rate, now)
                await asyncio.wait_for(subscriber.wait(), 30)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    finally:
        if subscriber.returncode is None:
            subscriber.kill()
            await subscriber.wait()
    text = out.read_text() if out.exists() else ""
    arrivals = [tuple(map(int, row.split())) for row in text.splitlines()]
    seen = [sequence for sequence, _ in arrivals]
    if len(set(seen)) != len(seen) or set(seen) != set(submitted):
        raise FirmwareError(
            f"latency run: {len(set(seen))} distinct of {len(submitted)} messages arrived, "
            f"{len(seen) - len(set(seen))} twice"
        )
    return Latencies(
        from_submit=[(t - submitted[seq][1]) / 1e6 for seq, t in arrivals],
        from_schedule=[(t - submitted[seq][0]) / 1e6 for seq, t in arrivals],
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(
    *, messages: int, latency_rate: int, latency_s: float, host: str | None, port: int | None
) -> UplinkBenchResult:
    """Run every measurement once, in one process, against one broker."""
    with local_broker(host, port) as (h, p), tempfile.TemporaryDirectory() as tmp:
        outbox_dir = Path(tmp)
        by_durability = {
            d.value: asyncio.run(_ours(h, p, messages, d, outbox_dir)) for d in Durability
        }
        envelope_size = len(pb.Envelope(vehicle_state=_payload()).SerializeToString()) + 60
        peer = _peer(h, p, messages, envelope_size)
        latencies = asyncio.run(_latency(h, p, latency_rate, latency_s, outbox_dir))
    submit = latencies.from_submit
    return UplinkBenchResult(
        ours=by_durability[Durability.NORMAL.value],
        peer=peer,
        by_durability=by_durability,
        p50_ms=_percentile(submit, 0.5),
        p99_ms=_percentile(submit, 0.99),
        p999_ms=_percentile(submit, 0.999),
        max_ms=max(submit),
        schedule_p99_ms=_percentile(latencies.from_schedule, 0.99),
        schedule_p999_ms=_percentile(latencies.from_schedule, 0.999),
        messages=messages,
        latency_rate=latency_rate,
        latency_messages=len(submit),
        latency_samples_ms=tuple(submit),
    )


def main(
    *,
    messages: int,
    latency_rate: int,
    latency_s: float,
    json_path: Path | None,
    host: str | None = None,
    port: int | None = None,
) -> int:
    """The CLI entry: print the results, write ``json_path``; returns the exit status."""
    result = run(
        messages=messages, latency_rate=latency_rate, latency_s=latency_s, host=host, port=port
    )
    print(f"uplink, QoS 1, {messages} messages, durable outbox vs bare paho-mqtt:")
    for name, rate in result.by_durability.items():
        print(f"  ours (outbox durability={name}): {rate:,.0f} msg/s")
    print(f"  peer (paho-mqtt publish loop):   {result.peer:,.0f} msg/s")
    print(f"  ratio (normal / peer): {result.ratio:.2f}")
    print(
        f"latency at {latency_rate} msg/s over {result.latency_messages:,} messages, submit to "
        f"subscriber: p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
        f"p99.9 {result.p999_ms:.2f} ms, max {result.max_ms:.2f} ms"
    )
    print(
        f"  from the producer's schedule (with event-loop stalls that delayed submitting): "
        f"p99 {result.schedule_p99_ms:.2f} ms, p99.9 {result.schedule_p999_ms:.2f} ms"
    )
    if json_path is not None:
        json_path.write_text(json.dumps(result.as_json(), indent=1) + "\n")
    return 0
