"""The box's health report as Prometheus metrics: one source, so the ``health`` stream and a
scrape carry the same figures.

``HealthCollector`` takes a snapshot of the box's ``HealthReport`` (every pipeline registers its
counter sources there) at each scrape and names what it knows (``RULES``: CAN frames, decode
errors, bus state, kernel drops, GNSS, tracks, outbox, publish latency, event-loop lag, process
vitals) after Prometheus's conventions: ``roadgate_`` prefix, snake_case, base units (seconds,
bytes), ``_total`` on counters. Every other health counter is still there, as
``roadgate_health_value{key="<health key>"}`` (untyped: some are gauges), so nothing health
reports is missing from a scrape.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    StateSetMetricFamily,
    UnknownMetricFamily,
)
from prometheus_client.registry import Collector

from edge.uplink.latency import bound_of_label
from firmware_py.box.sensor_gauges import BUS_STATE_CODES
from protocols.schema.v1 import roadgate_pb2 as pb

PREFIX = "roadgate_"


@dataclass(frozen=True)
class Rule:
    """Health keys matching ``pattern`` (a full match; named groups become labels, beside the
    constant ``labels``) are metric ``name``, their value times ``scale``."""

    pattern: re.Pattern[str]
    name: str
    kind: Literal["counter", "gauge"]
    help: str
    scale: float = 1.0
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def label_names(self) -> list[str]:
        return [*self.labels, *self.pattern.groupindex]


def _rule(
    pattern: str,
    name: str,
    kind: Literal["counter", "gauge"],
    help: str,
    scale: float = 1.0,
    **labels: str,
) -> Rule:
    return Rule(re.compile(pattern), PREFIX + name, kind, help, scale, MappingProxyType(labels))


_BUS = r"can\.(?P<bus>[^.]+)"
RULES: tuple[Rule, ...] = (
    _rule(r"can\.rejects\.(?P<reason>.+)", "decode_errors", "counter",
          "Input not decoded, by decoder and reason.", decoder="can"),
    _rule(r"nmea\.rejects\.(?P<reason>.+)", "decode_errors", "counter",
          "Input not decoded, by decoder and reason.", decoder="nmea"),
    _rule(r"v2x\.rx\.rejects\.(?P<reason>.+)", "decode_errors", "counter",
          "Input not decoded, by decoder and reason.", decoder="v2x"),
    _rule(_BUS + r"\.rx_frames", "can_frames", "counter", "CAN frames received, per bus."),
    _rule(_BUS + r"\.rx_error_frames", "can_error_frames", "counter",
          "CAN error frames received, per bus."),
    _rule(_BUS + r"\.rx_kernel_drops", "can_kernel_drops", "counter",
          "CAN frames the kernel dropped (socket buffer full), per bus."),
    _rule(_BUS + r"\.tx_frames", "can_transmitted_frames", "counter", "CAN frames sent, per bus."),
    _rule(r"gnss\.fix", "gnss_fix", "gauge", "1 with a fresh GNSS fix with a position, else 0."),
    _rule(r"gnss\.quality", "gnss_fix_quality", "gauge",
          "The last GNSS fix's GGA quality (0 none, 1 GNSS, 2 DGNSS, 4 RTK fixed, 5 RTK float)."),
    _rule(r"gnss\.satellites", "gnss_satellites", "gauge", "Satellites used by the last fix."),
    _rule(r"gnss\.fix_age_ms", "gnss_fix_age_seconds", "gauge", "Age of the last GNSS fix.",
          1e-3),
    _rule(r"perception\.tracks", "tracks", "gauge", "Tracks in the last fused object list."),
    _rule(r"uplink\.queued", "outbox_messages", "gauge", "Messages waiting in the outbox."),
    _rule(r"uplink\.queued_bytes", "outbox_bytes", "gauge",
          "Bytes of message bodies waiting in the outbox."),
    _rule(r"uplink\.outbox\.oldest_age_ms", "outbox_oldest_age_seconds", "gauge",
          "Age of the oldest message waiting in the outbox (0: none waits).", 1e-3),
    _rule(r"uplink\.published\.(?P<stream>.+)", "uplink_published_messages", "counter",
          "Messages the broker took, per stream."),
    _rule(r"uplink\.evicted\.(?P<stream>.+)", "outbox_evicted_messages", "counter",
          "Messages evicted from the outbox unsent, per stream."),
    _rule(r"recorder\.messages", "recorder_messages", "counter",
          "Messages the flight recorder wrote."),
    _rule(r"recorder\.dropped\.(?P<reason>.+)", "recorder_dropped_messages", "counter",
          "Messages the flight recorder lost, by reason."),
    _rule(r"recorder\.write_errors", "recorder_write_errors", "counter",
          "Faults writing the flight log (each one logged once, then retried)."),
    _rule(r"recorder\.recording", "recorder_recording", "gauge",
          "1 while the flight recorder records, else 0."),
    _rule(r"loop\.lag_max_us", "event_loop_lag_max_seconds", "gauge",
          "The largest event-loop lag since start.", 1e-6),
    _rule(r"loop\.lag_last_us", "event_loop_lag_last_seconds", "gauge",
          "The last event-loop lag measured.", 1e-6),
    _rule(r"process\.cpu_ms", "process_cpu_seconds", "counter",
          "CPU time of the daemon, user and system.", 1e-3),
    _rule(r"process\.rss_bytes", "process_resident_memory_bytes", "gauge",
          "Resident memory of the daemon."),
)  # fmt: skip
"""Health keys with a metric of their own; the first rule to match a key takes it."""

HISTOGRAMS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "uplink.publish_latency": (
            PREFIX + "uplink_publish_latency_seconds",
            "From handing a message to MQTT until the broker took it (PUBACK for QoS 1).",
        ),
        "loop.lag": (
            PREFIX + "event_loop_lag_seconds",
            "How late the event loop woke a periodic task.",
        ),
    }
)
"""Health key prefixes carrying a ``LatencyHistogram`` (``count``, ``sum_us``, ``le_<ms>ms``)."""

_BUCKET = re.compile(r"le_(?P<bound>[0-9_]+)ms")
BUS_STATES = {code: state.value for state, code in BUS_STATE_CODES.items()}


@dataclass
class _Histogram:
    count: int = 0
    sum_s: float = 0.0
    buckets: dict[float, int] = field(default_factory=dict)


class HealthCollector(Collector):
    """A Prometheus collector of ``snapshot()``'s health (a ``HealthReport.snapshot``), for a
    box ``device`` of ``role`` running ``version``."""

    def __init__(
        self, snapshot: Callable[[], pb.DeviceHealth], *, device: str, role: str, version: str
    ) -> None:
        self._snapshot = snapshot
        self._info = {"device": device, "role": role, "version": version}

    def collect(self) -> Iterator[Metric]:
        health = self._snapshot()
        yield _gauge("info", "The box: device id, role and software version.", 1.0, self._info)
        yield from vitals(health)
        yield from counter_metrics(health.counters)

    def describe(self) -> Iterable[Metric]:
        return ()  # families depend on the box: not known before a snapshot


def vitals(health: pb.DeviceHealth) -> Iterator[Metric]:
    """The report's own fields: uptime, load, peak memory, temperature, the clock's offset."""
    yield _gauge("uptime_seconds", "Seconds since the box started.", health.uptime_s)
    yield _gauge("cpu_load_ratio", "1-minute load average per CPU core.", health.cpu_load)
    yield _gauge(
        "memory_peak_bytes", "Peak resident memory of the daemon.", health.memory_used_bytes
    )
    if health.temperature_c != 0.0:  # 0: unknown (no thermal zone)
        yield _gauge(
            "soc_temperature_celsius", "SoC temperature (thermal zone 0).", health.temperature_c
        )
    if health.gnss_clock_offset_s != 0.0 or health.clock_disagrees_with_gnss:
        yield _gauge(
            "clock_gnss_offset_seconds", "Box clock minus GNSS time.", health.gnss_clock_offset_s
        )
        yield _gauge(
            "clock_disagrees_with_gnss",
            "1 when the box clock is further from GNSS time than its bound.",
            float(health.clock_disagrees_with_gnss),
        )


def counter_metrics(counters: Mapping[str, int]) -> Iterator[Metric]:
    """The health counters as metrics: ``RULES``, ``HISTOGRAMS``, bus states, and the rest as
    ``roadgate_health_value``."""
    families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
    histograms: dict[str, _Histogram] = defaultdict(_Histogram)
    states = StateSetMetricFamily(
        PREFIX + "can_bus_state", "The CAN controller's state, per bus.", labels=["bus"]
    )
    rest = UnknownMetricFamily(
        PREFIX + "health_value", "Every other health counter, by its key.", labels=["key"]
    )
    for key, value in sorted(counters.items()):
        if key.startswith("can_state."):
            current = BUS_STATES.get(value, "unknown")
            bus = key.removeprefix("can_state.")
            states.add_metric([bus], {s: s == current for s in BUS_STATES.values()})
        elif not _into_histogram(key, value, histograms) and not _into_rule(key, value, families):
            rest.add_metric([key], float(value))
    yield from families.values()
    if states.samples:
        yield states
    for prefix, histogram in histograms.items():
        name, help = HISTOGRAMS[prefix]
        family = HistogramMetricFamily(name, help)
        buckets = [(_le(b), float(n)) for b, n in sorted(histogram.buckets.items())]
        buckets.append(("+Inf", float(histogram.count)))
        family.add_metric([], buckets, histogram.sum_s)
        yield family
    yield rest


def _into_rule(
    key: str, value: int, families: dict[str, CounterMetricFamily | GaugeMetricFamily]
) -> bool:
    for rule in RULES:
        match = rule.pattern.fullmatch(key)
        if match is None:
            continue
        family = families.get(rule.name)
        if family is None:
            kind = CounterMetricFamily if rule.kind == "counter" else GaugeMetricFamily
            family = families[rule.name] = kind(rule.name, rule.help, labels=rule.label_names)
        family.add_metric([*rule.labels.values(), *match.groups()], value * rule.scale)
        return True
    return False


def _into_histogram(key: str, value: int, histograms: dict[str, _Histogram]) -> bool:
    prefix, _, part = key.rpartition(".")
    if prefix not in HISTOGRAMS:
        return False
    histogram = histograms[prefix]
    if part == "count":
        histogram.count = value
    elif part == "sum_us":
        histogram.sum_s = value / 1e6
    elif (bucket := _BUCKET.fullmatch(part)) is not None:
        histogram.buckets[bound_of_label(bucket["bound"])] = value
    else:
        return False
    return True


def _le(bound_s: float) -> str:
    return "+Inf" if math.isinf(bound_s) else repr(round(bound_s, 6))


def _gauge(
    name: str, help: str, value: float, labels: Mapping[str, str] | None = None
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(PREFIX + name, help, labels=list(labels or {}))
    family.add_metric(list((labels or {}).values()), float(value))
    return family
