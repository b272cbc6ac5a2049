"""The rows of ``roadgate bench all``'s table, from each benchmark's ``--json`` record.

A row is one stage: ours, the peer (library and version) measured in the same run, the unit,
the ratio and the goal where an issue set one. ``ratio`` is always how many times better ours
is, so above 1 means ours wins whatever the unit: ours / peer for rates, peer / ours for times,
CPU and errors. The records are what each benchmark's ``as_json`` (``bench can``: its
``--json`` file) gives, so a table can be rebuilt from ``results.json`` alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from firmware_py.benchmarks.decode import GOAL as DECODE_GOAL
from firmware_py.benchmarks.e2e import LATENCY_GOAL_MS as E2E_LATENCY_GOAL_MS
from firmware_py.benchmarks.e2e import RSS_GOAL_MB as E2E_RSS_GOAL_MB
from firmware_py.benchmarks.fusion_budget import BOUND_MS as FUSION_BUDGET_MS
from firmware_py.benchmarks.record import GOAL_CORE_PERCENT

Record = Mapping[str, Any]

FUSION_GOAL_SPEEDUP = 100.0
FUSION_GOAL_TARGETS = 200
"""Issue #12: >= 100x faster than Stone Soup per cycle at 200 targets, GOSPA no worse (the
same figures as ``fusion.GOAL_SPEEDUP``/``GOAL_TARGETS``, kept here so that building a table
never imports Stone Soup's peer code)."""
UPLINK_GOAL_RATIO = 0.8
UPLINK_GOAL_P999_MS = 2.0
"""Issue #17 item 7: >= 0.8x bare paho-mqtt with durability normal, p99.9 under 2 ms at
1,000 msg/s (the first uplink issue's bars were 0.5x and 5 ms)."""
CAN_GOAL_RATIO = 10.0
CAN_GOAL_BUSES = 4
"""The frames/s goal (10x python-can) is set for four buses."""
CAN_GOAL_CPU_RATIO = 20.0
BRIDGE_GOAL_RATIO = 0.5
BRIDGE_GOAL_WORKERS_2 = 1.7
"""Issue #15: one worker >= 0.5x the peer, two workers >= 1.7x one."""
V2X_APPS_GOAL_MS = 5.0

