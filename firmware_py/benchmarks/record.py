"""``roadgate benchmark record``: what the flight recorder costs at 4 full CAN buses.

A synthetic stream of frame batches, as ``edge.port_io`` hands them over (one batch per bus
every 50 ms), 4,000 classic frames of 8 random bytes a second per bus (a 500 kbit/s bus at
full load), is built before timing; then ``FlightRecorder`` records it as fast as it can into
a temporary directory, its clock following the traffic's time so that it writes a chunk
every half second of traffic as on a box. The CPU time of the process (``time.process_time``:
encoding, zstd, writing) over the seconds of traffic recorded is the share of one core
recording costs. Random payloads are the worst case for the file's size, not for CPU.

For scale, the same frames of one second go through python-can's BLF writer
(``hal.can.log_files.write_can_log``), the way a Python tool logs frames one message at a
time. Before the result counts, the log is read back and its frame count checked.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.recording.reader import CanItem, read_logs
from edge.recording.writer import FlightRecorder, RecorderLimits
from firmware_py.errors import FirmwareError
from hal.can.frames import FrameBatch, empty_batch
from hal.can.log_files import write_can_log

BUSES = 4
FRAMES_PER_S = 4000
BATCH_S = 0.05
DEFAULT_SECONDS = 20.0
GOAL_CORE_PERCENT = 5.0
T0 = 1_780_000_000.0


@dataclass(frozen=True)
class RecordBenchResult:
    traffic_s: float
    buses: int
    frames: int
    cpu_s: float
    core_percent: float
    """CPU per second of traffic, as % of one core."""
    bytes_on_disk: int
    mb_per_hour: float
    bytes_per_frame: float
    peer_core_percent: float
    """python-can's BLF writer on the same traffic, % of one core."""

    @property
    def within_goal(self) -> bool:
        return self.core_percent < GOAL_CORE_PERCENT

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "goal_core_percent": GOAL_CORE_PERCENT}


def synthetic_stream(
    seconds: float, buses: int = BUSES, rate: int = FRAMES_PER_S, seed: int = 18
) -> list[tuple[str, FrameBatch]]:
    """``(bus, batch)`` in arrival order: a batch per bus every ``BATCH_S`` of traffic."""
    rng = np.random.default_rng(seed)
    per_batch = round(rate * BATCH_S)
    stream = []
    for step in range(round(seconds / BATCH_S)):
        start = T0 + step * BATCH_S
        for bus in range(buses):
            batch = empty_batch(per_batch)
            batch["timestamp"] = start + np.arange(per_batch) / rate + bus * 1e-5
            batch["arbitration_id"] = rng.integers(0x100, 0x200, per_batch)
            batch["dlc"] = 8
            batch["data"][:, :8] = rng.integers(0, 256, (per_batch, 8), dtype=np.uint8)
            stream.append((f"can{bus}", batch))
    return stream


def run_record_bench(seconds: float = DEFAULT_SECONDS, buses: int = BUSES) -> RecordBenchResult:
    """Record ``seconds`` of ``buses`` full buses; raises ``FirmwareError`` if the log does not
    read back whole."""
    stream = synthetic_stream(seconds, buses)
    frames = sum(len(batch) for _, batch in stream)
    with tempfile.TemporaryDirectory(prefix="rg-bench-record-") as tmp:
        directory = Path(tmp)
        traffic_clock = [0.0]
        recorder = FlightRecorder(
            directory / "logs", RecorderLimits(), monotonic=lambda: traffic_clock[0]
        )
        recorder.start()
        cpu_start = time.process_time()
        for bus, batch in stream:
            traffic_clock[0] = float(batch["timestamp"][0]) - T0
            recorder.can_frames(bus, batch)
        recorder.close()
        cpu = time.process_time() - cpu_start
        files = recorder.files()
        size = sum(path.stat().st_size for path in files)
        read_back = sum(len(i.frames) for i in read_logs(files) if isinstance(i, CanItem))
        if read_back != frames:
            raise FirmwareError(f"recorded {frames} frames, read back {read_back}")
        one_second = np.concatenate([b for _, b in stream[: round(buses / BATCH_S)]])
        peer_start = time.process_time()
        write_can_log(directory / "peer.blf", one_second)
        peer_cpu = time.process_time() - peer_start
    return RecordBenchResult(
        traffic_s=seconds,
        buses=buses,
        frames=frames,
        cpu_s=cpu,
        core_percent=100.0 * cpu / seconds,
        bytes_on_disk=size,
        mb_per_hour=size / seconds * 3600 / 1e6,
        bytes_per_frame=size / frames,
        peer_core_percent=100.0 * peer_cpu,
    )


def format_result(result: RecordBenchResult) -> str:
    verdict = "within" if result.within_goal else "OVER"
    return "\n".join(
        [
            f"recording {result.buses} buses x {FRAMES_PER_S} frames/s for "
            f"{result.traffic_s:g} s of traffic ({result.frames} frames)",
            f"  flight recorder: {result.cpu_s:.3f} s CPU = {result.core_percent:.2f} % of one "
            f"core ({verdict} the {GOAL_CORE_PERCENT:g} % goal)",
            f"  on disk: {result.bytes_per_frame:.1f} bytes/frame, "
            f"{result.mb_per_hour:.0f} MB/hour",
            f"  python-can BLF writer, same traffic: {result.peer_core_percent:.1f} % of one core",
        ]
    )
