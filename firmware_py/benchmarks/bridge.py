"""``roadgate benchmark bridge``: bridge workers against a bare paho-mqtt subscriber, same broker.

Simulated devices publish sealed Envelopes (vehicle states, as a box seals them: boot id,
sequence, capture and publish times, clock label) at QoS 1 to a private Mosquitto on a free port.
Everything runs in processes of its own (publishers, workers, the peer), as it would in a
deployment, so no part shares an interpreter lock with another.

Capacity: a backlog of ``backlog`` messages is queued in the broker for the consumer's
persistent session(s) first, then drained: by the peer (a bare paho-mqtt client that only
counts, acknowledging as paho does), by one bridge worker, and by two workers of a share group
(``$share/...``), each decoding, validating, deduping and storing. The rate is the messages
taken over the time from the consumer's connection to its last commit (the peer: its last
message), so the publishers' speed does not enter it.

Live: ``devices`` at ``rate_hz`` (1,000 at 10 Hz: 10,000 msg/s offered) for ``seconds``, into one
worker, then two. Reported: the stored rate, publish-to-committed latency (the Envelope's
publish time to the commit of the batch that held it, one wall clock), lost (published and
acknowledged by the broker but not stored) and duplicated (a key stored twice: with SQLite each
worker has a file of its own, so a key in two files; a shared PostgreSQL store dedupes itself).

CPU: each worker's own, and with a PostgreSQL server on this host its server process's (the
backend serving the worker's store connection, found by its ``application_name``, read from
``/proc``): per 1,000 messages stored, for one worker draining.

Scale-out at a quota (``worker_cpu``): the drains by one and by two workers again, each worker
process held to that share of one CPU by a cgroup of its own (``CpuQuota``, the CFS quota a
container's CPU limit is), the broker and the database server not held. On a machine whose
cores one unlimited worker and its server already fill, this is how a second worker on a
machine of its own is stood in for: it shows whether the workers' throughput adds up or
something they share (the broker's share group, the database's locks) holds it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.synchronize
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.context import SpawnContext
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from psycopg.conninfo import make_conninfo

from cloud_bridge.service import BridgeService
from cloud_bridge.session import SESSION_NEVER_EXPIRES, topic_filter
from cloud_bridge.settings import BRIDGE_MQTT, BridgeSettings
from cloud_bridge.store import SqliteStore, StoredMessage
from cloud_bridge.validation import Accepted
from firmware_py.benchmarks.cpu_quota import CpuQuota
from firmware_py.errors import FirmwareError
from protocols.envelope import seal
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import Stream, Topic

UNIT = "msg/s"
GROUP = "bench"
PUBLISHERS = 2
"""Publisher processes: one Python paho client publishes some 15,000 QoS 1 msg/s here."""

STALL_S = 30.0
"""A run ends when the workers stored nothing for this long: what is missing then is lost."""

# Mosquitto as shipped (firmware_py/deploy/mosquitto/roadgate.conf) as far as throughput goes,
# with room for a whole backlog per session.
_BROKER_CONF = """listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages 1000
set_tcp_nodelay true
log_dest none
"""


@dataclass(frozen=True, slots=True)
class BenchSizes:
    """How much load: ``devices`` at ``rate_hz`` for ``seconds`` live, ``backlog`` drained."""

    devices: int = 1000
    rate_hz: float = 10.0
    seconds: float = 10.0
    backlog: int = 100_000
    store_dsn: str | None = None
    worker_cpu: float | None = None
    """With a share of one CPU: the scale-out drains again, each worker held to it."""

    def __post_init__(self) -> None:
        if self.devices < 1 or self.backlog < 1:
            raise ValueError("devices and backlog must be >= 1")
        if not (self.rate_hz > 0 and self.seconds > 0):
            raise ValueError("rate_hz and seconds must be > 0")
        if self.worker_cpu is not None and not 0 < self.worker_cpu <= 1:
            raise ValueError(f"worker_cpu is a share of one CPU in (0, 1], not {self.worker_cpu}")

    @property
    def offered(self) -> float:
        """Messages a second offered in the live runs."""
        return self.devices * self.rate_hz


@dataclass(frozen=True, slots=True)
class LiveResult:
    """One live run: what was published, stored, and how long it took to be committed."""

    workers: int
    published: int
    offered_rate: float
    stored_rate: float
    p50_ms: float
    p99_ms: float
    lost: int
    duplicated: int


@dataclass(frozen=True, slots=True)
class QuotaScale:
    """Drain rates (msg/s) of one and two workers, each held to ``worker_cpu`` of a CPU."""

    worker_cpu: float
    one: float
    two: float

    @property
    def ratio(self) -> float:
        return self.two / self.one if self.one else 0.0


@dataclass(frozen=True, slots=True)
class BridgeBenchResult:
    """Drain rates (msg/s) of the peer, one worker and two; the live runs; losses over all."""

    peer: float
    ours: float
    ours_2: float
    peer_per_cpu_s: float
    ours_per_cpu_s: float
    ours_backend_cpu_s: float | None
    """One worker's PostgreSQL backend: CPU seconds while draining (None: SQLite, or a server
    on another host)."""
    ours_stored: int
    live: list[LiveResult]
    lost: int
    duplicated: int
    redelivered: int
    sizes: BenchSizes
    at_quota: QuotaScale | None = None

    @property
    def ratio(self) -> float:
        return self.ours / self.peer if self.peer else 0.0

    @property
    def workers_2_ratio(self) -> float:
        return self.ours_2 / self.ours if self.ours else 0.0

    @property
    def worker_cpu_ms_per_1k(self) -> float:
        """One worker's CPU per 1,000 messages stored, ms."""
        return 1e6 / self.ours_per_cpu_s if self.ours_per_cpu_s else 0.0

    @property
    def backend_cpu_ms_per_1k(self) -> float | None:
        """Its PostgreSQL backend's CPU per 1,000 messages stored, ms."""
        if self.ours_backend_cpu_s is None or not self.ours_stored:
            return None
        return 1e6 * self.ours_backend_cpu_s / self.ours_stored

    @property
    def p99_ms(self) -> float:
        """The one-worker live run's p99 latency."""
        return self.live[0].p99_ms

    def as_json(self) -> dict[str, Any]:
        return {
            "ours": round(self.ours, 1),
            "peer": round(self.peer, 1),
            "ratio": round(self.ratio, 3),
            "unit": UNIT,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "p99_ms": round(self.p99_ms, 2),
            "workers_2_ratio": round(self.workers_2_ratio, 3),
            "ours_2_workers": round(self.ours_2, 1),
            "peer_per_cpu_s": round(self.peer_per_cpu_s, 1),
            "ours_per_cpu_s": round(self.ours_per_cpu_s, 1),
            "worker_cpu_ms_per_1k": round(self.worker_cpu_ms_per_1k, 2),
            "backend_cpu_ms_per_1k": _rounded(self.backend_cpu_ms_per_1k),
            "redelivered": self.redelivered,
            "live": [
                {
                    "workers": run.workers,
                    "published": run.published,
                    "offered_rate": round(run.offered_rate, 1),
                    "stored_rate": round(run.stored_rate, 1),
                    "p50_ms": round(run.p50_ms, 2),
                    "p99_ms": round(run.p99_ms, 2),
                    "lost": run.lost,
                    "duplicated": run.duplicated,
                }
                for run in self.live
            ],
            "devices": self.sizes.devices,
            "rate_hz": self.sizes.rate_hz,
            "seconds": self.sizes.seconds,
            "backlog": self.sizes.backlog,
            "store": "postgresql" if self.sizes.store_dsn else "sqlite",
            "worker_cpu": None if self.at_quota is None else self.at_quota.worker_cpu,
            "ours_at_quota": None if self.at_quota is None else round(self.at_quota.one, 1),
            "ours_2_at_quota": None if self.at_quota is None else round(self.at_quota.two, 1),
            "workers_2_ratio_at_quota": (
                None if self.at_quota is None else round(self.at_quota.ratio, 3)
            ),
        }


