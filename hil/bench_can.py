"""``roadgate bench can``: the fast SocketCAN reader against a plain python-can ``Bus.recv()``.

Both read the same traffic on the same vcan interface in one run: ``cangen -g 0`` sends N frames
as fast as the kernel takes them, with an incrementing 64-bit counter as payload, so every lost
or reordered frame shows. Where this kernel has no CAN the measurement runs inside the
user-mode-linux guest (``hil.uml``), where every syscall costs about ten times more: compare
the ratio, not the absolute rates, with a native run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
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


def _cangen(count: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            "cangen",
            CHANNEL,
            "-g",
            "0",
            "-n",
            str(count),
            "-I",
            f"{FRAME_ID:X}",
            "-L",
            "8",
            "-D",
            "i",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _score(counters: np.ndarray[Any, Any], count: int, elapsed: float, offered: float) -> Reading:
    steps = np.diff(counters.astype(np.int64))
    return Reading(
        received=len(counters),
        lost=count - len(np.unique(counters)),
        out_of_order=int((steps <= 0).sum()),
        frames_per_s=len(counters) / elapsed if elapsed > 0 else 0.0,
        offered_per_s=offered,
    )


def _read_fast(count: int) -> Reading:
    options = SocketCanRawOptions(standard_ids=frozenset({FRAME_ID}), kernel_timestamps=False)
    with SocketCanRawPort("bench", CHANNEL, options) as port:
        sender, started = _cangen(count), time.perf_counter()
        chunks, first, last, idle_since = [], 0.0, 0.0, time.perf_counter()
        while True:
            batch = port.receive(4096, 0.1)
            now = time.perf_counter()
            if len(batch):
                first = first or now
                last, idle_since = now, now
                chunks.append(batch["data"][:, :8].copy().view("<u8").ravel())
            elif sender.poll() is not None and now - idle_since > IDLE_S:
                break
        offered = count / max(_sender_time(sender, started), 1e-9)
    counters = np.concatenate(chunks) if chunks else np.zeros(0, np.uint64)
    return _score(counters, count, last - first, offered)


def _read_python_can(count: int) -> Reading:
    import can  # the peer library, as a user would use it: defaults, one recv() per frame

    with can.Bus(interface="socketcan", channel=CHANNEL) as bus:
        sender, started = _cangen(count), time.perf_counter()
        values: list[int] = []
        first, last, idle_since = 0.0, 0.0, time.perf_counter()
        while True:
            message = bus.recv(0.1)
            now = time.perf_counter()
            if message is not None:
                first = first or now
                last, idle_since = now, now
                values.append(int.from_bytes(message.data[:8], "little"))
            elif sender.poll() is not None and now - idle_since > IDLE_S:
                break
        offered = count / max(_sender_time(sender, started), 1e-9)
    return _score(np.array(values, dtype=np.uint64), count, last - first, offered)


def _sender_time(sender: subprocess.Popen[bytes], started: float) -> float:
    sender.wait()
    if sender.returncode != 0:
        error = sender.stderr.read().decode() if sender.stderr else ""
        raise RuntimeError(f"cangen failed ({sender.returncode}): {error}")
    return time.perf_counter() - started


def measure(count: int) -> dict[str, Any]:
    """Both readers on the same traffic; needs SocketCAN and ``vcan0``."""
    ours, peer = _read_fast(count), _read_python_can(count)
    return {
        "ours": round(ours.frames_per_s, 1),
        "peer": round(peer.frames_per_s, 1),
        "ratio": round(ours.frames_per_s / peer.frames_per_s, 2) if peer.frames_per_s else None,
        "unit": "frames/s",
        "lost": ours.lost,
        "offered": round(ours.offered_per_s, 1),
        "frames": count,
        "details": {"ours": asdict(ours), "peer": asdict(peer)},
    }


def main(*, frames: int, json_path: Path | None) -> int:
    """The CLI entry: measure (inside the guest where needed), print, write ``json_path``."""
    if kernel_has_can():
        result = measure(frames)
        where = "native SocketCAN"
    else:
        with tempfile.TemporaryDirectory(dir=PROJECT) as shared:  # the guest sees host files
            out = Path(shared) / "bench-can.json"
            argv = [sys.executable, "-m", "hil.bench_can", "--inside", str(frames), str(out)]
            run = run_with_vcan(argv, cwd=PROJECT, timeout_s=600, output=None)
            if run.exit_status != 0 or not out.exists():
                print(run.output_text[-3000:], file=sys.stderr)
                return 1
            result = json.loads(out.read_text())
        where = "user-mode-linux guest (no SocketCAN in this kernel)"
    details = result["details"]
    print(f"CAN receive, {frames} frames from cangen -g 0 on vcan0, {where}:")
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
    parser = argparse.ArgumentParser()
    parser.add_argument("--inside", type=int, required=True)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    args.out.write_text(json.dumps(measure(args.inside)))
    return 0


if __name__ == "__main__":
    sys.exit(_inside(sys.argv[1:]))
