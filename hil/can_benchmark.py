"""``roadgate benchmark can``: the fast SocketCAN reader against a plain python-can ``Bus.recv()``.

Both read the same traffic on the same vcan interfaces in one run: one ``cangen -g 0`` per bus
sends N frames as fast as the kernel takes them, with an incrementing 64-bit counter as payload,
so every lost or reordered frame shows. ``offered`` is frames sent per second of sending;
``ours``/``peer`` are frames received per second of receiving (first to last frame, all buses),
so a reader that falls behind and loses frames scores low twice. Where this kernel has no CAN,
the measurement runs inside the user-mode-linux guest (``hil.uml``), where every syscall costs
about ten times more: compare the ratio, not the absolute rates, with a native run.

Frames per second of receiving equal what ``cangen`` offers once a reader keeps up, so they
say little about headroom; the capacity measure is the CPU time the reading process spends
per 1,000 frames received (user + system time of this process from ``getrusage``, senders
excluded: they are other processes), for ours and for python-can on the same traffic. Ours
reads as the roadside unit reads its radar buses (``edge.port_io.can_batches`` on an event
loop, paced by a read window near the default, ``BENCH_READ_WINDOW_S``: on the default's 10 ms
grid every read would fall at one phase of the guest's 10 ms tick, by which its CPU is charged,
``firmware_py.benchmarks.tick_accounting``); python-can as a user would, one ``recv()`` per
frame.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge.port_io import can_batches
from firmware_py.benchmarks.tick_accounting import BENCH_READ_WINDOW_S
from hal.can.socketcan_raw import SocketCanRawOptions, SocketCanRawPort
from hil.uml.runner import kernel_has_can, run_with_vcan

PROJECT = Path(__file__).resolve().parents[1]
CHANNEL = "vcan0"
FRAME_ID = 0x42  # cangen -I takes hex
IDLE_S = 2.0  # after the sender is done: this long without a frame ends a reading
IDLE_CHECK_S = 0.1


@dataclass(frozen=True)
class Reading:
    """What one reader got of the offered traffic."""

    received: int
    lost: int
    out_of_order: int
    frames_per_s: float
    offered_per_s: float
    cpu_s: float = 0.0  # the reading process's CPU time (user + system) over the run

    @property
    def cpu_ms_per_kframe(self) -> float:
        """CPU milliseconds per 1,000 frames received (0 when none was)."""
        return cpu_ms_per_kframe(self.cpu_s, self.received)


def cpu_ms_per_kframe(cpu_s: float, frames: int) -> float:
    """``cpu_s`` seconds of CPU over ``frames`` frames, as milliseconds per 1,000 frames."""
    return cpu_s * 1e6 / frames if frames > 0 else 0.0


def process_cpu_s() -> float:
    """This process's CPU time so far (user + system, every thread), in seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


STEP_GAP_MS = 1.0
BURSTS = (1, 2, 5, 10, 20, 40)
"""The capacity steps: each bus's ``cangen`` sends a burst of this many frames every
``STEP_GAP_MS`` (then the gapless run). Bursts, not shorter gaps: under user-mode-linux a
sleep shorter than about a millisecond takes about a millisecond."""
STEP_S = 2.0  # nominal seconds of traffic per capacity step


