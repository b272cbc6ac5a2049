"""``roadgate bench all``'s table, rows and plots from given records, and the machine it reads
(no benchmark runs here)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from firmware_py.benchmarks.machine import cpu_model, os_name, ram_gib
from firmware_py.benchmarks.suite import Measured, Outcome
from firmware_py.benchmarks.suite_plots import plot_latency, plot_ratios
from firmware_py.benchmarks.suite_report import (
    Outputs,
    failed,
    markdown,
    results_json,
    rows_of,
    write_report,
)
from firmware_py.benchmarks.suite_rows import Row, rows_for
from tests.firmware.test_bench_all import assert_png

VERSIONS = {"cantools": "45.1.0", "stonesoup": "1.9.1", "python-can": "4.6.1", "paho-mqtt": "2.2.0"}
MACHINE = {
    "cpu": "AMD EPYC",
    "cores": 2,
    "ram_gib": 23.5,
    "kernel": "Linux 6.18",
    "os": "Debian GNU/Linux 12 (bookworm)",
    "python": "CPython 3.11.7",
    "versions": {**VERSIONS, "mosquitto": "2.0.11"},
}


def fusion_case(targets: int, ours_ms: float, peer_ms: float, gospa: tuple[float, float]) -> Any:
    return {
        "targets": targets,
        "detections_per_scan": targets * 0.8,
        "cycles_ours": 200,
        "cycles_peer": 30,
        "ours_mean_ms": ours_ms,
        "ours_p99_ms": ours_ms * 1.5,
        "peer_mean_ms": peer_ms,
        "peer_p99_ms": peer_ms * 1.2,
        "ratio": peer_ms / ours_ms,
        "gospa_ours": gospa[0],
        "gospa_peer": gospa[1],
        "id_switches_ours": 4,
        "id_switches_peer": 8,
        "gospa_ours_whole_scene": gospa[0],
    }


RECORDS: dict[str, Any] = {
    "fusion": {
        "ours": 1.0,
        "peer": 1735.0,
        "ratio": 1735.0,
        "unit": "ms/cycle",
        "budget_median_ms": 2.03,
        "cases": [
            fusion_case(20, 0.33, 29.4, (2.71, 2.85)),
            fusion_case(200, 1.0, 1735.0, (36.6, 34.8)),
        ],
    },
    "record": {
        "traffic_s": 20.0,
        "buses": 4,
        "frames": 320_000,
        "cpu_s": 0.05,
        "core_percent": 0.25,
        "bytes_on_disk": 1,
        "mb_per_hour": 1.0,
        "bytes_per_frame": 1.0,
        "peer_core_percent": 50.0,
        "goal_core_percent": 5.0,
    },
    "memory": {
        "boxes": [
            {
                "role": "roadside_unit",
                "seconds": 30.0,
                "rss_mb": 99.0,
                "peak_rss_mb": 101.5,
                "cpu_share": 0.14,
                "frames_per_s": 246.0,
                "budget_mb": 100,
                "within_budget": False,
            }
        ]
    },
    "bridge": {
        "ours": 3000.0,
        "peer": 12000.0,
        "ratio": 0.25,
        "unit": "msg/s",
        "lost": 0,
        "duplicated": 0,
        "p99_ms": 124.0,
        "workers_2_ratio": 1.8,
        "ours_2_workers": 5400.0,
        "peer_per_cpu_s": 24000.0,
        "ours_per_cpu_s": 6000.0,
        "redelivered": 0,
        "live": [
            {
                "workers": 1,
                "published": 100,
                "offered_rate": 10000.0,
                "stored_rate": 3200.0,
                "p50_ms": 2.0,
                "p99_ms": 124.0,
                "lost": 0,
                "duplicated": 0,
            }
        ],
        "devices": 1000,
        "rate_hz": 10.0,
        "seconds": 10.0,
        "backlog": 100_000,
        "store": "sqlite",
    },
    "can": {
        "ours": 11700.0,
        "peer": 600.0,
        "ratio": 19.5,
        "unit": "frames/s",
        "cpu_per_kframe_ours": 2.0,
        "cpu_per_kframe_peer": 450.0,
        "cpu_ratio": 225.0,
        "lost": 0,
        "frames": 80_000,
        "buses": 4,
        "sustained_ours": 60_000.0,
        "sustained_peer": 5_700.0,
        "where": "user-mode-linux guest",
    },
}


def results(records: dict[str, Any], errors: dict[str, str] | None = None) -> dict[str, Any]:
    outcomes = [Outcome(name, 1.0, Measured(record)) for name, record in records.items()]
    outcomes += [Outcome(name, 2.0, error=error) for name, error in (errors or {}).items()]
    return results_json(
        outcomes,
        MACHINE,
        date="2026-12-05 02:00 UTC",
        quick=False,
        seconds=125.0,
        load=(1.234, 6.5),
    )


def by_label(rows: list[Row]) -> dict[str, Row]:
    return {row.label or row.stage: row for row in rows}


def test_fusion_rows_judge_the_goals_only_at_200_targets() -> None:
    rows = by_label(rows_for("fusion", RECORDS["fusion"], VERSIONS))
    small, large = rows["tracker cycle, 20 targets"], rows["tracker cycle, 200 targets"]
    assert small.goal is None
    assert small.met is None
    assert small.peer_name == "Stone Soup 1.9.1"
    assert large.goal == ">= 100x"
    assert large.met is True
    assert large.ratio == pytest.approx(1735.0)
    gospa = rows["GOSPA, 200 targets"]
    assert gospa.ratio == pytest.approx(34.8 / 36.6)  # peer / ours: below 1, ours is worse
    assert gospa.met is False
    assert gospa.unit == "m"
    budget = next(row for row in rows.values() if row.stage.startswith("intersection budget"))
    assert (budget.ours, budget.goal, budget.met) == (2.03, "< 2 ms", False)


def test_time_and_cpu_ratios_are_peer_over_ours() -> None:
    (record,) = rows_for("record", RECORDS["record"], VERSIONS)
    assert record.ratio == pytest.approx(200.0)
    assert (record.goal, record.met) == ("< 5 %", True)
    assert record.peer_name == "python-can 4.6.1"
    can = by_label(rows_for("can", RECORDS["can"], VERSIONS))
    assert can["CPU per frame, 4 bus(es)"].ratio == 225.0
    assert can["CPU per frame, 4 bus(es)"].met is True
    assert can["receive, 4 bus(es)"].met is True  # 19.5x, goal 10x at four buses
    assert "(user-mode-linux guest)" in can["receive, 4 bus(es)"].stage
    assert can["highest rate with nothing lost"].ratio == pytest.approx(60_000 / 5_700)


def test_bench_can_on_one_bus_has_no_frames_per_second_goal() -> None:
    can = by_label(rows_for("can", {**RECORDS["can"], "buses": 1}, VERSIONS))
    assert can["receive, 1 bus(es)"].goal is None
    assert can["CPU per frame, 1 bus(es)"].goal == ">= 20x"


def test_memory_and_bridge_rows() -> None:
    (box,) = rows_for("memory", RECORDS["memory"], VERSIONS)
    assert (box.ours, box.goal, box.met, box.peer_name) == (101.5, "<= 100 MiB", False, None)
    bridge = by_label(rows_for("bridge", RECORDS["bridge"], VERSIONS))
    assert bridge["drain, 1 worker"].met is False
    assert bridge["drain, 2 workers vs 1"].met is True
    assert bridge["drain, 2 workers vs 1"].peer_name == "1 worker (ours)"
    lost = next(row for row in bridge.values() if "lost" in row.stage)
    assert (lost.ours, lost.met) == (0.0, True)


def test_e2e_rows_judge_loss_latency_against_the_fusion_period_and_rss() -> None:
    record = {
        "frames_in": 1000,
        "frames_lost": 0,
        "stored": 40,
        "p50_ms": 30.0,
        "p99_ms": 91.0,
        "fusion_period_ms": 72.0,
        "cpu_s_per_kframe": 0.05,
        "rss_mb": 101.0,
    }
    lost, latency, rss = rows_for("e2e", record, {})
    assert (lost.ours, lost.met) == (0.0, True)
    assert (latency.ours, latency.goal, latency.met) == (91.0, "< 92 ms", True)
    assert (rss.ours, rss.met) == (101.0, False)
    late = rows_for("e2e", {**record, "p99_ms": 92.0, "frames_lost": 3}, {})
    assert [row.met for row in late] == [False, False, False]
    unknown = rows_for("e2e", {**record, "p99_ms": None}, {})
    assert unknown[1].met is False  # no latency measured is not a goal met


def test_the_vehicle_gateway_rows_say_states_on_its_bus_against_the_state_period() -> None:
    record = {
        "frames_in": 84_000,
        "frames_lost": 0,
        "stored": 201,
        "p50_ms": 4.0,
        "p99_ms": 9.0,
        "fusion_period_ms": 100.0,
        "cpu_s_per_kframe": 0.06,
        "rss_mb": 61.0,
    }
    lost, latency, rss = rows_for("e2e-vehicle", record, {})
    assert "on the powertrain bus (201 states stored)" in lost.stage
    assert (lost.met, latency.goal, latency.met, rss.met) == (True, "< 120 ms", True, True)
    assert {lost.label, latency.label, rss.label} == {
        "e2e-vehicle lost",
        "e2e-vehicle p99",
        "e2e-vehicle RSS",
    }


def test_the_table_has_the_machine_every_row_and_the_failures() -> None:
    doc = results(RECORDS, {"uplink": "FirmwareError: no mosquitto"})
    rows = rows_of(doc)
    text = markdown(doc, rows, {"ratios": "benchmarks/ratios.png"})

    assert "on 2026-12-05 02:00 UTC" in text
    assert "one run of 2 min 5 s" in text
    assert "Quick run" not in text
    assert "| CPU | AMD EPYC, 2 cores |" in text
    assert "| memory | 23.5 GiB |" in text
    assert "| broker | Mosquitto 2.0.11 |" in text
    assert "| load average (1 min), start / end of the run | 1.23 / 6.50 |" in text
    assert "cantools 45.1.0" in text
    assert "mosquitto 2.0.11" not in text.split("| broker |")[0]
    results_part = text.split("## Results", 1)[1]
    table = [line for line in results_part.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + len(rows)  # the header and one line per row
    assert (
        "| fusion | tracker cycle, 200 targets (160 detections/scan; the peer on 30 cycles) "
        "| 1 | 1,735 | Stone Soup 1.9.1 | 1,735x | ms/cycle | >= 100x | met |"
    ) in text
    assert "| GOSPA (c = 10 m), 200 targets, over the peer's 30 cycles | 36.6 | 34.8 |" in text
    assert "| 0.951x | m | no worse (>= 1x) | **not met** |" in text
    assert (
        "| uplink | uplink: no figures | | | | | | | **failed**: FirmwareError: no mosquitto |"
        in text
    )
    assert "Failed: uplink" in text
    assert "![ratios](benchmarks/ratios.png)" in text
    assert failed(rows) == ["uplink"]


def test_a_record_without_a_figure_is_an_error_row_not_a_crash() -> None:
    broken = {**RECORDS["record"]}
    del broken["peer_core_percent"]
    rows = rows_of(results({"record": broken, "memory": RECORDS["memory"]}))
    assert rows[0].error == "its record cannot be read: KeyError 'peer_core_percent'"
    assert rows[1].benchmark == "memory"
    assert failed(rows) == ["record"]


def test_nan_figures_show_as_not_available() -> None:
    rows = [Row("uplink", "latency p99.9", ours=math.nan, unit="ms", goal="< 5 ms", met=False)]
    text = markdown(results({}), rows, {})
    assert "| uplink | latency p99.9 | n/a | | | | ms | < 5 ms | **not met** |" in text
    assert "## Plots" not in text


def test_write_report_writes_records_plots_and_the_table_linking_them(tmp_path: Path) -> None:
    doc = results(RECORDS)
    rows = rows_of(doc)
    outputs = Outputs(tmp_path / "docs" / "benchmarks.md", tmp_path / "docs" / "benchmarks")
    samples = {"uplink": [0.4, 0.5, 0.45, 1.2, 3.0, 0.38] * 50}

    written = write_report(doc, rows, samples, outputs)

    pngs = ["ratios.png", "throughput.png", "latency.png"]
    assert written == [
        outputs.directory / "results.json",
        *(outputs.directory / name for name in pngs),
        outputs.markdown,
    ]
    for name in pngs:
        assert_png(outputs.directory / name)
        assert f"](benchmarks/{name})" in outputs.markdown.read_text()
    stored = json.loads((outputs.directory / "results.json").read_text())
    assert stored["machine"] == MACHINE
    assert [row["stage"] for row in stored["rows"]] == [row.stage for row in rows]


def test_outputs_default_to_docs_and_put_everything_in_out() -> None:
    assert Outputs.at(None) == Outputs(Path("docs/benchmarks.md"), Path("docs/benchmarks"))
    assert Outputs.at(Path("/tmp/b")) == Outputs(Path("/tmp/b/benchmarks.md"), Path("/tmp/b"))


def test_plots_without_anything_to_draw_write_nothing(tmp_path: Path) -> None:
    no_ratio = [Row("memory", "peak RSS", ours=90.0, unit="MiB")]
    assert plot_ratios(no_ratio, tmp_path / "r.png", "t") is False
    assert plot_latency({}, {"decode": {}}, tmp_path / "l.png", "t") is False
    assert list(tmp_path.iterdir()) == []


def test_machine_figures_from_proc_files(tmp_path: Path) -> None:
    x86 = tmp_path / "cpuinfo"
    x86.write_text("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\n")
    assert cpu_model(x86) == "AMD EPYC 7B13"
    pi = tmp_path / "cpuinfo-pi"
    pi.write_text("processor\t: 0\nBogoMIPS\t: 108.00\n\nModel\t\t: Raspberry Pi 5 Model B\n")
    assert cpu_model(pi) == "Raspberry Pi 5 Model B"
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:        8123456 kB\nMemFree: 1 kB\n")
    assert ram_gib(meminfo) == 7.7
    assert ram_gib(tmp_path / "missing") is None
    release = tmp_path / "os-release"
    release.write_text('NAME="Debian"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n')
    assert os_name(release) == "Debian GNU/Linux 12 (bookworm)"
