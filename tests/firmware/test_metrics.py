"""The Prometheus endpoint: the health report's figures under conventional names, the parts
that measure the new ones (event-loop lag, publish latency, outbox age, GNSS, bus state), the
HTTP endpoint, and a real box scraped over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from edge.identity import DeviceIdentity
from edge.pipelines.health import HealthReport, counters_of
from edge.uplink.latency import LatencyHistogram
from edge.uplink.outbox import SqliteOutbox
from edge.uplink.publisher import UplinkPublisher
from edge.uplink.settings import UplinkSettings
from firmware_py.box.perception import build_perception
from firmware_py.box.sensor_gauges import WatchedFixAssembler, bus_states
from firmware_py.config.loader import EXAMPLES_DIR, load_box_config
from firmware_py.config.metrics import MetricsConfig, parse_observability
from firmware_py.config.reader import Table
from firmware_py.errors import ConfigError
from firmware_py.metrics import HealthCollector
from firmware_py.metrics_endpoint import MetricsEndpoint
from firmware_py.runtime_vitals import EventLoopLag, process_vitals
from hal.can.port import BusState
from protocols.radar import RadarObject, RadarObjectList
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.support.mosquitto import Broker, free_port

PROJECT = Path(__file__).resolve().parents[2]
EXAMPLE = PROJECT / "firmware_py" / "examples" / "vehicle-toyota.toml"
RUN = (sys.executable, "-m", "firmware_py.cli", "run", "--config")
NMEA_LOG = PROJECT / "tests" / "data" / "gpsd" / "neo-m8n.log"


class ManualClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class PortWithState:
    """A CAN port as far as ``bus_states`` reads one: its state."""

    def __init__(self, state: BusState) -> None:
        self.state = state


def fed_assembler(clock: ManualClock) -> WatchedFixAssembler:
    """An assembler fed a real receiver's log (u-blox NEO-M8N, 12 satellites, GNSS fix)."""
    fixes = WatchedFixAssembler(monotonic=clock)
    for line in NMEA_LOG.read_bytes().splitlines():
        if line.startswith(b"$"):
            fixes.feed(line)
    fixes.feed(b"$GNGGA,171927.00,4404.14063,N,12118.85478,W,1,12,0.91,1147.2,M,-21.3,M,,*00")
    return fixes


def scrape(registry: CollectorRegistry) -> dict[str, Metric]:
    text = generate_latest(registry).decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(families: Mapping[str, Metric], sample: str, **labels: str) -> float:
    """The value of the one sample named ``sample`` with ``labels`` among them."""
    found = [
        s.value
        for family in families.values()
        for s in family.samples
        if s.name == sample and labels.items() <= s.labels.items()
    ]
    assert len(found) == 1, (sample, labels, found)
    return found[0]


@pytest.fixture
def box_health() -> Iterator[tuple[HealthReport, ManualClock, UplinkPublisher]]:
    """A health report with the sources a vehicle gateway registers, from real parts where
    they run without hardware."""
    clock = ManualClock()
    now_ns = [1_700_000_000_000_000_000]
    outbox = SqliteOutbox(":memory:", clock_ns=lambda: now_ns[0])
    identity = DeviceIdentity("veh-001", "xian-gaoxin", pb.DEVICE_ROLE_VEHICLE_GATEWAY)
    uplink = UplinkPublisher(identity, UplinkSettings(), outbox)
    uplink.submit(pb.DeviceHealth(), now_ns[0])
    now_ns[0] += 2_500_000_000  # the message has waited 2.5 s
    for latency_s in (0.004, 0.02, 0.02, 3.0):
        uplink.publish_latency.observe(latency_s)
    fixes = fed_assembler(clock)
    lag = EventLoopLag()
    lag.record(0.0004)
    lag.record(0.03)
    report = HealthReport(
        {
            "": uplink.counters,
            "can.powertrain": lambda: {"rx_frames": 1200, "rx_kernel_drops": 3, "tx_frames": 7},
            "can.rejects": lambda: {"bad_length": 2},
            "nmea.rejects": lambda: fixes.rejects,
            "gnss": fixes.gauges,
            "can_state": bus_states({"powertrain": PortWithState(BusState.PASSIVE)}),  # type: ignore[dict-item]
            "perception": lambda: {"tracks": 4, "cycles": 10},
            "loop": counters_of(lag),
            "process": process_vitals,
        },
        monotonic=clock,
    )
    with outbox:
        yield report, clock, uplink


