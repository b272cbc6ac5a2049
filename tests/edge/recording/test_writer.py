"""The recorder's files: crash safety under SIGKILL, rotation, the total bound, a full disk."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edge.recording.errors import RecordingError
from edge.recording.log_format import Kind
from edge.recording.reader import (
    CanItem,
    DatagramItem,
    LineItem,
    LogReader,
    ReadReport,
    read_logs,
)
from edge.recording.sink import NoRecording, RecordingSink
from edge.recording.writer import FlightRecorder, RecorderLimits
from hal.can.frames import make_batch
from tests.support.tmpfs import fill, tiny_tmpfs

KiB = 1024
PROJECT = Path(__file__).resolve().parents[3]

CHILD = """
import sys, time
from pathlib import Path
from edge.recording.log_format import Kind
from edge.recording.writer import FlightRecorder, RecorderLimits
from hal.can.frames import make_batch

recorder = FlightRecorder(Path(sys.argv[1]), RecorderLimits())  # a chunk every 0.5 s
recorder.start()
n = 0
announced = False
while True:
    now = time.time()
    recorder.can_frames("vehicle", make_batch([(now, 0x100, n.to_bytes(8, "little"))]))
    recorder.datagrams(Kind.SPAT, "sc", [(n.to_bytes(4, "little"), now)])
    n += 1
    if not announced and recorder.counters["messages"]:
        print("recording", flush=True)
        announced = True
    time.sleep(0.001)