PEERS = {
    "can": ("python-can", "python-can"),
    "decode": ("cantools", "cantools"),
    "fusion": ("Stone Soup", "stonesoup"),
    "v2x": ("asn1tools", "asn1tools"),
    "uplink": ("paho-mqtt", "paho-mqtt"),
    "bridge": ("paho-mqtt", "paho-mqtt"),
    "record": ("python-can", "python-can"),
}
"""Each benchmark's peer: (name shown, distribution name for its version). ``memory`` is
measured against budgets, not a peer."""


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table. ``goal_ratio``: the goal when it is a ratio (for the plot);
    ``met``: None without a goal; ``error``: why the benchmark gave no figures."""

    benchmark: str
    stage: str
    ours: float | None = None
    peer: float | None = None
    peer_name: str | None = None
    unit: str = ""
    ratio: float | None = None
    goal: str | None = None
    goal_ratio: float | None = None
    met: bool | None = None
    error: str | None = None
    label: str = ""
    """A short name of the stage for the plots (the stage itself when empty)."""

    def as_json(self) -> dict[str, object]:
        return {
            "benchmark": self.benchmark,
            "stage": self.stage,
            "ours": self.ours,
            "peer": self.peer,
            "peer_name": self.peer_name,
            "unit": self.unit,
            "ratio": self.ratio,
            "goal": self.goal,
            "met": self.met,
            "error": self.error,
            "label": self.label,
        }


def rows_for(name: str, record: Record, versions: Mapping[str, str]) -> list[Row]:
    """The rows of benchmark ``name``'s ``record``, the peer named with its version from
    ``versions`` (distribution name to version).

    Raises ``KeyError`` for an unknown benchmark or a record without a figure a row needs,
    ``TypeError``/``ValueError`` for a figure of the wrong type.
    """
    build = _BUILDERS[name]
    peer = None
    if name in PEERS:
        shown, package = PEERS[name]
        peer = f"{shown} {versions.get(package, '?')}"
    return build(record, peer)


def error_row(name: str, error: str) -> Row:
    """The row of a benchmark that failed: ``error`` says why."""
    return Row(name, f"{name}: no figures", error=error)


def ratio_of(better: float | None, worse: float | None) -> float | None:
    """``better / worse``, None when either is missing or ``worse`` is not positive."""
    if better is None or worse is None or not worse > 0 or math.isnan(better):
        return None
    return better / worse


def _ratio_row(
    benchmark: str,
    label: str,
    stage: str,
    ours: float | None,
    peer: float | None,
    peer_name: str | None,
    unit: str,
    ratio: float | None,
    goal: float | None = None,
    goal_text: str | None = None,
) -> Row:
    met = None if goal is None or ratio is None else ratio >= goal
    if goal is not None and goal_text is None:
        goal_text = f">= {goal:g}x"
    return Row(
        benchmark, stage, ours, peer, peer_name, unit, ratio, goal_text, goal, met, label=label
    )


def _decode(record: Record, peer: str | None) -> list[Row]:
    rows = []
    for mix, run in record.items():
        objects = mix == "ars408-objects"
        what = "ARS408 object lists" if objects else f"{run['dbc']} mix"
        stage = (
            f"DBC decode, {what}, {run['frames']:,} frames: reader's parse + decode + every "
            "signal read"
        )
        rows.append(
            _ratio_row(
                "decode",
                "DBC decode, " + ("ARS408 object lists" if objects else Path(run["dbc"]).stem),
                stage,
                float(run["ours"]),
                float(run["peer"]),
                peer,
                "frames/s",
                float(run["ratio"]),
                DECODE_GOAL,
            )
        )
    return rows


def _uplink(record: Record, peer: str | None) -> list[Row]:
    p999 = float(record["p999_ms"])
    return [
        _ratio_row(
            "uplink",
            "uplink QoS 1, durable outbox",
            f"uplink, {record['messages']:,} QoS 1 messages through the durable outbox "
            "(durability normal) vs a publish loop",
            float(record["ours"]),
            float(record["peer"]),
            peer,
            "msg/s",
            float(record["ratio"]),
            UPLINK_GOAL_RATIO,
        ),
        Row(
            "uplink",
            f"uplink latency at {record['latency_rate']:,} msg/s, submit to subscriber, p99.9 "
            f"over {record['latency_messages']:,} messages (p50 {record['p50_ms']:.2f}, "
            f"p99 {record['p99_ms']:.2f} ms)",
            ours=p999,
            unit="ms",
            goal=f"< {UPLINK_GOAL_P999_MS:g} ms",
            met=p999 < UPLINK_GOAL_P999_MS,
        ),
    ]


def _fusion(record: Record, peer: str | None) -> list[Row]:
    rows = []
    for case in record["cases"]:
        targets = int(case["targets"])
        at_goal = targets == FUSION_GOAL_TARGETS
        rows.append(
            _ratio_row(
                "fusion",
                f"tracker cycle, {targets:,} targets",
                f"tracker cycle, {targets:,} targets ({case['detections_per_scan']:.0f} "
                f"detections/scan; the peer on {case['cycles_peer']} cycles)",
                float(case["ours_mean_ms"]),
                float(case["peer_mean_ms"]),
                peer,
                "ms/cycle",
                float(case["ratio"]),
                FUSION_GOAL_SPEEDUP if at_goal else None,
            )
        )
        ours, theirs = float(case["gospa_ours"]), float(case["gospa_peer"])
        rows.append(
            _ratio_row(
                "fusion",
                f"GOSPA, {targets:,} targets",
                f"GOSPA (c = 10 m), {targets:,} targets, over the peer's "
                f"{case['cycles_peer']} cycles",
                ours,
                theirs,
                peer,
                "m",
                ratio_of(theirs, ours),
                1.0 if at_goal else None,
                "no worse (>= 1x)" if at_goal else None,
            )
        )
    budget = record.get("budget_median_ms")
    if budget is not None:
        rows.append(
            Row(
                "fusion",
                "intersection budget: 256 targets, 4 radars at 20 Hz, median per radar list "
                "(tracker step + fused list + protobuf)",
                ours=float(budget),
                unit="ms",
                goal=f"< {FUSION_BUDGET_MS:g} ms",
                met=float(budget) < FUSION_BUDGET_MS,
            )
        )
    return rows


def _v2x(record: Record, peer: str | None) -> list[Row]:
    rows = []
    for kind, figures in record["kinds"].items():
        size = f"{figures['frames']:,} frames of {figures['mean_bytes']:.0f} B"
        for operation, what in (
            ("decode", "decode"),
            ("encode", f"encode from {figures['encoder']}"),
        ):
            rates = figures[operation]
            rows.append(
                _ratio_row(
                    "v2x",
                    f"{kind.upper()} {operation}",
                    f"V2X {kind.upper()} {what} ({size})",
                    float(rates["ours"]),
                    float(rates["peer"]),
                    peer,
                    "frames/s",
                    float(rates["ratio"]),
                )
            )
    apps = record["apps"]
    median = float(record["apps_cycle_ms_200"])
    rows.append(
        Row(
            "v2x",
            f"Day-1 application cycle, {apps['remotes']} remote vehicles, "
            f"{apps['applications']} applications, median (p99 {apps['p99_ms']:.2f} ms)",
            ours=median,
            unit="ms",
            goal=f"< {V2X_APPS_GOAL_MS:g} ms",
            met=median < V2X_APPS_GOAL_MS,
        )
    )
    return rows


def _can(record: Record, peer: str | None) -> list[Row]:
    buses = int(record["buses"])
    where = record.get("where", "")
    frames = f"{buses} bus{'es' if buses > 1 else ''}, {record['frames']:,} frames"
    ours_cpu, peer_cpu = record["cpu_per_kframe_ours"], record["cpu_per_kframe_peer"]
    ratio = record["ratio"]
    cpu_ratio = record["cpu_ratio"]
    return [
        _ratio_row(
            "can",
            f"receive, {buses} bus(es)",
            f"CAN receive, {frames} from gapless cangen{f' ({where})' if where else ''}",
            float(record["ours"]),
            float(record["peer"]),
            peer,
            "frames/s",
            None if ratio is None else float(ratio),
            CAN_GOAL_RATIO if buses == CAN_GOAL_BUSES else None,
        ),
        _ratio_row(
            "can",
            f"CPU per frame, {buses} bus(es)",
            f"CAN reader's CPU per 1,000 frames received, {frames}",
            float(ours_cpu),
            float(peer_cpu),
            peer,
            "ms/1,000 frames",
            None if cpu_ratio is None else float(cpu_ratio),
            CAN_GOAL_CPU_RATIO,
        ),
        _ratio_row(
            "can",
            "highest rate with nothing lost",
            f"CAN, highest offered rate taken with nothing lost, {buses} "
            f"bus{'es' if buses > 1 else ''}",
            float(record["sustained_ours"]),
            float(record["sustained_peer"]),
            peer,
            "frames/s",
            ratio_of(float(record["sustained_ours"]), float(record["sustained_peer"])),
        ),
        Row(
            "can",
            "CAN frames lost by ours, gapless run",
            ours=float(record["lost"]),
            unit="frames",
            goal="0",
            met=int(record["lost"]) == 0,
        ),
    ]


def _bridge(record: Record, peer: str | None) -> list[Row]:
    store = record.get("store", "sqlite")
    rows = [
        _ratio_row(
            "bridge",
            "drain, 1 worker",
            f"bridge drain of a {record['backlog']:,} backlog, 1 worker ({store}) vs a "
            "subscriber that only counts",
            float(record["ours"]),
            float(record["peer"]),
            peer,
            "msg/s",
            float(record["ratio"]),
            BRIDGE_GOAL_RATIO,
        ),
        _ratio_row(
            "bridge",
            "drain, 2 workers vs 1",
            "bridge drain, 2 workers on a shared subscription vs 1 worker",
            float(record["ours_2_workers"]),
            float(record["ours"]),
            "1 worker (ours)",
            "msg/s",
            float(record["workers_2_ratio"]),
            BRIDGE_GOAL_WORKERS_2,
        ),
        _ratio_row(
            "bridge",
            "messages per CPU second",
            "bridge messages per CPU second, 1 worker vs the counting subscriber",
            float(record["ours_per_cpu_s"]),
            float(record["peer_per_cpu_s"]),
            peer,
            "msg/CPU s",
            ratio_of(float(record["ours_per_cpu_s"]), float(record["peer_per_cpu_s"])),
        ),
    ]
    for run in record["live"]:
        rows.append(
            Row(
                "bridge",
                f"bridge live, {run['workers']} worker(s), {run['offered_rate']:,.0f} msg/s "
                f"offered: stored (publish-to-committed p50 {run['p50_ms']:.1f}, "
                f"p99 {run['p99_ms']:.1f} ms)",
                ours=float(run["stored_rate"]),
                unit="msg/s",
            )
        )
    lost, duplicated = int(record["lost"]), int(record["duplicated"])
    rows.append(
        Row(
            "bridge",
            f"bridge messages lost over all runs (duplicated: {duplicated})",
            ours=float(lost),
            unit="messages",
            goal="0 lost, 0 duplicated",
            met=lost == 0 and duplicated == 0,
        )
    )
    return rows


def _record(record: Record, peer: str | None) -> list[Row]:
    ours, theirs = float(record["core_percent"]), float(record["peer_core_percent"])
    row = _ratio_row(
        "record",
        "recorder CPU, 4 full buses" if int(record["buses"]) == 4 else "recorder CPU",
        f"flight recorder CPU, {record['buses']} full CAN buses (4,000 frames/s each) vs "
        "python-can's BLF writer on the same frames",
        ours,
        theirs,
        peer,
        "% of a core",
        ratio_of(theirs, ours),
    )
    # The goal is on our share of a core, not on the ratio.
    return [replace(row, goal=f"< {GOAL_CORE_PERCENT:g} %", met=ours < GOAL_CORE_PERCENT)]


def _memory(record: Record, peer: str | None) -> list[Row]:
    rows = []
    for box in record["boxes"]:
        role = str(box["role"]).replace("_", " ")
        rows.append(
            Row(
                "memory",
                f"peak RSS of a {role} run for {float(box['seconds']):.0f} s (CPU "
                f"{float(box['cpu_share']):.0%} of a core)",
                ours=float(box["peak_rss_mb"]),
                unit="MiB",
                goal=f"<= {box['budget_mb']:g} MiB",
                met=bool(box["within_budget"]),
            )
        )
    return rows


def _e2e(record: Record, peer: str | None) -> list[Row]:
    """Against the issue's goals, not a peer: nothing lost, p99 within the fusion period plus
    20 ms, the unit's RSS under 100 MB."""
    del peer
    return _e2e_rows("e2e", record, "on 4 buses", "lists")