def collector_registry(report: HealthReport) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        HealthCollector(report.snapshot, device="veh-001", role="vehicle_gateway", version="1.0")
    )
    return registry


def test_a_scrape_names_each_figure_by_prometheus_conventions(
    box_health: tuple[HealthReport, ManualClock, UplinkPublisher],
) -> None:
    report, _, _ = box_health
    families = scrape(collector_registry(report))
    assert families["roadgate_can_frames"].type == "counter"
    assert value(families, "roadgate_can_frames_total", bus="powertrain") == 1200
    assert value(families, "roadgate_can_kernel_drops_total", bus="powertrain") == 3
    assert value(families, "roadgate_can_transmitted_frames_total", bus="powertrain") == 7
    assert value(families, "roadgate_decode_errors_total", decoder="can", reason="bad_length") == 2
    assert value(families, "roadgate_decode_errors_total", decoder="nmea", reason="checksum") == 1
    assert value(families, "roadgate_gnss_fix") == 1
    assert value(families, "roadgate_gnss_fix_quality") == 1
    assert value(families, "roadgate_gnss_satellites") == 12
    assert value(families, "roadgate_tracks") == 4
    assert value(families, "roadgate_outbox_messages") == 1
    assert value(families, "roadgate_outbox_bytes") > 0
    assert value(families, "roadgate_outbox_oldest_age_seconds") == 2.5
    assert value(families, "roadgate_event_loop_lag_max_seconds") == 0.03
    assert value(families, "roadgate_process_resident_memory_bytes") > 1_000_000
    assert families["roadgate_process_cpu_seconds"].type == "counter"
    assert value(families, "roadgate_info", device="veh-001", role="vehicle_gateway") == 1
    assert value(families, "roadgate_uptime_seconds") == 0
    # What has no name of its own is there by its health key.
    assert value(families, "roadgate_health_value", key="perception.cycles") == 10
    for family in families.values():
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples)


def test_the_scrape_and_the_health_report_carry_the_same_figures(
    box_health: tuple[HealthReport, ManualClock, UplinkPublisher],
) -> None:
    report, _, _ = box_health
    families = scrape(collector_registry(report))
    health = report.snapshot()
    # Keys with their own metric are not repeated as roadgate_health_value.
    keys = {s.labels["key"] for s in families["roadgate_health_value"].samples}
    assert "can.powertrain.rx_frames" not in keys
    for key in keys:
        assert value(families, "roadgate_health_value", key=key) == health.counters[key]
    assert health.counters["can.powertrain.rx_frames"] == 1200
    assert health.counters["gnss.satellites"] == 12
    assert health.counters["loop.lag_max_us"] == 30_000
    assert health.counters["uplink.outbox.oldest_age_ms"] == 2500
    assert health.counters["uplink.publish_latency.count"] == 4


def test_latencies_are_histograms_with_cumulative_buckets(
    box_health: tuple[HealthReport, ManualClock, UplinkPublisher],
) -> None:
    report, _, _ = box_health
    families = scrape(collector_registry(report))
    latency = families["roadgate_uplink_publish_latency_seconds"]
    assert latency.type == "histogram"
    assert value(families, "roadgate_uplink_publish_latency_seconds_bucket", le="0.005") == 1
    assert value(families, "roadgate_uplink_publish_latency_seconds_bucket", le="0.025") == 3
    assert value(families, "roadgate_uplink_publish_latency_seconds_bucket", le="2.5") == 3
    assert value(families, "roadgate_uplink_publish_latency_seconds_bucket", le="+Inf") == 4
    assert value(families, "roadgate_uplink_publish_latency_seconds_count") == 4
    assert math.isclose(value(families, "roadgate_uplink_publish_latency_seconds_sum"), 3.044)
    assert value(families, "roadgate_event_loop_lag_seconds_bucket", le="0.001") == 1
    assert value(families, "roadgate_event_loop_lag_seconds_bucket", le="+Inf") == 2


