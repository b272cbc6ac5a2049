"""``roadgate bench memory`` (issue 14, item 8): real boxes in subprocesses, measured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from firmware_py.benchmarks.memory import (
    BUDGETS_MB,
    BoxMemory,
    format_result,
    roadside_config,
    vehicle_config,
)
from firmware_py.config.loader import load_box_config
from tests.support.mosquitto import Broker

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_the_roadside_config_has_four_radars_on_the_broker_given(tmp_path: Path) -> None:
    config = load_box_config(roadside_config(tmp_path, "127.0.0.1", 1999))
    assert [radar.sensor_id for radar in config.radars] == [0, 1, 2, 3]
    assert config.uplink.mqtt.port == 1999
    assert config.outbox.path.parent == tmp_path
    assert config.roadside is not None
    assert config.roadside.intersection is not None


def test_the_vehicle_config_is_the_example_on_the_broker_given(tmp_path: Path) -> None:
    config = load_box_config(vehicle_config(tmp_path, "127.0.0.1", 1999))
    assert config.vehicle is not None
    assert config.uplink.mqtt.port == 1999
    assert config.outbox.path.parent == tmp_path


def test_over_budget_and_cpu_per_1000_frames_per_second() -> None:
    box = BoxMemory("vehicle_gateway", 10.0, 70.0, 85.0, 0.2, 2000.0, 80.0)
    assert not box.within_budget
    assert box.cpu_per_1000_fps == 0.1
    assert "OVER BUDGET" in format_result([box])
    assert BoxMemory("roadside_unit", 1, 1, 1, 0.1, 0.0, 100).cpu_per_1000_fps is None


def test_bench_memory_measures_both_boxes(mosquitto: Broker, tmp_path: Path) -> None:
    out = tmp_path / "memory.json"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "firmware_py.cli", "bench", "memory"),
            *("--seconds", "6", "--host", mosquitto.host, "--port", str(mosquitto.port)),
            *("--json", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT_ROOT,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    results = json.loads(out.read_text())
    assert [r["role"] for r in results] == ["roadside_unit", "vehicle_gateway"]
    for result in results:
        assert 0 < result["rss_mb"] <= result["peak_rss_mb"]
        assert result["budget_mb"] == BUDGETS_MB[result["role"]]
        assert result["frames_per_s"] > 0
        assert result["cpu_per_1000_fps"] > 0
        assert result["within_budget"] == (result["peak_rss_mb"] <= result["budget_mb"])
    assert done.returncode == (0 if all(r["within_budget"] for r in results) else 1)
    assert "roadside_unit" in done.stdout
    assert "vehicle_gateway" in done.stdout
