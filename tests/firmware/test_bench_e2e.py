"""``roadgate bench e2e``: the traffic fills the bus it says, the configs are the radars',
cycles are matched to stored lists, and a short run of the real unit, broker and bridge on vcan
(in user-mode-linux here) loses nothing and stores every list (speed is never asserted)."""

from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path

import numpy as np
import pytest

from edge.geodesy import LocalFrame
from firmware_py.benchmarks.e2e import JSON_KEYS, E2eResult, run_e2e_bench
from firmware_py.benchmarks.e2e_config import bridge_config, unit_config
from firmware_py.benchmarks.e2e_guest import MATCH_NS, newest_frame_ns
from firmware_py.benchmarks.e2e_traffic import (
    BITRATE,
    REFERENCE,
    Traffic,
    bus_load,
    cycle_bits,
    frame_bits,
    write_traffic,
)
from firmware_py.cli import main as cli_main
from firmware_py.config.loader import load_box_config, load_bridge_config
from firmware_py.simulation.radar import CYCLE_S
from hil.uml.runner import run_with_vcan


def _log(path: Path) -> list[tuple[float, str, int, int]]:
    """(time, channel, id, data bytes) of each line of a candump log."""
    rows = []
    for line in path.read_text().splitlines():
        stamp, channel, frame = line.split()
        frame_id, data = frame.split("#")
        rows.append((float(stamp.strip("()")), channel, int(frame_id, 16), len(data) // 2))
    return rows


def test_a_hundred_objects_fill_most_of_a_500_kbit_bus() -> None:
    assert cycle_bits(100) == 79 + 100 * (111 + 103 + 111)
    assert bus_load(100) == pytest.approx(32_579 / 36_000)
    assert 0.85 < bus_load(100) < 1.0  # stuff bits (about 10 %) take the rest


def test_the_traffic_log_is_what_its_bus_load_says(tmp_path: Path) -> None:
    traffic = write_traffic(tmp_path / "t.log", 1.0, 100)
    rows = _log(traffic.path)
    assert traffic.frames == len(rows) == 4 * traffic.cycles * 301
    assert traffic.cycles == math.floor(1.0 / CYCLE_S)
    assert [t for t, *_ in rows] == sorted(t for t, *_ in rows)
    vcan0 = [row for row in rows if row[1] == "vcan0"]
    bits = sum(frame_bits(size) for *_, size in vcan0[:301])
    assert bits == cycle_bits(100)
    # One cycle's frames follow at the bit rate and end before the next cycle starts.
    assert vcan0[300][0] - vcan0[0][0] == pytest.approx((bits - 111) / BITRATE, abs=2e-6)
    assert vcan0[301][0] == pytest.approx(CYCLE_S, abs=1e-6)
    assert vcan0[0][2] == 0x60A
    assert vcan0[301][2] == 0x60A
    with pytest.raises(ValueError, match="objects"):
        write_traffic(tmp_path / "x.log", 1.0, 128)


def test_the_configs_put_each_radar_on_its_bus_where_the_scene_has_it(tmp_path: Path) -> None:
    traffic = write_traffic(tmp_path / "t.log", 0.5, 5)
    box = load_box_config(unit_config(tmp_path, traffic, "127.0.0.1", 1883))
    assert box.perception.uplink_period_s == 0.0  # the default: every fused list goes up
    periodic = unit_config(tmp_path, traffic, "127.0.0.1", 1883, uplink_period_s=0.1)
    assert load_box_config(periodic).perception.uplink_period_s == 0.1
    assert [bus.channel for bus in box.can] == ["vcan0", "vcan1", "vcan2", "vcan3"]
    frame = LocalFrame.at(*REFERENCE)
    for radar, mount in zip(box.radars, traffic.mounts, strict=True):
        east, north, _ = frame.geodetic_to_enu(*radar.position.coordinates)
        assert (float(east), float(north)) == pytest.approx((mount.east_m, mount.north_m), abs=0.01)
        assert radar.heading_deg == pytest.approx(math.degrees(mount.yaw_rad) % 360, abs=1e-3)
    bridge = load_bridge_config(bridge_config(tmp_path, "127.0.0.1", 1883))
    assert Path(bridge.store_path) == tmp_path / "bridge.sqlite3"


def test_a_capture_time_is_matched_to_its_cycle_or_to_none() -> None:
    starts = np.array([1_000_000, 2_000_000, 3_000_000], np.int64)
    ends = np.array([1_900_000, 2_900_000, 3_500_000], np.int64)
    captures = np.array([2_000_000, 1_000_000 + MATCH_NS, 3_000_000 - 1, 2_500_000, 9_000_000])
    assert newest_frame_ns(captures, starts, ends).tolist() == [
        2_900_000,
        1_900_000,
        3_500_000,
        -1,
        -1,
    ]
    assert newest_frame_ns(captures[:2], starts[:0], ends[:0]).tolist() == [-1, -1]
    one = newest_frame_ns(np.array([1_000_000, 5]), starts[:1], ends[:1])
    assert one.tolist() == [1_900_000, -1]


def test_bad_sizes_are_refused_before_anything_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["bench", "e2e", "--objects", "200"]) == 2
    assert "--objects at most 127" in capsys.readouterr().err
    assert cli_main(["bench", "e2e", "--seconds", "0"]) == 2
    assert "--seconds must be in (0, 3600)" in capsys.readouterr().err


@pytest.fixture(scope="module")
def lists_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e") / "lists.csv"


@pytest.fixture(scope="module")
def short_run(lists_csv: Path) -> E2eResult:
    return run_e2e_bench(3.0, 10, run_with_vcan, lists=lists_csv)


@pytest.mark.timeout(400)
def test_a_short_run_loses_nothing_and_stores_every_list(short_run: E2eResult) -> None:
    d = short_run.details
    cycles = math.floor(3.0 / CYCLE_S)
    assert short_run.frames_in > 0
    assert d["cycles_seen"] == d["cycles_sent"] == 4 * cycles  # every cycle went on a bus
    assert short_run.frames_lost == 0
    assert d["frames_received"] == short_run.frames_in
    # One fused list per radar list the tracker took, each traced back to its cycle; on a busy
    # machine a list can come later than the tracker takes (counted, not lost on the way).
    counters = d["unit_counters"]
    rejected = sum(v for k, v in counters.items() if k.startswith("perception.rejects."))
    assert short_run.stored == counters["pipeline.fused_lists"]
    assert short_run.stored + rejected == 4 * cycles
    assert d["unmatched"] == 0
    assert d["stored_all"] > short_run.stored  # health and the intersection went through too


@pytest.mark.timeout(400)
def test_a_short_run_reports_every_figure(short_run: E2eResult) -> None:
    figures = short_run.as_json()
    assert tuple(figures) == JSON_KEYS
    assert figures["fusion_period_ms"] == pytest.approx(72.0)
    assert figures["p50_ms"] is not None
    assert figures["p99_ms"] is not None
    # Stored after the newest frame it used, on the same clock, and the unit published before.
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]
    assert 0 < short_run.details["p50_in_unit_ms"] <= figures["p50_ms"]
    assert figures["cpu_s_per_kframe"] > 0
    assert 20 < figures["rss_mb"] < 1000  # a Python process's RSS, in MB not bytes or kB