def test_the_bus_state_is_a_state_set_with_one_state_on(
    box_health: tuple[HealthReport, ManualClock, UplinkPublisher],
) -> None:
    report, _, _ = box_health
    family = scrape(collector_registry(report))["roadgate_can_bus_state"]
    on = [s.labels["roadgate_can_bus_state"] for s in family.samples if s.value == 1]
    assert on == ["error-passive"]
    assert {s.labels["roadgate_can_bus_state"] for s in family.samples} == {
        state.value for state in BusState
    }


def test_a_quiet_receiver_has_no_fix(
    box_health: tuple[HealthReport, ManualClock, UplinkPublisher],
) -> None:
    report, clock, _ = box_health
    clock.now += 10
    families = scrape(collector_registry(report))
    assert value(families, "roadgate_gnss_fix") == 0
    assert value(families, "roadgate_gnss_fix_age_seconds") == 10
    assert WatchedFixAssembler().gauges() == {"fix": 0}


def test_the_outbox_age_follows_the_first_message_still_waiting() -> None:
    now = [10_000_000_000]
    with SqliteOutbox(":memory:", clock_ns=lambda: now[0]) as outbox:
        identity = DeviceIdentity("veh-001", "xian-gaoxin", pb.DEVICE_ROLE_VEHICLE_GATEWAY)
        uplink = UplinkPublisher(identity, UplinkSettings(), outbox)
        assert outbox.oldest_enqueued_ns() is None
        assert outbox.counters()["oldest_age_ms"] == 0
        uplink.submit(pb.DeviceHealth(), now[0])
        first = now[0]
        now[0] += 1_000_000_000
        uplink.submit(pb.DeviceHealth(), now[0])
        assert outbox.oldest_enqueued_ns() == first  # both uncommitted
        outbox.commit()
        assert outbox.oldest_enqueued_ns() == first
        (entry, second) = outbox.peek(10)
        outbox.ack(entry.row_id)  # acknowledged, not committed yet
        assert outbox.oldest_enqueued_ns() == first + 1_000_000_000
        now[0] += 2_000_000_000
        assert outbox.counters()["oldest_age_ms"] == 2000
        outbox.commit()
        outbox.ack(second.row_id)
        assert outbox.oldest_enqueued_ns() is None


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=50))
def test_a_histogram_counts_each_finite_latency_once(latencies: list[float]) -> None:
    histogram = LatencyHistogram()
    for latency in latencies:
        histogram.observe(latency)
    kept = [x for x in latencies if math.isfinite(x) and x >= 0]
    cumulative = histogram.cumulative()
    assert [n for _, n in cumulative] == sorted(n for _, n in cumulative)
    assert cumulative[-1] == (math.inf, len(kept))
    for bound, n in cumulative[:-1]:
        assert n == sum(1 for x in kept if x <= bound)


def test_histogram_bounds_must_increase() -> None:
    with pytest.raises(ValueError, match="increasing"):
        LatencyHistogram((0.1, 0.01))


@pytest.mark.asyncio
async def test_a_blocked_loop_shows_as_lag() -> None:
    lag = EventLoopLag(interval_s=0.01)
    task = asyncio.create_task(lag.run(), name="lag")
    await asyncio.sleep(0.02)
    # Hold the loop as a slow callback would; the monitor's wake-up falls due meanwhile, and
    # its timer fires before this test's own later one.
    asyncio.get_running_loop().call_soon(time.sleep, 0.1)
    await asyncio.sleep(0.15)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert lag.max_s >= 0.08  # woken at least as late as the loop was held, minus one interval
    assert lag.counters["lag_max_us"] >= 80_000


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""


