"""The end-to-end benchmark where the vcan buses exist (natively, or inside the user-mode-linux
guest): ``python -m firmware_py.benchmarks.e2e_guest TRAFFIC LOGS OUT [--box vehicle]``.

A private Mosquitto, the bridge (``roadgate bridge``, SQLite store) and the roadside unit
(``roadgate run``) start; once the unit's health has gone all the way to the bridge's store,
``e2e_player`` plays the traffic log onto vcan0..vcan3 while a recorder in this process keeps
the kernel timestamps of each radar cycle's first and last frame. After the player is done
the pipeline drains (until the unit's frame counter and the store stop moving), and the
figures are written to OUT as JSON (see ``e2e.py``). With ``--board [--cpu-share F]`` the
unit's process runs in a cgroup held to that share of one CPU (without ``--cpu-share``, a Pi 4
core's pace measured here: ``e2e_board.CpuLimit``), and the figures say what the share came to
and how long the unit was held back.

Latency of a stored object list: the bridge's receive time minus the kernel timestamp of the
newest frame the list used, the last frame of the radar cycle whose status frame's timestamp
is the list's capture time (the daemon stamps a list with its status frame, the cycle's first:
#12 item 5 asks for the newest). Both clocks are this machine's.

With ``--box vehicle`` the unit is the vehicle gateway on vcan0 (``e2e_vehicle``,
``measure_vehicle``): its states are measured from their capture time, each matched to a frame
of its mapped messages the recorder saw.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from firmware_py.benchmarks.e2e import LISTS_CSV
from firmware_py.benchmarks.e2e_board import CpuLimit
from firmware_py.benchmarks.e2e_config import (
    DEVICE_ID,
    bridge_config,
    unit_config,
    vehicle_config,
)
from firmware_py.benchmarks.e2e_profile import maybe_sampling
from firmware_py.benchmarks.e2e_traffic import Traffic
from firmware_py.benchmarks.e2e_vehicle import STATE_RATE_HZ, VehicleTraffic, mapped_ids
from firmware_py.benchmarks.memory import _cpu_s, _HealthWatch, _rss_mb
from firmware_py.benchmarks.uplink import local_broker
from firmware_py.errors import FirmwareError
from hal.can.frames import FrameBatch
from hal.can.socketcan_raw import SocketCanRawOptions, SocketCanRawPort

STATUS_ID = 0x60A  # Obj_0_Status of sensor id 0: the first frame of each cycle
EXTENDED_ID = 0x60D  # Obj_3_Extended: after the general and quality frames of every object
START_TIMEOUT_S = 90.0
DRAIN_TIMEOUT_S = 60.0
QUIET_S = 2.0  # the frame counter and the store unchanged this long: drained
RECORDER_NAP_S = 0.2
MATCH_NS = 5_000  # a capture time this close to a status frame's timestamp is that cycle's
BOXES = ("roadside", "vehicle")


class _Recorder:
    """The kernel timestamp and id of each cycle's first and of its last frame on each
    channel, read in a thread per channel: the status frames and the extended ones (the last
    of a cycle is the extended frame of its last object, or its status frame when it listed
    none), or the frames of ``ids``. The kernel drops the rest: every frame read costs the CPU
    the unit runs on."""

    def __init__(
        self, channels: Sequence[str], ids: frozenset[int] = frozenset({STATUS_ID, EXTENDED_ID})
    ) -> None:
        options = SocketCanRawOptions(
            standard_ids=ids,
            receive_buffer_bytes=16 * 1024 * 1024,
        )
        self._ports = [SocketCanRawPort(f"e2e-rec-{c}", c, options) for c in channels]
        self._batches: list[list[FrameBatch]] = [[] for _ in channels]
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._read, args=(k,), name=f"e2e-rec-{c}")
            for k, c in enumerate(channels)
        ]

    def __enter__(self) -> _Recorder:
        for port in self._ports:
            port.open()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        for port in self._ports:
            port.close()

    def _read(self, k: int) -> None:
        port = self._ports[k]
        while not self._stop.is_set():
            batch = port.receive(4096, 0.1)
            if len(batch):
                self._batches[k].append(batch[["timestamp", "arbitration_id"]].copy())
                # Read in large batches: the kernel stamped each frame as it came, and every
                # wake-up costs CPU that the unit needs (the socket's buffer holds seconds).
                self._stop.wait(RECORDER_NAP_S)

    def stamps_ns(self) -> npt.NDArray[np.int64]:
        """Every recorded frame's kernel timestamp (ns), sorted."""
        stamps = [(b["timestamp"] * 1e9).astype(np.int64) for bs in self._batches for b in bs]
        return np.sort(np.concatenate(stamps)) if stamps else np.zeros(0, np.int64)

    def cycles(self) -> int:
        return sum(
            int(np.count_nonzero(b["arbitration_id"] == STATUS_ID))
            for batches in self._batches
            for b in batches
        )

    def cycle_ends(self) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Each recorded cycle's status frame timestamp and its last frame's (ns), by the
        first."""
        starts, ends = [], []
        for batches in self._batches:
            if not batches:
                continue
            frames = np.concatenate(batches)
            stamps = (frames["timestamp"] * 1e9).astype(np.int64)
            heads = np.flatnonzero(frames["arbitration_id"] == STATUS_ID)
            last = np.append(heads[1:] - 1, len(frames) - 1)
            starts.append(stamps[heads])
            ends.append(stamps[last])
        if not starts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        start, end = np.concatenate(starts), np.concatenate(ends)
        order = np.argsort(start)
        return start[order], end[order]


def newest_frame_ns(
    capture_ns: np.ndarray[Any, Any],
    cycle_starts: np.ndarray[Any, Any],
    cycle_ends: np.ndarray[Any, Any],
) -> np.ndarray[Any, Any]:
    """For each capture time, the last frame of the cycle whose status frame it is (within
    ``MATCH_NS``); -1 where no recorded cycle starts there. ``cycle_starts`` sorted."""
    if cycle_starts.size == 0:
        return np.full(capture_ns.shape, -1, np.int64)
    right = np.clip(np.searchsorted(cycle_starts, capture_ns), 1, cycle_starts.size - 1)
    left = right - 1
    nearer = np.where(
        np.abs(cycle_starts[left] - capture_ns) <= np.abs(cycle_starts[right] - capture_ns),
        left,
        right,
    )
    if cycle_starts.size == 1:
        nearer = np.zeros_like(capture_ns)
    hit = np.abs(cycle_starts[nearer] - capture_ns) <= MATCH_NS
    return np.where(hit, cycle_ends[nearer], -1)


def _store_rows(store: Path, query: str, *more: object) -> list[tuple[Any, ...]]:
    """Rows of ``query`` on the bridge's store (read-only; none before the bridge made it)."""
    if not store.exists():
        return []
    try:
        with closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)) as db:
            return db.execute(query, (DEVICE_ID, *more)).fetchall()
    except sqlite3.OperationalError:
        return []  # the bridge has not created its tables yet