def _cangen(
    channel: str, count: int, gap_ms: float = 0.0, burst: int = 1
) -> subprocess.Popen[bytes]:
    argv = ["cangen", channel, "-g", f"{gap_ms:g}", "-n", str(count), "-I", f"{FRAME_ID:X}"]
    argv += ["-L", "8", *(["-c", str(burst)] if burst > 1 else [])]
    return subprocess.Popen([*argv, "-D", "i"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@dataclass
class _Capture:
    """What one reader thread got on one bus."""

    counters: list[np.ndarray[Any, Any]] = field(default_factory=list)
    first: float = 0.0
    last: float = 0.0
    error: BaseException | None = None


class _Bench:
    """Readers on every channel, opened first; then one cangen per channel; then the score."""

    def __init__(
        self, channels: Sequence[str], count: int, gap_ms: float = 0.0, burst: int = 1
    ) -> None:
        self.channels = list(channels)
        self.count = count
        self.gap_ms = gap_ms
        self.burst = burst
        self.senders_done = threading.Event()

    def run(self, read: Callable[[str, _Capture, threading.Event], None]) -> Reading:
        captures = [_Capture() for _ in self.channels]
        ready = [threading.Event() for _ in self.channels]
        self.senders_done.clear()
        threads = [
            threading.Thread(target=self._guard, args=(read, channel, capture, flag))
            for channel, capture, flag in zip(self.channels, captures, ready, strict=True)
        ]
        cpu_before = process_cpu_s()
        for thread in threads:
            thread.start()
        for flag in ready:
            flag.wait(30)
        started = time.perf_counter()
        senders = [
            _cangen(channel, self.count, self.gap_ms, self.burst) for channel in self.channels
        ]
        for sender in senders:
            sender.wait()
            if sender.returncode != 0:
                error = sender.stderr.read().decode() if sender.stderr else ""
                raise RuntimeError(f"cangen failed ({sender.returncode}): {error}")
        sent_s = time.perf_counter() - started
        self.senders_done.set()
        for thread in threads:
            thread.join()
        cpu_s = process_cpu_s() - cpu_before
        for capture in captures:
            if capture.error is not None:
                raise capture.error
        return replace(self._score(captures, sent_s), cpu_s=cpu_s)

    def _guard(
        self,
        read: Callable[[str, _Capture, threading.Event], None],
        channel: str,
        capture: _Capture,
        ready: threading.Event,
    ) -> None:
        try:
            read(channel, capture, ready)
        except BaseException as err:  # reported by run(), in the main thread
            capture.error = err
            ready.set()

    def idle_done(self, idle_since: float, now: float) -> bool:
        return self.senders_done.is_set() and now - idle_since > IDLE_S

    def _score(self, captures: list[_Capture], sent_s: float) -> Reading:
        received = lost = out_of_order = 0
        for capture in captures:
            counters = (
                np.concatenate(capture.counters) if capture.counters else np.zeros(0, np.uint64)
            )
            steps = np.diff(counters.astype(np.int64))
            received += len(counters)
            lost += self.count - len(np.unique(counters))
            out_of_order += int((steps <= 0).sum())
        got = [c for c in captures if c.first]
        elapsed = max(c.last for c in got) - min(c.first for c in got) if got else 0.0
        total = self.count * len(self.channels)
        return Reading(
            received=received,
            lost=lost,
            out_of_order=out_of_order,
            frames_per_s=received / elapsed if elapsed > 0 else 0.0,
            offered_per_s=total / sent_s if sent_s > 0 else 0.0,
        )


def _read_fast(bench: _Bench) -> Callable[[str, _Capture, threading.Event], None]:
    def read(channel: str, capture: _Capture, ready: threading.Event) -> None:
        # As the box reads: each frame stamped by the kernel (python-can stamps its frames too).
        options = SocketCanRawOptions(standard_ids=frozenset({FRAME_ID}))
        with SocketCanRawPort(f"bench-{channel}", channel, options) as port:
            asyncio.run(_read_as_the_unit(bench, port, capture, ready))

    return read


async def _read_as_the_unit(
    bench: _Bench, port: SocketCanRawPort, capture: _Capture, ready: threading.Event
) -> None:
    """Read ``port`` as the roadside unit reads a radar bus: ``can_batches`` on an event loop,
    paced by ``BENCH_READ_WINDOW_S`` (near the default ``[perception] read_window_s``), until
    the bench is idle."""
    last = time.perf_counter()

    async def consume() -> None:
        nonlocal last
        async for batch in can_batches(port, window_s=BENCH_READ_WINDOW_S):
            last = time.perf_counter()
            capture.first = capture.first or last
            capture.last = last
            capture.counters.append(batch["data"][:, :8].copy().view("<u8").ravel())

    reading = asyncio.create_task(consume(), name=f"bench-read-{port.name}")
    ready.set()
    try:
        # The senders' end is a threading.Event set by another thread: polled, not awaited.
        while not bench.idle_done(last, time.perf_counter()):  # noqa: ASYNC110
            await asyncio.sleep(IDLE_CHECK_S)
    finally:
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)


def _read_python_can(bench: _Bench) -> Callable[[str, _Capture, threading.Event], None]:
    def read(channel: str, capture: _Capture, ready: threading.Event) -> None:
        import can  # the peer library as a user would use it: defaults, one recv() per frame

        with can.Bus(interface="socketcan", channel=channel) as bus:
            ready.set()
            values: list[int] = []
            idle_since = time.perf_counter()
            while True:
                message = bus.recv(0.1)
                now = time.perf_counter()
                if message is not None:
                    capture.first = capture.first or now
                    capture.last = idle_since = now
                    values.append(int.from_bytes(message.data[:8], "little"))
                elif bench.idle_done(idle_since, now):
                    break
        capture.counters.append(np.array(values, dtype=np.uint64))

    return read


def measure(count: int, channels: Sequence[str] = (CHANNEL,)) -> dict[str, Any]:
    """Both readers on the same traffic (``count`` frames per channel), then the capacity
    steps (``sustained``); needs SocketCAN and the vcan interfaces."""
    bench = _Bench(channels, count)
    ours, peer = bench.run(_read_fast(bench)), bench.run(_read_python_can(bench))
    cpu_ours, cpu_peer = ours.cpu_ms_per_kframe, peer.cpu_ms_per_kframe
    steps = sustained(channels, (ours, peer))
    return {
        "ours": round(ours.frames_per_s, 1),
        "peer": round(peer.frames_per_s, 1),
        "ratio": round(ours.frames_per_s / peer.frames_per_s, 2) if peer.frames_per_s else None,
        "unit": "frames/s",
        # Process CPU milliseconds per 1,000 frames received, and peer / ours.
        "cpu_per_kframe_ours": round(cpu_ours, 4),
        "cpu_per_kframe_peer": round(cpu_peer, 4),
        "cpu_ratio": round(cpu_peer / cpu_ours, 2) if cpu_ours else None,
        "cpu_unit": "ms per 1,000 frames",
        "lost": ours.lost,
        "offered": round(ours.offered_per_s, 1),
        "frames": count * len(channels),
        "buses": len(channels),
        **steps,
        "details": {"ours": asdict(ours), "peer": asdict(peer)},
    }


def sustained(channels: Sequence[str], gapless: tuple[Reading, Reading]) -> dict[str, Any]:
    """The highest offered rate (frames/s, all buses) each reader took with nothing lost:
    one ``cangen`` per bus sending each burst size of ``BURSTS`` every ``STEP_GAP_MS``
    (``STEP_S`` nominal seconds of traffic), then ``gapless`` (the readings of ours and the
    peer at ``-g 0``). Returns ``sustained_ours``, ``sustained_peer`` and the ``steps``."""
    steps: list[dict[str, float | int]] = []
    readings: list[tuple[Reading, Reading]] = []
    for burst in BURSTS:
        count = round(STEP_S * 1000 / STEP_GAP_MS * burst)
        bench = _Bench(channels, count, STEP_GAP_MS, burst)
        readings.append((bench.run(_read_fast(bench)), bench.run(_read_python_can(bench))))
    readings.append(gapless)
    for burst, (ours, peer) in zip([*BURSTS, 0], readings, strict=True):
        steps.append(
            {
                "burst": burst,  # 0: the gapless run
                "offered_ours": round(ours.offered_per_s, 1),
                "lost_ours": ours.lost,
                "offered_peer": round(peer.offered_per_s, 1),
                "lost_peer": peer.lost,
            }
        )
    return {
        "sustained_ours": highest_without_loss([ours for ours, _ in readings]),
        "sustained_peer": highest_without_loss([peer for _, peer in readings]),
        "steps": steps,
    }


def highest_without_loss(readings: Sequence[Reading]) -> float:
    """The highest offered rate of the readings that lost nothing (0.0: none)."""
    return max([0.0, *(r.offered_per_s for r in readings if r.lost == 0)])


def main(*, frames: int, buses: int = 1, json_path: Path | None) -> int:
    """The CLI entry: measure (inside the guest where needed), print, write ``json_path``."""
    channels = [f"vcan{i}" for i in range(buses)]
    if kernel_has_can():
        result = measure(frames, channels)
        where = "native SocketCAN"
    else:
        with tempfile.TemporaryDirectory(dir=PROJECT) as shared:  # the guest sees host files
            out = Path(shared) / "bench-can.json"
            argv = [sys.executable, "-m", "hil.can_benchmark", str(frames), str(buses), str(out)]
            run = run_with_vcan(argv, vcan=channels, cwd=PROJECT, timeout_s=600, output=None)
            if run.exit_status != 0 or not out.exists():
                print(run.output_text[-3000:], file=sys.stderr)
                return 1
            result = json.loads(out.read_text())
        kernel = f", kernel {run.kernel.describe()}" if run.kernel else ""
        where = f"user-mode-linux guest (no SocketCAN in this kernel{kernel})"
    details = result["details"]
    print(
        f"CAN receive, {frames} frames per bus from cangen -g 0 on {buses} vcan bus(es), {where}:"
    )
    print(f"  offered: {result['offered']:,.0f} frames/s")
    print(f"  ours (fast SocketCAN reader): {result['ours']:,.0f} frames/s, lost {result['lost']}")
    print(
        f"  peer (python-can Bus.recv()):  {result['peer']:,.0f} frames/s, "
        f"lost {details['peer']['lost']}"
    )
    print(f"  ratio: {result['ratio']}")
    print(
        "  CPU of the reading process per 1,000 frames: "
        f"ours {result['cpu_per_kframe_ours']:.3f} ms, "
        f"peer {result['cpu_per_kframe_peer']:.3f} ms, ratio {result['cpu_ratio']}"
    )
    print(
        "  highest offered rate taken with nothing lost (one cangen per bus, bursts of "
        f"{', '.join(map(str, BURSTS))} frames every {STEP_GAP_MS:g} ms, then no gap): "
        f"ours {result['sustained_ours']:,.0f} frames/s, "
        f"peer {result['sustained_peer']:,.0f} frames/s"
    )
    for step in result["steps"]:
        sender = f"burst {step['burst']}" if step["burst"] else "no gap"
        print(
            f"    {sender}: "
            f"ours offered {step['offered_ours']:,.0f}/s "
            f"lost {step['lost_ours']}; peer offered {step['offered_peer']:,.0f}/s "
            f"lost {step['lost_peer']}"
        )
    if json_path is not None:
        json_path.write_text(json.dumps(result, indent=1) + "\n")
    return 0


def _inside(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="run inside a machine with the vcan buses")
    parser.add_argument("frames", type=int)
    parser.add_argument("buses", type=int)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    channels = [f"vcan{i}" for i in range(args.buses)]
    args.out.write_text(json.dumps(measure(args.frames, channels)))
    return 0


if __name__ == "__main__":
    sys.exit(_inside(sys.argv[1:]))