@pytest.mark.timeout(400)
def test_a_short_run_writes_each_stored_list_with_its_times(
    short_run: E2eResult, lists_csv: Path
) -> None:
    with lists_csv.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == short_run.stored
    newest = [int(row["newest_frame_ns"]) for row in rows]
    assert newest == sorted(newest)
    to_bridge = [float(row["to_bridge_ms"]) for row in rows]
    for row in rows:
        frame, capture = int(row["newest_frame_ns"]), int(row["capture_ns"])
        published, received = int(row["published_ns"]), int(row["received_ns"])
        # The cycle's status frame (the capture time) comes first, its newest frame later;
        # the unit publishes after that, the bridge receives after the unit published.
        assert capture <= frame < published <= received
        assert float(row["in_unit_ms"]) == pytest.approx((published - frame) / 1e6, abs=1e-3)
    assert statistics.median(to_bridge) == pytest.approx(short_run.p50_ms, rel=0.05, abs=0.5)


def test_the_goal_needs_nothing_lost_and_the_latency_and_memory_bounds() -> None:
    base = dict(
        frames_in=10,
        frames_lost=0,
        stored=4,
        p50_ms=10.0,
        p99_ms=91.0,
        fusion_period_ms=72.0,
        cpu_s_per_kframe=0.1,
        rss_mb=99.0,
        details={},
    )
    assert E2eResult(**base).within_goal  # type: ignore[arg-type]
    for change in ({"frames_lost": 1}, {"p99_ms": 92.0}, {"rss_mb": 100.0}, {"p99_ms": None}):
        assert not E2eResult(**{**base, **change}).within_goal  # type: ignore[arg-type]


def test_the_traffic_description_round_trips_through_json(tmp_path: Path) -> None:
    traffic = write_traffic(tmp_path / "t.log", 0.2, 3)
    assert Traffic.from_json(json.loads(json.dumps(traffic.as_json()))) == traffic
    assert traffic.channels == ("vcan0", "vcan1", "vcan2", "vcan3")
