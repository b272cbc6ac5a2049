"""``roadgate bench e2e --box vehicle``: the powertrain bus is full with the mapped signals at
their real cycle, the config is the gateway's, capture times are matched to recorded frames,
and a short run of the real gateway, broker and bridge on vcan (in user-mode-linux here) loses
no frame and stores a state for each tick (speed is never asserted)."""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from firmware_py.benchmarks.e2e import JSON_KEYS, E2eResult, format_result, run_e2e_bench
from firmware_py.benchmarks.e2e_config import vehicle_config
from firmware_py.benchmarks.e2e_guest import MATCH_NS, newest_frame_ns
from firmware_py.benchmarks.e2e_traffic import BITRATE, frame_bits
from firmware_py.benchmarks.e2e_vehicle import (
    FILL,
    STATE_RATE_HZ,
    VehicleTraffic,
    mapped_ids,
    mapped_messages,
    write_vehicle_traffic,
)
from firmware_py.benchmarks.tick_accounting import ECU_CLOCK_SKEW
from firmware_py.box.parts import wanted_ids
from firmware_py.cli import main as cli_main
from firmware_py.config.loader import load_box_config
from firmware_py.config.model import Role
from firmware_py.simulation.vehicle_can import FAST_PERIOD_S
from hil.uml.runner import run_with_vcan
from protocols.dbc import load_dbc


def _log(path: Path) -> list[tuple[float, int, int]]:
    """(time, id, data bytes) of each line of a one-bus candump log."""
    rows = []
    for line in path.read_text().splitlines():
        stamp, channel, frame = line.split()
        assert channel == "vcan0"
        frame_id, data = frame.split("#")
        rows.append((float(stamp.strip("()")), int(frame_id, 16), len(data) // 2))
    return rows


def test_the_bus_is_full_and_the_mapped_signals_keep_their_cycle(tmp_path: Path) -> None:
    traffic = write_vehicle_traffic(tmp_path / "v.log", 1.0)
    rows = _log(traffic.path)
    assert traffic.frames == len(rows)
    assert [t for t, *_ in rows] == sorted(t for t, *_ in rows)
    ids = mapped_ids()
    signals = [row for row in rows if row[1] in ids]
    assert traffic.signal_frames == len(signals)
    per_id = Counter(frame_id for _, frame_id, _ in signals)
    ticks = round(1.0 / FAST_PERIOD_S)
    # Speed, kinematics, brake and steering at 50 Hz; blinkers and gear at 10 Hz.
    assert sorted(per_id.values()) == [ticks // 5] * 2 + [ticks] * 4
    bits = sum(frame_bits(size) for *_, size in rows)
    # The signals' cycle, counted by the ECUs' clock, slow against the guest's tick.
    speed_times = [t for t, frame_id, _ in signals if frame_id == signals[0][1]]
    assert np.diff(speed_times) == pytest.approx(FAST_PERIOD_S * ECU_CLOCK_SKEW)
    assert traffic.seconds == pytest.approx(1.0 * ECU_CLOCK_SKEW)
    assert traffic.bus_load == pytest.approx(bits / traffic.seconds / BITRATE)
    assert FILL - 0.03 < traffic.bus_load <= FILL
    # Every other message of the DBC fills the ticks: far more frames than the signals'.
    assert len(rows) > 15 * len(signals)
    with pytest.raises(ValueError, match="bad traffic"):
        write_vehicle_traffic(tmp_path / "x.log", 0.0)


def test_the_traffic_description_round_trips_through_json(tmp_path: Path) -> None:
    traffic = write_vehicle_traffic(tmp_path / "v.log", 0.2)
    assert VehicleTraffic.from_json(json.loads(json.dumps(traffic.as_json()))) == traffic
    assert traffic.channels == ("vcan0",)


def test_the_config_is_a_vehicle_gateway_filtering_its_mapped_messages(tmp_path: Path) -> None:
    box = load_box_config(vehicle_config(tmp_path, "127.0.0.1", 1883))
    assert box.device.role is Role.VEHICLE_GATEWAY
    assert [bus.channel for bus in box.can] == ["vcan0"]
    assert box.vehicle is not None
    assert box.vehicle.state_rate_hz == STATE_RATE_HZ
    assert box.vehicle.signals.messages() <= mapped_messages()
    wanted = wanted_ids(box, "powertrain", load_dbc(box.can[0].dbc).database)
    assert wanted is not None
    assert set(wanted.standard) <= mapped_ids()


def test_a_capture_time_is_matched_to_its_frame_or_to_none() -> None:
    stamps = np.array([1_000_000, 2_000_000, 3_000_000], np.int64)
    captures = np.array(
        [2_000_000, 2_000_000 + MATCH_NS, 1_000_000 - 2 * MATCH_NS, 3_000_001, 4_000_000]
    )
    assert newest_frame_ns(captures, stamps, stamps).tolist() == [
        2_000_000,
        2_000_000,
        -1,
        3_000_000,
        -1,
    ]
    assert newest_frame_ns(captures, *[np.zeros(0, np.int64)] * 2).tolist() == [-1] * 5


def test_the_roadside_options_are_refused_for_the_vehicle_box(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli_main(["bench", "e2e", "--box", "vehicle", "--board"]) == 2
    assert "not with --box vehicle" in capsys.readouterr().err
    assert cli_main(["bench", "e2e", "--box", "vehicle", "--uplink-period", "0.1"]) == 2
    assert "not with --box vehicle" in capsys.readouterr().err
    assert cli_main(["bench", "e2e", "--uplink-period", "-1"]) == 2
    assert "--uplink-period must be in [0, 10] s" in capsys.readouterr().err


@pytest.fixture(scope="module")
def states_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-vehicle") / "states.csv"


@pytest.fixture(scope="module")
def short_run(states_csv: Path) -> E2eResult:
    return run_e2e_bench(3.0, 1, run_with_vcan, lists=states_csv, box="vehicle")


@pytest.mark.timeout(400)
def test_a_short_run_loses_no_frame_and_stores_a_state_a_tick(short_run: E2eResult) -> None:
    d = short_run.details
    assert d["signal_frames_seen"] == d["signal_frames"] > 0
    assert short_run.frames_lost == 0
    assert d["frames_received"] == d["signal_frames"]  # the kernel kept the filler out
    assert short_run.frames_in > 15 * d["signal_frames"]
    # A state every 100 ms while frames come (the first needs a frame, the last may follow
    # the traffic; a busy guest may run a tick late), each traced back to the frame it took
    # last.
    ticks = math.floor(3.0 * STATE_RATE_HZ)
    assert ticks - 5 <= short_run.stored <= ticks + 1
    assert d["unmatched"] == 0
    assert d["stored_all"] > short_run.stored  # health went through too


@pytest.mark.timeout(400)
def test_a_short_run_reports_every_figure(short_run: E2eResult, states_csv: Path) -> None:
    figures = short_run.as_json()
    assert tuple(figures) == JSON_KEYS
    assert figures["fusion_period_ms"] == pytest.approx(1000 / STATE_RATE_HZ)
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]
    assert 0 < short_run.details["p50_in_unit_ms"] <= figures["p50_ms"]
    assert 20 < figures["rss_mb"] < 1000
    assert "vehicle gateway" in format_result(short_run)
    with states_csv.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == short_run.stored
    for row in rows:
        frame, capture = int(row["newest_frame_ns"]), int(row["capture_ns"])
        published, received = int(row["published_ns"]), int(row["received_ns"])
        assert abs(frame - capture) <= MATCH_NS
        assert capture < published <= received