def format_result(result: BridgeBenchResult) -> str:
    """A few lines for the terminal."""
    lines = [
        f"drain  peer (bare paho, counts only): {result.peer:9.0f} {UNIT}",
        f"drain  1 bridge worker:               {result.ours:9.0f} {UNIT}  "
        f"({result.ratio:.2f}x the peer)",
        f"drain  2 bridge workers (shared):     {result.ours_2:9.0f} {UNIT}  "
        f"({result.workers_2_ratio:.2f}x one worker)",
        f"per CPU second: peer {result.peer_per_cpu_s:.0f}, one worker "
        f"{result.ours_per_cpu_s:.0f} messages (what sizing uses: the machine may be shared)",
    ]
    backend = result.backend_cpu_ms_per_1k
    if backend is not None:
        worker = result.worker_cpu_ms_per_1k
        lines.append(
            f"CPU per 1,000 messages, one worker draining: worker {worker:.1f} ms, its "
            f"PostgreSQL backend {backend:.1f} ms ({backend / worker if worker else 0.0:.2f}x)"
        )
    if (quota := result.at_quota) is not None:
        lines.append(
            f"drain  each worker held to {quota.worker_cpu:.2f} CPU: 1 worker {quota.one:.0f}, "
            f"2 workers {quota.two:.0f} {UNIT} ({quota.ratio:.2f}x one worker)"
        )
    for run in result.live:
        lines.append(
            f"live   {run.workers} worker(s): offered {run.offered_rate:7.0f}, stored "
            f"{run.stored_rate:7.0f} {UNIT}; publish-to-committed p50 {run.p50_ms:.1f} ms, "
            f"p99 {run.p99_ms:.1f} ms; lost {run.lost}, duplicated {run.duplicated}"
        )
    lines.append(
        f"lost {result.lost}, duplicated {result.duplicated} over all runs "
        f"(redeliveries absorbed by the stores: {result.redelivered})"
    )
    return "\n".join(lines)


