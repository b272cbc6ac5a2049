"""``roadgate bench bridge`` at a small size: it runs end to end, loses nothing, writes its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from firmware_py.benchmarks.bridge import BenchSizes
from tests.cloud_bridge.postgres_db import fresh_schema, schema_url

pytestmark = [pytest.mark.mosquitto]

PROJECT = Path(__file__).resolve().parents[2]
KEYS = {"ours", "peer", "ratio", "unit", "lost", "duplicated", "p99_ms", "workers_2_ratio"}


def bench_bridge(*args: str) -> subprocess.CompletedProcess[str]:
    """``roadgate bench bridge ARGS`` as a user runs it, from the project's root."""
    return subprocess.run(
        [sys.executable, "-m", "firmware_py.cli", "bench", "bridge", *args],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=280,
    )


@pytest.mark.timeout(300)
def test_bench_bridge_small_run_loses_nothing(tmp_path: Path) -> None:
    report = tmp_path / "bridge.json"
    sizes = ["--devices", "20", "--rate-hz", "10", "--seconds", "1.5", "--backlog", "1000"]
    run = bench_bridge(*sizes, "--json", str(report))
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(report.read_text())
    assert result.keys() >= KEYS
    assert (result["lost"], result["duplicated"], result["unit"]) == (0, 0, "msg/s")
    assert result["ours"] > 0
    assert result["peer"] > 0
    assert result["ratio"] == pytest.approx(result["ours"] / result["peer"], abs=1e-3)
    assert result["workers_2_ratio"] > 0
    assert 0 < result["p99_ms"] < 60_000
    assert [run["workers"] for run in result["live"]] == [1, 2]
    assert all(run["published"] == 20 * 15 for run in result["live"])
    assert "drain  1 bridge worker" in run.stdout
    assert result["store"] == "sqlite"
    assert result["worker_cpu_ms_per_1k"] > 0
    assert result["backend_cpu_ms_per_1k"] is None  # no server process


@pytest.mark.timeout(300)
def test_bench_bridge_into_postgresql_counts_its_backend_cpu(tmp_path: Path) -> None:
    report = tmp_path / "bridge.json"
    sizes = ["--devices", "20", "--rate-hz", "10", "--seconds", "1", "--backlog", "2000"]
    with fresh_schema() as schema:
        run = bench_bridge(
            *sizes, "--store", schema_url(schema), "--worker-cpu", "0.5", "--json", str(report)
        )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(report.read_text())
    assert (result["store"], result["lost"], result["duplicated"]) == ("postgresql", 0, 0)
    # The server runs here: its process serving the worker did the inserts.
    assert result["backend_cpu_ms_per_1k"] > 0
    assert "its PostgreSQL backend" in run.stdout
    # The scale-out drains again with each worker in a cgroup of its own at half a CPU.
    assert result["worker_cpu"] == 0.5
    assert result["ours_at_quota"] > 0
    assert result["ours_2_at_quota"] > 0
    ratio = result["ours_2_at_quota"] / result["ours_at_quota"]
    assert result["workers_2_ratio_at_quota"] == pytest.approx(ratio, abs=1e-3)
    assert "each worker held to 0.50 CPU" in run.stdout


@pytest.mark.parametrize(
    "kwargs",
    [
        {"devices": 0},
        {"backlog": 0},
        {"rate_hz": 0.0},
        {"seconds": -1.0},
        {"worker_cpu": 0.0},
        {"worker_cpu": 1.5},
    ],
)
def test_sizes_reject_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must be|share of one CPU"):
        BenchSizes(**kwargs)  # type: ignore[arg-type]