def _e2e_vehicle(record: Record, peer: str | None) -> list[Row]:
    """``_e2e``'s goals for the vehicle gateway (the state period for the fusion period)."""
    del peer
    return _e2e_rows("e2e-vehicle", record, "on the powertrain bus", "states")


def _e2e_rows(name: str, record: Record, buses: str, messages: str) -> list[Row]:
    frames_in, lost = int(record["frames_in"]), int(record["frames_lost"])
    period = float(record["fusion_period_ms"])
    p99 = record["p99_ms"]
    bound = period + E2E_LATENCY_GOAL_MS
    rss = float(record["rss_mb"])
    cpu = record["cpu_s_per_kframe"]
    return [
        Row(
            name,
            f"frames lost of {frames_in:,} {buses} ({int(record['stored']):,} {messages} stored)",
            ours=float(lost),
            unit="frames",
            goal="0",
            met=lost == 0,
            label=f"{name} lost",
        ),
        Row(
            name,
            "p99 latency, newest frame to stored"
            + ("" if cpu is None else f" (CPU {float(cpu):.3f} s per 1,000 frames)"),
            ours=None if p99 is None else float(p99),
            unit="ms",
            goal=f"< {bound:g} ms",
            met=p99 is not None and float(p99) < bound,
            label=f"{name} p99",
        ),
        Row(
            name,
            "peak RSS of the unit",
            ours=rss,
            unit="MiB",
            goal=f"< {E2E_RSS_GOAL_MB:g} MB",
            met=rss < E2E_RSS_GOAL_MB,
            label=f"{name} RSS",
        ),
    ]


_BUILDERS: dict[str, Callable[[Record, str | None], list[Row]]] = {
    "can": _can,
    "decode": _decode,
    "fusion": _fusion,
    "v2x": _v2x,
    "uplink": _uplink,
    "bridge": _bridge,
    "record": _record,
    "memory": _memory,
    "e2e": _e2e,
    "e2e-vehicle": _e2e_vehicle,
}