def run_bridge_bench(sizes: BenchSizes, workdir: Path | None = None) -> BridgeBenchResult:
    """Run every measurement against a private Mosquitto. Raises ``FirmwareError`` when there
    is no Mosquitto or a process fails."""
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rg-bench-")))
        port = stack.enter_context(_private_mosquitto(workdir))
        bench = _Bench(sizes, workdir, port)
        peer, peer_cpu = bench.peer_drain()
        one = bench.bridge_drain(workers=1)
        two = bench.bridge_drain(workers=2)
        live = [bench.live(workers=1), bench.live(workers=2)]
        quota_drains = []
        if sizes.worker_cpu is not None:
            quota_drains = [bench.bridge_drain(n, sizes.worker_cpu) for n in (1, 2)]
    at_quota = None
    if sizes.worker_cpu is not None:
        at_quota = QuotaScale(sizes.worker_cpu, quota_drains[0].rate, quota_drains[1].rate)
    drains = [one, two, *quota_drains]
    return BridgeBenchResult(
        peer=peer,
        ours=one.rate,
        ours_2=two.rate,
        peer_per_cpu_s=peer_cpu,
        ours_per_cpu_s=one.per_cpu_s,
        ours_backend_cpu_s=one.backend_cpu_s,
        ours_stored=one.stored,
        live=live,
        lost=sum(d.lost for d in drains) + sum(run.lost for run in live),
        duplicated=sum(d.duplicated for d in drains) + sum(run.duplicated for run in live),
        redelivered=sum(d.redelivered for d in drains) + bench.live_redelivered,
        sizes=sizes,
        at_quota=at_quota,
    )


