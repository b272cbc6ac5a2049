"""``roadgate benchmark can``: the fast SocketCAN reader against a plain python-can ``Bus.recv()``.

Both read the same traffic on the same vcan interfaces in one run: one ``cangen -g 0`` per bus
sends N frames as fast as the kernel takes them, with an incrementing 64-bit counter as payload,
so every lost or reordered frame shows. ``offered`` is frames sent per second of sending;
``ours``/``peer`` are frames received per second of receiving (first to last frame, all buses),
so a reader that falls behind and loses frames scores low twice. Where this kernel has no CAN,
the measurement runs inside the user-mode-linux guest (``hil.uml``), where every syscall costs
about ten times more: compare the ratio, not the absolute rates, with a native run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hal.can.socketcan_raw import SocketCanRawOptions, SocketCanRawPort
from hil.uml.runner import kernel_has_can, run_with_vcan

PROJECT = Path(__file__).resolve().parents[1]
CHANNEL = "vcan0"
FRAME_ID = 0x42  # cangen -I takes hex
IDLE_S = 2.0  # after the sender is done: this long without a frame ends a reading


@dataclass(frozen=True)
class Reading:
    """What one reader got of the offered traffic."""

    received: int
    lost: int
    out_of_order: int
    frames_per_s: float
    offered_per_s: float


def _cangen(channel: str, count: int) -> subprocess.Popen[bytes]:
    argv = ["cangen", channel, "-g", "0", "-n", str(count), "-I", f"{FRAME_ID:X}", "-L", "8"]
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

    def __init__(self, channels: Sequence[str], count: int) -> None:
        self.channels = list(channels)
        self.count = count
        self.senders_done = threading.Event()

    def run(self, read: Callable[[str, _Capture, threading.Event], None]) -> Reading:
        captures = [_Capture() for _ in self.channels]
        ready = [threading.Event() for _ in self.channels]
        self.senders_done.clear()
        threads = [
            threading.Thread(target=self._guard, args=(read, channel, capture, flag))
            for channel, capture, flag in zip(self.channels, captures, ready, strict=True)
        ]
        for thread in threads:
            thread.start()
        for flag in ready:
            flag.wait(30)
        started = time.perf_counter()
        senders = [_cangen(channel, self.count) for channel in self.channels]
        for sender in senders:
            sender.wait()
            if sender.returncode != 0:
                error = sender.stderr.read().decode() if sender.stderr else ""
                raise RuntimeError(f"cangen failed ({sender.returncode}): {error}")
        sent_s = time.perf_counter() - started
        self.senders_done.set()
        for thread in threads:
            thread.join()
        for capture in captures:
            if capture.error is not None:
                raise capture.error
        return self._score(captures, sent_s)

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
        options = SocketCanRawOptions(standard_ids=frozenset({FRAME_ID}), kernel_timestamps=False)
        with SocketCanRawPort(f"bench-{channel}", channel, options) as port:
            ready.set()
            idle_since = time.perf_counter()
            while True:
                batch = port.receive(4096, 0.1)
                now = time.perf_counter()
                if len(batch):
                    capture.first = capture.first or now
                    capture.last = idle_since = now
                    capture.counters.append(batch["data"][:, :8].copy().view("<u8").ravel())
                elif bench.idle_done(idle_since, now):
                    return

    return read


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
    """Both readers on the same traffic (``count`` frames per channel); needs SocketCAN and
    the vcan interfaces."""
    bench = _Bench(channels, count)
    ours, peer = bench.run(_read_fast(bench)), bench.run(_read_python_can(bench))
    return {
        "ours": round(ours.frames_per_s, 1),
        "peer": round(peer.frames_per_s, 1),
        "ratio": round(ours.frames_per_s / peer.frames_per_s, 2) if peer.frames_per_s else None,
        "unit": "frames/s",
        "lost": ours.lost,
        "offered": round(ours.offered_per_s, 1),
        "frames": count * len(channels),
        "buses": len(channels),
        "details": {"ours": asdict(ours), "peer": asdict(peer)},
    }


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