def _stored(store: Path, stream: str | None = None) -> int:
    """Messages of the unit in the store (of ``stream``; None: of every stream)."""
    rows = _store_rows(
        store,
        "SELECT count(*) FROM messages WHERE device_id = ?1 AND (?2 IS NULL OR stream = ?2)",
        stream,
    )
    return int(rows[0][0]) if rows else 0


def _captures(store: Path, stream: str) -> int:
    """Distinct capture times of the unit's messages of ``stream`` in the store."""
    rows = _store_rows(
        store,
        "SELECT count(DISTINCT capture_time_ns) FROM messages WHERE device_id = ?1 AND stream = ?2",
        stream,
    )
    return int(rows[0][0]) if rows else 0


def _start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    # Output to a file: a pipe nobody drains would stall the process once full.
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=out)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _alive(process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    if process.poll() is not None:
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        raise FirmwareError(f"bench e2e: {what} exited with {process.returncode}: {tail}")


@dataclass
class _Pipeline:
    """The broker's address, the bridge and the unit running, the unit's health watched."""

    store: Path
    stream: str
    bridge: subprocess.Popen[bytes]
    unit: subprocess.Popen[bytes]
    unit_log: Path
    watch: _HealthWatch


UnitConfig = Callable[[Path, str, int], Path]
"""Writes the unit's config into a directory for a broker's host and port; returns its path."""


@contextmanager
def _pipeline(
    write_config: UnitConfig, stream: str, logs: Path, limit: CpuLimit | None = None
) -> Iterator[_Pipeline]:
    """Mosquitto, the bridge and the unit, up once the unit's health is in the store; the
    unit's measured messages are those of ``stream``."""
    # The SQLite files (outbox, store) in memory: in the guest every other path is the host's
    # filesystem seen through hostfs, where each write is a slow round trip to the host.
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with (
        tempfile.TemporaryDirectory(prefix="roadgate-e2e-", dir=shm) as tmp,
        local_broker(None, None) as (host, port),
    ):
        workdir = Path(tmp)
        cli = [sys.executable, "-m", "firmware_py.cli"]
        bridge_log, unit_log = logs / "bridge.log", logs / "unit.log"
        bridge = _start(
            [*cli, "bridge", "--config", str(bridge_config(workdir, host, port))], bridge_log
        )
        watch = _HealthWatch(host, port)
        unit_conf = write_config(workdir, host, port)
        unit = _start([*cli, "run", "--config", str(unit_conf)], unit_log)
        if limit is not None:
            limit.add(unit.pid)  # the whole process, its threads with it
        try:
            store = workdir / "bridge.sqlite3"
            deadline = time.monotonic() + START_TIMEOUT_S
            while _stored(store) == 0:  # its health went through broker and bridge
                _alive(unit, "the unit", unit_log)
                _alive(bridge, "the bridge", bridge_log)
                if time.monotonic() > deadline:
                    raise FirmwareError("bench e2e: nothing reached the store in time")
                time.sleep(0.2)
            yield _Pipeline(store, stream, bridge, unit, unit_log, watch)
        finally:
            watch.stop()
            _stop(unit)
            _stop(bridge)


@dataclass(frozen=True)
class _Setup:
    """The unit's config writer, the stream measured and the query of its stored rows."""

    write_config: UnitConfig
    stream: str
    rows_query: str


@dataclass(frozen=True)
class _Run:
    """What a run gave: ``_play``'s figures, the rows of the query, the unit's last health
    report (its ``body_json``, in a list of rows) and every message of the unit stored."""

    played: dict[str, Any]
    rows: list[tuple[Any, ...]]
    health: list[tuple[Any, ...]]
    stored_all: int


def _run(
    setup: _Setup,
    traffic: Traffic | VehicleTraffic,
    recorder: _Recorder,
    logs: Path,
    limit: CpuLimit | None,
    profile: Path | None,
) -> _Run:
    """Start the pipeline, play ``traffic`` while ``recorder`` keeps its frames (and py-spy
    samples the unit into ``profile``), drain, stop, read the store."""
    with _pipeline(setup.write_config, setup.stream, logs, limit) as pipe:
        with recorder, maybe_sampling(pipe.unit.pid, profile) as sampler:
            before = limit.stat() if limit else {}
            played = _play(traffic, pipe)
            if limit:
                played |= _limited(before, limit.stat())
        if sampler is not None:
            played["cpu_profiler_s"] = round(sampler.cpu_s, 3)
        _stop(pipe.unit)
        _stop(pipe.bridge)  # its last batch committed
        rows = _store_rows(pipe.store, setup.rows_query)
        health = _store_rows(
            pipe.store,
            "SELECT body_json FROM messages WHERE device_id = ? AND stream = 'health' "
            "ORDER BY capture_time_ns DESC LIMIT 1",
        )
        return _Run(played, rows, health, _stored(pipe.store))


def measure(
    traffic: Traffic,
    logs: Path,
    limit: CpuLimit | None = None,
    profile: Path | None = None,
    uplink_period_s: float = 0.0,
) -> dict[str, Any]:
    """Run the pipeline on ``traffic`` (vcan0..3 must exist), the unit's and the bridge's logs
    in ``logs``, the unit in ``limit`` when given, sampled by py-spy into ``profile`` when
    given (``e2e_profile``); return the figures."""

    def write_config(directory: Path, host: str, port: int) -> Path:
        return unit_config(directory, traffic, host, port, uplink_period_s)

    recorder = _Recorder(traffic.channels)
    query = (
        "SELECT capture_time_ns, publish_time_ns, received_time_ns FROM messages "
        "WHERE device_id = ? AND stream = 'objects'"
    )
    run = _run(_Setup(write_config, "objects", query), traffic, recorder, logs, limit, profile)
    played, rows, health, stored_all = run.played, run.rows, run.health, run.stored_all
    starts, ends = recorder.cycle_ends()
    captures, published_ns, received_ns = np.array(rows, np.int64).reshape(-1, 3).T
    newest = newest_frame_ns(captures, starts, ends)
    matched = newest >= 0
    latency_ms = (received_ns[matched] - newest[matched]) / 1e6
    in_unit_ms = (published_ns[matched] - newest[matched]) / 1e6
    from_capture_ms = (received_ns - captures) / 1e6
    write_lists(logs / LISTS_CSV, newest, captures, published_ns, received_ns)
    received = int(played["frames_received"])
    return {
        "frames_in": traffic.frames,
        "cycles_sent": traffic.cycles * len(traffic.channels),
        "cycles_seen": recorder.cycles(),
        "frames_lost": traffic.frames - received,
        "stored": len(rows),
        "stored_all": stored_all,
        "unmatched": int((~matched).sum()),
        "p50_ms": _percentile(latency_ms, 50),
        "p99_ms": _percentile(latency_ms, 99),
        "p50_from_capture_ms": _percentile(from_capture_ms, 50),
        "p99_from_capture_ms": _percentile(from_capture_ms, 99),
        "p50_in_unit_ms": _percentile(in_unit_ms, 50),
        "p99_in_unit_ms": _percentile(in_unit_ms, 99),
        "fusion_period_ms": round(traffic.cycle_s * 1000, 3),
        "cpu_s_per_kframe": played["cpu_s"] / (received / 1000) if received else None,
        "unit_counters": _counters(health[0][0]) if health else {},
        "offered_per_s": traffic.frames / played["played_s"],
        **played,
    }


def measure_vehicle(
    traffic: VehicleTraffic,
    logs: Path,
    limit: CpuLimit | None = None,
    profile: Path | None = None,
) -> dict[str, Any]:
    """``measure`` for the vehicle gateway on ``traffic`` (``e2e_vehicle``): its stored states,
    each from its capture time (the kernel timestamp of the newest motion frame it used, found
    among the frames recorded); a state published again without newer input (after the
    traffic) is counted as ``republished``, its first publication is the one measured."""
    recorder = _Recorder(traffic.channels, frozenset(mapped_ids()))
    query = (
        "SELECT capture_time_ns, min(publish_time_ns), min(received_time_ns), count(*) "
        "FROM messages WHERE device_id = ? AND stream = 'state' GROUP BY capture_time_ns"
    )
    run = _run(_Setup(vehicle_config, "state", query), traffic, recorder, logs, limit, profile)
    played, rows, health, stored_all = run.played, run.rows, run.health, run.stored_all
    captures, published_ns, received_ns, copies = np.array(rows, np.int64).reshape(-1, 4).T
    stamps = recorder.stamps_ns()  # each its own cycle: the frame is its start and its end
    newest = newest_frame_ns(captures, stamps, stamps)
    write_lists(logs / LISTS_CSV, newest, captures, published_ns, received_ns)
    received = int(played["frames_received"])
    return {
        "frames_in": traffic.frames,
        "signal_frames": traffic.signal_frames,
        "signal_frames_seen": recorder.stamps_ns().size,
        "frames_lost": traffic.signal_frames - received,
        "stored": len(rows),
        "republished": int((copies - 1).sum()),
        "stored_all": stored_all,
        "unmatched": int((newest < 0).sum()),
        "p50_ms": _percentile((received_ns - captures) / 1e6, 50),
        "p99_ms": _percentile((received_ns - captures) / 1e6, 99),
        "p50_in_unit_ms": _percentile((published_ns - captures) / 1e6, 50),
        "p99_in_unit_ms": _percentile((published_ns - captures) / 1e6, 99),
        "fusion_period_ms": round(1000 / STATE_RATE_HZ, 3),
        "cpu_s_per_kframe": played["cpu_s"] / (received / 1000) if received else None,
        "unit_counters": _counters(health[0][0]) if health else {},
        "offered_per_s": traffic.frames / played["played_s"],
        **played,
    }


def _play(traffic: Traffic | VehicleTraffic, pipe: _Pipeline) -> dict[str, Any]:
    """Play the traffic, let the pipeline drain; the unit's frames, CPU and peak RSS, and the
    CPU of the others meanwhile: the bridge, this process (the recorder), the player, and the
    machine's busy share (all its CPUs)."""
    cpu_start = _cpu_s(pipe.unit.pid)
    others_start = (_cpu_s(pipe.bridge.pid), _own_cpu_s(), _player_cpu_s())
    jiffies_start = _jiffies()
    player = subprocess.run(
        [sys.executable, "-m", "firmware_py.benchmarks.e2e_player", str(traffic.path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if player.returncode != 0:
        raise FirmwareError(f"bench e2e: the player failed: {player.stderr.strip()}")
    played = json.loads(player.stdout)
    received, drain_s, cpu_end = _drain(pipe, time.monotonic())
    others_end = (_cpu_s(pipe.bridge.pid), _own_cpu_s(), _player_cpu_s())
    jiffies_end = _jiffies()
    _, peak_rss_mb = _rss_mb(pipe.unit.pid)
    others = ("cpu_bridge_s", "cpu_recorder_s", "cpu_player_s")
    busy, total = (end - start for start, end in zip(jiffies_start, jiffies_end, strict=True))
    return {
        "frames_received": received,
        "cpu_s": round(cpu_end - cpu_start, 3),
        "rss_mb": peak_rss_mb,
        "played_s": played["played_s"],
        "short_sends": played["short_sends"],
        "cpu_player_playing_s": round(played["cpu_s"], 3),
        "drain_s": drain_s,
        **{
            key: round(end - start, 3)
            for key, start, end in zip(others, others_start, others_end, strict=True)
        },
        "machine_busy_share": round(busy / max(1, total), 3),
        "cpus": os.cpu_count(),
    }


def _drain(pipe: _Pipeline, played_at: float) -> tuple[int, float, float]:
    """Wait until the unit's frame counter (from its health) and the capture times of its
    messages stored are quiet for ``QUIET_S`` (a vehicle gateway republishes its last state
    after the traffic: no new capture time), at most ``DRAIN_TIMEOUT_S``; return the frames
    the unit received, the seconds from the end of the traffic to the last change, and the
    unit's CPU seconds then."""
    last: tuple[int, int] | None = None
    quiet_since, cpu_s = time.monotonic(), _cpu_s(pipe.unit.pid)
    while True:
        _alive(pipe.unit, "the unit", pipe.unit_log)
        now = time.monotonic()
        _, latest = pipe.watch.snapshot(DEVICE_ID)
        state = (latest[1] if latest else 0, _captures(pipe.store, pipe.stream))
        if state != last:
            last, quiet_since, cpu_s = state, now, _cpu_s(pipe.unit.pid)
        if now - quiet_since >= QUIET_S or now - played_at > DRAIN_TIMEOUT_S:
            return state[0], quiet_since - played_at, cpu_s
        time.sleep(0.25)


def _counters(body_json: str) -> dict[str, float]:
    """The counters of a stored health report whose name says where lists or frames went."""
    body = json.loads(body_json)
    counters = body.get("health", body).get("counters", {})
    wanted = ("rx_frames", "kernel_drops", "pipeline.", "reject", "guard", "outbox", "lost")
    return {k: float(v) for k, v in sorted(counters.items()) if any(w in k for w in wanted)}


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _player_cpu_s() -> float:
    """CPU of the children waited for (only the player is, while the traffic plays)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _jiffies() -> tuple[int, int]:
    """All CPUs' busy and total jiffies so far (``/proc/stat``; idle and iowait are not busy)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def _limited(before: dict[str, int], after: dict[str, int]) -> dict[str, float]:
    """The limited unit's cgroup meanwhile (``cpu.stat``): its user and system CPU seconds and
    the seconds and periods it was held back."""
    keys = ("user_usec", "system_usec", "throttled_usec", "nr_periods", "nr_throttled")
    d = {key: after.get(key, 0) - before.get(key, 0) for key in keys}
    return {
        "unit_user_s": d["user_usec"] / 1e6,
        "unit_system_s": d["system_usec"] / 1e6,
        "unit_throttled_s": d["throttled_usec"] / 1e6,
        "unit_throttled_share": round(d["nr_throttled"] / max(1, d["nr_periods"]), 3),
        "unit_throttled_periods": d["nr_throttled"],
    }


def write_lists(
    path: Path,
    newest: npt.NDArray[np.int64],
    captures: npt.NDArray[np.int64],
    published: npt.NDArray[np.int64],
    received: npt.NDArray[np.int64],
) -> None:
    """Each stored object list as a CSV row, in the order of its newest frame (-1: not matched
    to a cycle): the times in ns, the newest frame to its publication and to the bridge in ms."""
    lines = ["newest_frame_ns,capture_ns,published_ns,received_ns,in_unit_ms,to_bridge_ms"]
    for row in sorted(zip(newest, captures, published, received, strict=True)):
        frame, capture, sent, got = (int(v) for v in row)
        in_unit, to_bridge = ((sent - frame) / 1e6, (got - frame) / 1e6) if frame >= 0 else ("", "")
        lines.append(f"{frame},{capture},{sent},{got},{in_unit},{to_bridge}")
    path.write_text("\n".join(lines) + "\n")


def _percentile(values: np.ndarray[Any, Any], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values.size else None


def main(argv: list[str] | None = None) -> int:
    """Run ``measure`` on a traffic log written by ``e2e_traffic.write_traffic``."""
    parser = argparse.ArgumentParser(prog="python -m firmware_py.benchmarks.e2e_guest")
    parser.add_argument("traffic", type=Path, help="the JSON description of the traffic")
    parser.add_argument("logs", type=Path, help="where the unit's and the bridge's logs go")
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--board", action="store_true", help="the unit on a Pi 4 core's share (e2e_board)"
    )
    parser.add_argument(
        "--cpu-share",
        type=float,
        default=None,
        help="that share of one CPU (default: a Pi 4 core, measured here: e2e_board.CpuLimit)",
    )
    parser.add_argument(
        "--profile", type=Path, default=None, help="sample the unit with py-spy into this file"
    )
    parser.add_argument(
        "--box",
        choices=BOXES,
        default=BOXES[0],
        help="the roadside unit on four radar buses, or the vehicle gateway on its powertrain bus",
    )
    parser.add_argument(
        "--uplink-period",
        type=float,
        default=0.0,
        help="the roadside unit's [perception] uplink_period_s (default: 0, every list)",
    )
    args = parser.parse_args(argv)
    described = json.loads(args.traffic.read_text())

    def run(limit: CpuLimit | None) -> dict[str, Any]:
        if args.box == "vehicle":
            return measure_vehicle(
                VehicleTraffic.from_json(described), args.logs, limit, args.profile
            )
        return measure(
            Traffic.from_json(described), args.logs, limit, args.profile, args.uplink_period
        )

    if not args.board:
        args.out.write_text(json.dumps(run(None)))
        return 0
    with CpuLimit(args.cpu_share) as limit:
        figures = {**limit.calibration, **run(limit), "limiter_held_after": limit.held()}
    args.out.write_text(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