@contextlib.contextmanager
def _private_mosquitto(workdir: Path) -> Iterator[int]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        raise FirmwareError("bench bridge needs mosquitto (apt-get install mosquitto)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    conf = workdir / "mosquitto.conf"
    conf.write_text(_BROKER_CONF.format(port=port))
    broker = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if broker.poll() is not None or time.monotonic() > deadline:
                    raise FirmwareError(f"mosquitto did not start on port {port}") from None
                time.sleep(0.05)
        yield port
    finally:
        broker.terminate()
        broker.wait(timeout=10)


@dataclass(frozen=True, slots=True)
class _Drain:
    """One drain by bridge workers: msg/s, messages per CPU second of a worker, its PostgreSQL
    backends' CPU seconds (None when not readable), stored, lost, duplicated, redelivered."""

    rate: float
    per_cpu_s: float
    backend_cpu_s: float | None
    stored: int
    lost: int
    duplicated: int
    redelivered: int


@dataclass
class _WorkerReport:
    """What a worker process sends back: when it connected, its CPU time (and its PostgreSQL
    backend's, when readable), each commit's time, each stored message's publish-to-committed
    latency, and its counts."""

    connected_ns: int
    cpu_s: float
    backend_cpu_s: float | None
    commits_ns: list[int]
    latencies_ms: list[float]
    stored: int
    duplicates: int
    store_path: Path


@dataclass
class _Bench:
    """The runs against one broker; each run publishes to a region of its own."""

    sizes: BenchSizes
    workdir: Path
    port: int
    live_redelivered: int = 0
    _runs: int = 0
    _token: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    _ctx: SpawnContext = field(default_factory=lambda: multiprocessing.get_context("spawn"))

    def _region(self) -> str:
        # Unique per run: a PostgreSQL store may hold earlier runs' rows.
        self._runs += 1
        return f"bench-{self._token}-{self._runs}"

    def peer_drain(self) -> tuple[float, float]:
        """Drain a backlog with the bare paho subscriber: (msg/s, msg per CPU second)."""
        region = self._region()
        client_id = f"bench-peer-{uuid.uuid4().hex[:8]}"
        flt = f"rg/v1/{region}/+/+"
        _create_session(self.port, client_id, flt)
        rounds = self._publish_backlog(region)
        out: Queue[tuple[int, int, int, float]] = self._ctx.Queue()
        process = self._ctx.Process(
            target=_peer_main, args=(self.port, client_id, rounds * self.sizes.devices, out)
        )
        process.start()
        connected_ns, last_ns, count, cpu_s = _get(out, process, timeout=600)
        process.join(30)
        return _rate(count, connected_ns, last_ns), count / cpu_s if cpu_s else 0.0

    def bridge_drain(self, workers: int, worker_cpu: float | None = None) -> _Drain:
        """Drain a backlog with ``workers`` workers (each held to ``worker_cpu`` of a CPU)."""
        region = self._region()
        settings = self._settings(region, workers)
        for each in settings:
            _create_session(self.port, each.mqtt.client_id or "", topic_filter(each))
        rounds = self._publish_backlog(region)
        expected = rounds * self.sizes.devices
        reports = self._run_workers(settings, expected, publish=None, worker_cpu=worker_cpu)
        stored = _read_stores(settings, region)
        lost, duplicated = _losses(stored, self.sizes.devices, rounds)
        start = min(r.connected_ns for r in reports)
        end = max(r.commits_ns[-1] for r in reports if r.commits_ns)
        stored_total = sum(r.stored for r in reports)
        cpu_s = sum(r.cpu_s for r in reports)
        backends = [r.backend_cpu_s for r in reports]
        return _Drain(
            rate=_rate(stored_total, start, end),
            per_cpu_s=stored_total / cpu_s if cpu_s else 0.0,
            backend_cpu_s=None if None in backends else sum(b or 0.0 for b in backends),
            stored=stored_total,
            lost=lost,
            duplicated=duplicated,
            redelivered=sum(r.duplicates for r in reports),
        )

    def live(self, workers: int) -> LiveResult:
        """``devices`` at ``rate_hz`` for ``seconds`` into ``workers`` workers."""
        region = self._region()
        settings = self._settings(region, workers)
        rounds = max(1, round(self.sizes.rate_hz * self.sizes.seconds))
        reports = self._run_workers(
            settings, rounds * self.sizes.devices, publish=(region, rounds, self.sizes.rate_hz)
        )
        stored = _read_stores(settings, region)
        lost, duplicated = _losses(stored, self.sizes.devices, rounds)
        first_publish = min((m.publish_time_ns for ms in stored for m in ms), default=0)
        last_commit = max((c for r in reports for c in r.commits_ns), default=0)
        latencies = [ms for r in reports for ms in r.latencies_ms]
        self.live_redelivered += sum(r.duplicates for r in reports)
        published = rounds * self.sizes.devices
        return LiveResult(
            workers=workers,
            published=published,
            offered_rate=self.sizes.offered,
            stored_rate=_rate(sum(r.stored for r in reports), first_publish, last_commit),
            p50_ms=statistics.median(latencies) if latencies else float("nan"),
            p99_ms=_percentile(latencies, 0.99),
            lost=lost,
            duplicated=duplicated,
        )

    def _settings(self, region: str, workers: int) -> list[BridgeSettings]:
        unique = uuid.uuid4().hex[:8]
        result = []
        for n in range(workers):
            client_id = f"bench-{unique}-{n}"
            mqtt_settings = replace(BRIDGE_MQTT, port=self.port, client_id=client_id)
            dsn = self.sizes.store_dsn
            settings = BridgeSettings(
                mqtt_settings,
                self.workdir / f"{region}-worker{n}.sqlite3",
                region=region,
                share_group=GROUP if workers > 1 else None,
                # Named, so that the worker finds the server process serving it.
                store_dsn=None if dsn is None else make_conninfo(dsn, application_name=client_id),
            )
            result.append(settings)
        return result

    def _publish_backlog(self, region: str) -> int:
        """Queue ``backlog`` messages (whole rounds of every device); returns the rounds."""
        rounds = max(1, self.sizes.backlog // self.sizes.devices)
        self._publish(region, rounds, rate_hz=None)
        return rounds

    def _publish(self, region: str, rounds: int, rate_hz: float | None) -> None:
        out: Queue[int] = self._ctx.Queue()
        processes = []
        for n in range(PUBLISHERS):
            devices = [f"veh-{d:05d}" for d in range(n, self.sizes.devices, PUBLISHERS)]
            process = self._ctx.Process(
                target=_publisher_main, args=(self.port, region, devices, rounds, rate_hz, out)
            )
            process.start()
            processes.append(process)
        for process in processes:
            _get(out, process, timeout=600)
            process.join(30)

    def _run_workers(
        self,
        settings: Sequence[BridgeSettings],
        expected: int,
        publish: tuple[str, int, float] | None,
        worker_cpu: float | None = None,
    ) -> list[_WorkerReport]:
        total: Synchronized[int] = self._ctx.Value("q", 0)
        go = self._ctx.Event()
        stop = self._ctx.Event()
        ready = self._ctx.Semaphore(0)
        out: Queue[_WorkerReport] = self._ctx.Queue()
        processes = [
            self._ctx.Process(target=_worker_main, args=(each, go, stop, ready, total, out))
            for each in settings
        ]
        with contextlib.ExitStack() as quotas:
            for n, process in enumerate(processes):
                process.start()
                if worker_cpu is not None:
                    # Before ``go``: the worker connects, and its backlog flows, inside its quota.
                    name = f"rg-bench-{self._token}-{self._runs}-w{n}"
                    # (pid 0 would move this process in: started, a process has its pid)
                    assert process.pid is not None
                    quotas.enter_context(CpuQuota(name, worker_cpu)).add(process.pid)
            try:
                go.set()
                for _ in processes:
                    if not ready.acquire(timeout=60):
                        raise FirmwareError("a bridge worker did not subscribe within 60 s")
                if publish is not None:
                    self._publish(publish[0], publish[1], publish[2])
                # Wait as long as the workers make progress: a slow store is measured, not cut
                # short (what it had not stored yet would count as lost).
                progress, stalled_at = -1, time.monotonic()
                while total.value < expected and time.monotonic() - stalled_at < STALL_S:
                    if any(p.exitcode not in (None, 0) for p in processes):
                        raise FirmwareError("a bridge worker failed")
                    if total.value != progress:
                        progress, stalled_at = total.value, time.monotonic()
                    time.sleep(0.05)
            finally:
                stop.set()
            reports = [_get(out, process, timeout=60) for process in processes]
            for process in processes:
                process.join(30)
        # Reports arrive in the order the workers stopped: put them back in settings' order.
        order = {each.store_path: n for n, each in enumerate(settings)}
        return sorted(reports, key=lambda r: order[r.store_path])


T = TypeVar("T")


def _get(out: Queue[T], process: multiprocessing.process.BaseProcess, timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            return out.get(timeout=0.2)
        if process.exitcode not in (None, 0) or time.monotonic() > deadline:
            raise FirmwareError(f"bench process {process.name} failed ({process.exitcode})")


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _rate(count: int, start_ns: int, end_ns: int) -> float:
    return count / ((end_ns - start_ns) / 1e9) if end_ns > start_ns else 0.0


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _read_stores(settings: Sequence[BridgeSettings], region: str) -> list[list[StoredMessage]]:
    """The rows of each worker's store (one list for a shared PostgreSQL store)."""
    if settings[0].store_dsn is not None:
        from cloud_bridge.store import open_store

        with open_store(settings[0]) as store:
            return [store.messages(region=region)]
    result = []
    for each in settings:
        with SqliteStore(each.store_path) as store:
            result.append(store.messages())
    return result


def _losses(stored: list[list[StoredMessage]], devices: int, rounds: int) -> tuple[int, int]:
    """(lost, duplicated): keys published and not stored; keys stored more than once."""
    counts = Counter((m.device_id, m.sequence) for messages in stored for m in messages)
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    return devices * rounds - len(counts), duplicated


def _create_session(port: int, client_id: str, topic_filter_: str) -> None:
    """Open ``client_id``'s persistent session with its subscription, so a backlog queues."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = SESSION_NEVER_EXPIRES
    client.connect("127.0.0.1", port, clean_start=False, properties=properties)
    client.loop_start()
    try:
        client.subscribe(topic_filter_, qos=1)
        done = client.publish(f"rg/bench/{client_id}", b"", qos=1)  # after the SUBACK, in order
        done.wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


def _publisher_main(
    port: int,
    region: str,
    devices: list[str],
    rounds: int,
    rate_hz: float | None,
    out: Queue[int],
) -> None:
    """Publish ``rounds`` vehicle states of each device at QoS 1 (paced at ``rate_hz`` each,
    or as fast as the broker takes them); report how many when the broker acknowledged all."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    boot = str(uuid.uuid4())
    topics = [str(Topic(region, device, Stream.STATE)) for device in devices]
    envelopes = [_template(device, boot) for device in devices]
    per_round = len(devices)
    infos = []
    started = time.monotonic()
    try:
        for index in range(rounds * per_round):
            if rate_hz is not None:
                due = started + index / (per_round * rate_hz)
                if (wait := due - time.monotonic()) > 0:
                    time.sleep(wait)
            n = index % per_round
            envelope = envelopes[n]
            envelope.sequence = index // per_round + 1
            now = time.time_ns()
            envelope.capture_time_ns = now - 20_000_000
            envelope.publish_time_ns = now
            envelope.vehicle_state.speed_mps = 10.0 + index % 20
            infos.append(client.publish(topics[n], envelope.SerializeToString(), qos=1))
        for info in infos:
            info.wait_for_publish(timeout=120)
    finally:
        client.disconnect()
        client.loop_stop()
    out.put(len(infos))


def _template(device: str, boot: str) -> pb.Envelope:
    """A vehicle state as a box seals it (positions around Xi'an's Bell Tower)."""
    body = pb.VehicleState(
        position=pb.Position(
            latitude_deg=34.2610,
            longitude_deg=108.9423,
            altitude_m=400.0,
            horizontal_accuracy_m=1.5,
            fix_quality=pb.FIX_QUALITY_GNSS,
            satellites=14,
        ),
        speed_mps=12.0,
        heading_rad=1.2,
        yaw_rate_rad_s=0.01,
        longitudinal_accel_mps2=0.3,
        lateral_accel_mps2=0.05,
        gear=pb.GEAR_DRIVE,
        turn_signal=pb.TURN_SIGNAL_OFF,
        length_m=4.8,
        width_m=1.9,
        speed_accuracy_mps=0.1,
        heading_accuracy_rad=0.02,
    )
    return seal(
        body,
        device_id=device,
        boot_id=boot,
        sequence=1,
        capture_time_ns=0,
        publish_time_ns=0,
        clock_source=pb.CLOCK_SOURCE_GNSS,
        clock_max_error_s=0.001,
    )


def _peer_main(
    port: int, client_id: str, expected: int, out: Queue[tuple[int, int, int, float]]
) -> None:
    """The peer: resume the session, count the backlog's messages (paho acknowledges them)."""
    state = {"count": 0, "last": 0}
    finished = threading.Event()

    def on_message(_client: mqtt.Client, _userdata: object, _message: mqtt.MQTTMessage) -> None:
        state["count"] += 1
        if state["count"] >= expected:
            state["last"] = time.time_ns()
            finished.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.on_message = on_message
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = SESSION_NEVER_EXPIRES
    connected_ns = time.time_ns()
    cpu_s = time.process_time()
    client.connect("127.0.0.1", port, clean_start=False, properties=properties)
    client.loop_start()
    finished.wait(timeout=600)
    cpu_s = time.process_time() - cpu_s
    client.disconnect()
    client.loop_stop()
    out.put((connected_ns, state["last"], state["count"], cpu_s))


class _CommitRecorder:
    """``BridgeService``'s ``on_stored``: called after each batch's commit with what it stored;
    stamps the commit and each message's publish-to-committed latency."""

    def __init__(self) -> None:
        self.commits_ns: list[int] = []
        self.latencies_ms: list[float] = []

    def __call__(self, stored: list[tuple[Accepted, int]]) -> None:
        now = time.time_ns()
        self.commits_ns.append(now)
        self.latencies_ms.extend((now - a.envelope.publish_time_ns) / 1e6 for a, _ in stored)


def _worker_main(
    settings: BridgeSettings,
    go: multiprocessing.synchronize.Event,
    stop: multiprocessing.synchronize.Event,
    ready: multiprocessing.synchronize.Semaphore,
    total: Synchronized[int],
    out: Queue[_WorkerReport],
) -> None:
    """One bridge worker: wait for ``go``, ingest until ``stop``, report."""
    go.wait()
    out.put(asyncio.run(_worker(settings, stop, ready, total)))


async def _worker(
    settings: BridgeSettings,
    stop: multiprocessing.synchronize.Event,
    ready: multiprocessing.synchronize.Semaphore,
    total: Synchronized[int],
) -> _WorkerReport:
    clock = _CommitRecorder()
    service = BridgeService(settings, on_stored=clock)
    subscribed = asyncio.Event()
    connected_ns = time.time_ns()
    cpu_s = time.process_time()
    task = asyncio.create_task(service.run(subscribed), name="bench-bridge-worker")
    await asyncio.wait_for(subscribed.wait(), 60)
    backend = _BackendCpu.find(settings)
    ready.release()
    counted = 0
    while not stop.is_set():
        await asyncio.sleep(0.05)
        if backend is not None:
            backend.read()
        stored = service.stats.stored
        with total.get_lock():
            total.value += stored - counted
        counted = stored
        if task.done():
            task.result()  # raises what stopped it
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return _WorkerReport(
        connected_ns=connected_ns,
        cpu_s=time.process_time() - cpu_s,
        backend_cpu_s=None if backend is None else backend.used_s,
        commits_ns=clock.commits_ns,
        latencies_ms=clock.latencies_ms,
        stored=service.stats.stored,
        duplicates=service.stats.duplicates,
        store_path=settings.store_path,
    )


class _BackendCpu:
    """The CPU time of the PostgreSQL server processes serving a worker's store (its
    connections: the store's and its batch writer's), from ``/proc`` (a server on this host, its
    processes readable): what they used since they were found."""

    def __init__(self, stats: list[Path]) -> None:
        self._stats = stats
        self._first = self._last = self._cpu_s()

    @classmethod
    def find(cls, settings: BridgeSettings) -> _BackendCpu | None:
        """The backends of the store connections named ``settings.mqtt.client_id``; None when
        the store is SQLite or a process cannot be read."""
        if settings.store_dsn is None:
            return None
        with psycopg.connect(settings.store_dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND pid <> "
                "pg_backend_pid()",
                (settings.mqtt.client_id,),
            ).fetchall()
        if not rows:
            return None
        stats = [Path(f"/proc/{row[0]}/stat") for row in rows]
        try:
            # A server on another host has its own process ids: these must be PostgreSQL's.
            if any(
                stat.read_text().split(" (", 1)[1].split(")", 1)[0] != "postgres" for stat in stats
            ):
                return None
            return cls(stats)
        except (OSError, ValueError, IndexError):
            return None

    def _cpu_s(self) -> float:
        total = 0
        for stat in self._stats:
            # utime and stime, fields 14 and 15 of stat(5), after the command in parentheses
            fields = stat.read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total / _CLOCK_TICKS

    def read(self) -> None:
        """Take the time used so far (the processes end with the worker's store)."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            self._last = self._cpu_s()

    @property
    def used_s(self) -> float:
        return self._last - self._first


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