"""


def test_sigkill_loses_at_most_the_last_second_and_the_file_stays_readable(
    tmp_path: Path,
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "recording\n"
        time.sleep(2.7)  # not a multiple of the flush interval
        killed_at = time.time()
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=10)
    (path,) = tmp_path.glob("*.mcap")
    reader = LogReader(path)
    items = list(reader)
    assert not reader.report.complete
    counters = [
        int.from_bytes(item.frames["data"][0][:8].tobytes(), "little")
        for item in items
        if isinstance(item, CanItem)
    ]
    assert counters == list(range(len(counters)))  # nothing lost before the tail
    spat = [item for item in items if isinstance(item, DatagramItem)]
    assert len(counters) - len(spat) in (0, 1)  # a flush may fall between the two calls
    lost_s = killed_at - max(item.timestamp for item in items)
    print(f"lost the last {lost_s:.3f} s")
    assert lost_s <= 1.0, f"lost the last {lost_s:.2f} s"


def _batch(at: float, size: int = 200) -> np.ndarray:
    rng = np.random.default_rng(int(at * 10))
    return make_batch([(at + i * 1e-4, i % 0x7FF, rng.bytes(8)) for i in range(size)])


def test_files_rotate_by_size_and_by_age_and_every_file_is_complete(tmp_path: Path) -> None:
    now = [0.0]
    limits = RecorderLimits(
        max_file_bytes=64 * KiB,
        max_file_age_s=10.0,
        max_total_bytes=100 * 1024 * KiB,
        flush_interval_s=0.5,
    )
    recorder = FlightRecorder(tmp_path, limits, monotonic=lambda: now[0])
    recorder.start()
    for step in range(19):  # 9.5 s of 1000 frames of random data a step: size rotation
        now[0] = step * 0.5
        recorder.can_frames("vehicle", _batch(1.7e9 + step, 1000))
    size_files = len(recorder.files())
    assert size_files >= 3
    for step in range(19, 99):  # small messages for 40 s: age rotation every 10 s
        now[0] = step * 0.5
        recorder.serial_lines("gnss", [b"$GNRMC"], 1.7e9 + step)
        recorder.tick()
    recorder.close()
    files = recorder.files()
    assert len(files) - size_files >= 4
    reports: list[ReadReport] = []
    items = list(read_logs(files, reports))
    assert all(report.complete and not report.damaged for report in reports)
    assert sum(len(i.frames) for i in items if isinstance(i, CanItem)) == 19 * 1000
    assert sum(not isinstance(i, CanItem) for i in items) == 80
    assert recorder.counters["messages"] == 99
    assert all(path.stat().st_size < 2 * limits.max_file_bytes for path in files)


def test_the_oldest_files_are_deleted_to_keep_the_total(tmp_path: Path) -> None:
    now = [0.0]
    limits = RecorderLimits(
        max_file_bytes=32 * KiB, max_total_bytes=128 * KiB, flush_interval_s=0.5
    )
    recorder = FlightRecorder(tmp_path, limits, monotonic=lambda: now[0])
    recorder.start()
    first = recorder.current_path
    other = tmp_path / "someone-else.mcap"
    other.write_bytes(b"not ours")
    for step in range(100):
        now[0] = step * 0.5
        recorder.can_frames("vehicle", _batch(1.7e9 + step, 100))
    recorder.close()
    files = recorder.files()
    total = sum(path.stat().st_size for path in files)
    assert total <= limits.max_total_bytes + limits.max_file_bytes  # the last one may overshoot
    assert first not in files
    assert recorder.counters["files_deleted"] > 0
    assert other.exists()  # only the recorder's own files are deleted
    reports: list[ReadReport] = []
    list(read_logs(files, reports))
    assert all(report.complete for report in reports)


def test_a_full_disk_is_counted_and_recording_resumes_after_space_returns(
    tmp_path: Path,
) -> None:
    now = [0.0]
    limits = RecorderLimits(
        max_file_bytes=256 * KiB,
        max_total_bytes=64 * 1024 * KiB,  # larger than the disk: the disk fills first
        flush_interval_s=0.5,
        retry_after_s=5.0,
    )
    with tiny_tmpfs(tmp_path / "disk", 768) as disk:
        recorder = FlightRecorder(disk, limits, monotonic=lambda: now[0])
        recorder.start()
        rng = np.random.default_rng(7)
        step = 0
        while not recorder.dropped and step < 400:
            now[0] = step * 0.5
            recorder.envelope("rg/v1/xa/rsu-7/objects", rng.bytes(20 * KiB), 1.7e9 + step)
            step += 1
        assert recorder.dropped["enospc"] > 0
        assert recorder.last_error == "enospc"
        assert recorder.counters["write_errors"] >= 1
        # While waiting to retry, what arrives is dropped and counted, nothing raises.
        recorder.datagrams(Kind.V2X_RX, "radio", [(b"\x01", 1.7e9 + step)])
        assert recorder.current_path is None
        # The recorder deleted its oldest file to make room; after retry_after_s it records.
        assert recorder.counters["files_deleted"] >= 1
        now[0] += limits.retry_after_s
        recorder.datagrams(Kind.V2X_RX, "radio", [(b"\x02", 1.7e9 + step + 6)])
        recorder.close()
        assert recorder.last_error is None
        files = recorder.files()
        reports: list[ReadReport] = []
        items = list(read_logs(files, reports))
        assert reports[-1].complete
        assert any(isinstance(i, DatagramItem) and i.payload == b"\x02" for i in items)
        assert not all(r.complete for r in reports)  # the file abandoned at the fault


def test_an_unwritable_directory_fails_start_but_never_a_recording_call(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    recorder = FlightRecorder(blocker / "logs")
    with pytest.raises(RecordingError, match="cannot record into"):
        recorder.start()
    recorder.envelope("rg/v1/xa/d/health", b"\x08\x01", 1.7e9)
    recorder.close()
    assert sum(recorder.dropped.values()) == 1
    assert recorder.last_error == "enotdir"


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="flush_interval_s"):
        RecorderLimits(flush_interval_s=2.0)
    with pytest.raises(ValueError, match="max_total_bytes"):
        RecorderLimits(max_file_bytes=10, max_total_bytes=5)


def test_the_recorder_and_the_null_sink_fill_the_pipelines_role(tmp_path: Path) -> None:
    sinks: list[RecordingSink] = [FlightRecorder(tmp_path), NoRecording()]
    for sink in sinks:
        sink.envelope("rg/v1/xa/d/health", b"\x08\x01", 1.7e9)
    recorder = sinks[0]
    assert isinstance(recorder, FlightRecorder)
    recorder.close()
    assert recorder.counters["messages"] == 1


def test_a_disk_filled_by_someone_else_leaves_no_empty_files_behind(tmp_path: Path) -> None:
    now = [0.0]
    limits = RecorderLimits(retry_after_s=1.0)
    with tiny_tmpfs(tmp_path / "disk", 256) as disk:
        filler = disk / "someone-else.bin"
        fill(filler)
        recorder = FlightRecorder(disk / "logs", limits, monotonic=lambda: now[0])
        with pytest.raises(RecordingError, match="cannot record into"):
            recorder.start()
        for second in range(10):  # ten retries, each failing
            now[0] = float(second)
            recorder.serial_lines("gnss", [b"$GNGGA"], 1.7e9 + second)
            recorder.tick()
        assert recorder.dropped["enospc"] == 10
        assert recorder.files() == []
        filler.unlink()
        now[0] = 20.0
        recorder.serial_lines("gnss", [b"$GNRMC"], 1.7e9 + 20)
        recorder.close()
        (path,) = recorder.files()
        reader = LogReader(path)
        assert [item.line for item in reader if isinstance(item, LineItem)] == [b"$GNRMC"]
        assert reader.report.complete