@pytest.mark.asyncio
async def test_the_endpoint_serves_metrics_and_counts_what_it_refuses(
    box_health: tuple[HealthReport, ManualClock, UplinkPublisher],
) -> None:
    report, _, _ = box_health
    port = free_port()
    endpoint = MetricsEndpoint(collector_registry(report), "127.0.0.1", port)
    assert await endpoint.start()
    try:
        status, text = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(text)}
        assert value(families, "roadgate_can_frames_total", bus="powertrain") == 1200
        assert (await asyncio.to_thread(get, f"http://127.0.0.1:{port}/nothing"))[0] == 404
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"not http at all\r\n\r\n")
        assert (await reader.read()).startswith(b"HTTP/1.1 400")
        writer.close()
        await writer.wait_closed()
    finally:
        await endpoint.close()
    assert endpoint.counters == {"listening": 0, "scrapes": 1, "not_found": 1, "bad_requests": 1}


@pytest.mark.asyncio
async def test_a_port_in_use_is_one_line_and_no_endpoint(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        endpoint = MetricsEndpoint(CollectorRegistry(), "127.0.0.1", port)
        with caplog.at_level(logging.ERROR, logger="firmware_py.metrics"):
            assert not await endpoint.start()
    (record,) = caplog.records
    assert f"127.0.0.1:{port}" in record.getMessage()
    assert "\n" not in record.getMessage()
    assert record.exc_info is None
    assert endpoint.counters["listening"] == 0


def test_metrics_table_defaults_to_loopback_and_refuses_bad_values() -> None:
    assert parse_observability(Table.document({}, "box.toml")).metrics == MetricsConfig(
        True, "127.0.0.1", 9108
    )
    for bad in ({"port": 0}, {"port": "9108"}, {"host": ""}, {"enabled": 1}, {"path": "/"}):
        with pytest.raises(ConfigError, match="metrics"):
            parse_observability(Table.document({"metrics": bad}, "box.toml"))


def box_config(tmp_path: Path, broker: Broker, metrics_port: int, extra: str = "") -> Path:
    """The shipped vehicle example pointed at the test broker, its outbox and metrics port."""
    text = EXAMPLE.read_text()
    assert text.count("port = 1883") == 1
    text = text.replace("port = 1883", f"port = {broker.port}")
    text += f'\n[outbox]\npath = "{tmp_path / "outbox.sqlite3"}"\n'
    text += f"\n[metrics]\nport = {metrics_port}\n{extra}"
    path = tmp_path / "vehicle.toml"
    path.write_text(text)
    return path


def scrape_until(
    url: str, box: subprocess.Popen[bytes], done: Callable[[dict[str, Metric]], bool]
) -> dict[str, Metric]:
    """Scrape ``url`` until ``done`` holds for what it serves (the box may still start)."""
    deadline = time.monotonic() + 30
    while True:
        assert box.poll() is None, "the box ended before its metrics were complete"
        with contextlib.suppress(OSError):
            status, text = get(url)
            if status == 200:
                families = {f.name: f for f in text_string_to_metric_families(text)}
                if done(families):
                    return families
        assert time.monotonic() < deadline, "the box's metrics never became complete"
        time.sleep(0.2)


@pytest.mark.mosquitto
@pytest.mark.e2e
def test_a_running_box_serves_its_metrics_over_http(tmp_path: Path, mosquitto: Broker) -> None:
    port = free_port()
    config = box_config(tmp_path, mosquitto, port)
    log = tmp_path / "box.log"
    box = subprocess.Popen(
        [*RUN, str(config), "--duration", "8"],
        cwd=PROJECT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:

        def complete(families: dict[str, Metric]) -> bool:
            # Each figure once it has something to show: a fix, a publish, a lag measured.
            names = {s.name for f in families.values() for s in f.samples}
            counted = (
                "roadgate_gnss_fix",
                "roadgate_uplink_publish_latency_seconds_count",
                "roadgate_event_loop_lag_seconds_count",
            )
            return "roadgate_can_frames_total" in names and all(
                name in names and value(families, name) > 0 for name in counted
            )

        families = scrape_until(f"http://127.0.0.1:{port}/metrics", box, complete)
        assert box.wait(timeout=30) == 0, log.read_text()
    finally:
        if box.poll() is None:
            box.kill()
            box.wait()
    assert value(families, "roadgate_can_frames_total", bus="powertrain") > 0
    assert (
        value(
            families,
            "roadgate_can_bus_state",
            bus="powertrain",
            roadgate_can_bus_state="error-active",
        )
        == 1
    )
    assert value(families, "roadgate_gnss_satellites") > 0
    assert value(families, "roadgate_gnss_fix_quality") >= 1
    assert value(families, "roadgate_outbox_messages") >= 0
    assert value(families, "roadgate_outbox_oldest_age_seconds") >= 0
    assert value(families, "roadgate_event_loop_lag_seconds_bucket", le="+Inf") > 0
    assert value(families, "roadgate_uplink_publish_latency_seconds_sum") > 0
    assert value(families, "roadgate_process_resident_memory_bytes") > 10_000_000
    assert value(families, "roadgate_process_cpu_seconds_total") > 0
    assert value(families, "roadgate_uptime_seconds") > 0
    assert value(families, "roadgate_info", device="veh-001", role="vehicle_gateway") == 1
    assert value(families, "roadgate_health_value", key="metrics.listening") == 1
    assert f"serving http://127.0.0.1:{port}/metrics" in log.read_text()


@pytest.mark.mosquitto
@pytest.mark.e2e
def test_a_box_whose_metrics_port_is_taken_runs_on_and_logs_json(
    tmp_path: Path, mosquitto: Broker
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = box_config(tmp_path, mosquitto, port, '\n[logging]\nformat = "json"\n')
        done = subprocess.run(
            [*RUN, str(config), "--duration", "3"],
            cwd=PROJECT,
            capture_output=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr.decode()
    records = [json.loads(line) for line in done.stderr.decode().splitlines()]
    refused = [r for r in records if r["logger"] == "firmware_py.metrics"]
    assert len(refused) == 1
    assert refused[0]["level"] == "ERROR"
    assert f"127.0.0.1:{port}" in refused[0]["message"]
    assert {r["device"] for r in records} == {"veh-001"}


@pytest.mark.asyncio
async def test_a_failing_source_is_a_500_and_the_endpoint_serves_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    identity = DeviceIdentity("veh-001", "xian-gaoxin", pb.DEVICE_ROLE_VEHICLE_GATEWAY)
    outbox = SqliteOutbox(":memory:")
    uplink = UplinkPublisher(identity, UplinkSettings(), outbox)
    outbox.close()  # its depth can no longer be read
    port = free_port()
    endpoint = MetricsEndpoint(
        collector_registry(HealthReport({"": uplink.counters})), "127.0.0.1", port
    )
    assert await endpoint.start()
    try:
        with caplog.at_level(logging.ERROR, logger="firmware_py.metrics"):
            for _ in range(2):
                status, _ = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/metrics")
                assert status == 500
    finally:
        await endpoint.close()
    assert endpoint.counters["errors"] == 2
    assert "outbox is closed" in caplog.records[0].getMessage()


def test_a_roadside_units_tracks_are_the_last_fused_lists() -> None:
    config = load_box_config(EXAMPLES_DIR / "roadside.toml")
    fusion = build_perception(config).fusion
    (radar,) = config.radars
    assert fusion.counters["tracks"] == 0
    cars = tuple(
        RadarObject(i, 10.0 + 8 * i, 0.0, 0.0, 0.0, 1, 10.0, obj_class=1, length_m=4.5, width_m=1.8)
        for i in range(2)
    )
    result = None
    for k in range(6):
        result = fusion.on_list(radar.sensor, RadarObjectList(0, k, 100.0 + k * 0.07, cars))
    assert result is not None
    assert fusion.counters["tracks"] == len(result[0].objects) == 2
    report = HealthReport({"perception": lambda: fusion.counters})
    assert value(scrape(collector_registry(report)), "roadgate_tracks") == 2
