"""Plays a candump log onto its SocketCAN buses in bursts: ``python -m
firmware_py.benchmarks.e2e_player LOG`` prints ``{"frames", "played_s", "cpu_s",
"short_sends"}`` (``cpu_s``: the player's CPU while it played).

``canplayer`` writes one frame per system call and sleeps before each. Inside user-mode-linux,
where a system call is a round trip through the host, it took about as much CPU as the unit it
fed and played a full-load log at 30-60 % of real time, on the guest's one CPU. Here each bus's
frames that are due go out together in one ``sendmmsg`` (``hal.can.socketcan_mmsg``), at most
one burst per bus each ``tick_s``: the frames leave up to ``tick_s`` after their time in the
log, in order, and the receivers' kernel timestamps say when they really did.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firmware_py.errors import FirmwareError
from hal.can.frames import CAN_EFF_FLAG, CAN_RTR_FLAG
from hal.can.socketcan_mmsg import MmsgSender, load_sendmmsg
from hal.can.socketcan_structs import CAN_MTU
from protocols.candump import CandumpFrames, parse_candump

TICK_S = 0.001
_CAN_FRAME = np.dtype(
    [
        ("can_id", "=u4"),
        ("len", "u1"),
        ("pad", "u1"),
        ("res0", "u1"),
        ("dlc", "u1"),
        ("data", "u1", 8),
    ]
)


@dataclass(frozen=True)
class PlayResult:
    """``frames`` sent, ``played_s`` from the first burst to the last, ``cpu_s`` this process
    took meanwhile, ``short_sends``: bursts the kernel took only part of (a full send buffer;
    the rest went in a later one)."""

    frames: int
    played_s: float
    cpu_s: float
    short_sends: int


@dataclass
class _Bus:
    sock: socket.socket
    sender: MmsgSender
    times: np.ndarray
    sent: int = 0


def can_frames(frames: CandumpFrames) -> bytes:
    """The log's frames as the kernel's 16-byte ``can_frame`` records, in log order.

    Raises ``ValueError`` for a CAN FD frame (the e2e traffic has none)."""
    if frames.is_fd.any():
        raise ValueError("CAN FD frames: the player sends classic frames only")
    records = np.zeros(len(frames), dtype=_CAN_FRAME)
    records["can_id"] = (
        frames.arbitration_id
        | np.where(frames.is_extended, np.uint32(CAN_EFF_FLAG), np.uint32(0))
        | np.where(frames.is_remote, np.uint32(CAN_RTR_FLAG), np.uint32(0))
    )
    records["len"] = frames.dlc
    records["data"] = frames.data[:, :8]
    return records.tobytes()


def play(frames: CandumpFrames, *, tick_s: float = TICK_S) -> PlayResult:
    """Send ``frames`` on the interfaces their channels name, at their logged times from now.

    Raises ``FirmwareError`` where there is no ``sendmmsg`` or an interface cannot be opened."""
    sendmmsg = load_sendmmsg()
    if sendmmsg is None:
        raise FirmwareError("no sendmmsg in this C library: play the log with canplayer")
    records = np.frombuffer(can_frames(frames), dtype=np.uint8).reshape(-1, CAN_MTU)
    times = frames.timestamp - (frames.timestamp.min() if len(frames) else 0.0)
    buses: list[_Bus] = []
    try:
        for index, name in enumerate(frames.channels):
            mine = frames.channel == index
            sock = _open(name)
            buses.append(
                _Bus(sock, MmsgSender(sendmmsg, records[mine].tobytes(), CAN_MTU), times[mine])
            )
        return _run(buses, tick_s)
    finally:
        for bus in buses:
            bus.sock.close()


def _open(interface: str) -> socket.socket:
    sock = socket.socket(socket.AF_CAN, socket.SOCK_RAW, socket.CAN_RAW)
    try:
        # No filter: this socket receives nothing, so nothing queues up on it.
        sock.setsockopt(socket.SOL_CAN_RAW, socket.CAN_RAW_FILTER, b"")
        sock.bind((interface,))
    except OSError as err:
        sock.close()
        raise FirmwareError(f"e2e player: cannot send on {interface!r}: {err}") from err
    return sock


def _run(buses: Sequence[_Bus], tick_s: float) -> PlayResult:
    short_sends = 0
    start, cpu_start = time.monotonic(), time.process_time()
    while True:
        elapsed = time.monotonic() - start
        next_due = math.inf
        for bus in buses:
            due = int(np.searchsorted(bus.times, elapsed, side="right"))
            if due > bus.sent:
                sent = bus.sender.send(bus.sock.fileno(), bus.sent, due)
                short_sends += sent < due - bus.sent
                bus.sent += sent
            if bus.sent < bus.sender.count:
                next_due = min(next_due, float(bus.times[bus.sent]))
        if next_due == math.inf:
            break
        delay = max(next_due, elapsed + tick_s) - (time.monotonic() - start)
        if delay > 0:
            time.sleep(delay)
    return PlayResult(
        sum(b.sender.count for b in buses),
        time.monotonic() - start,
        time.process_time() - cpu_start,
        short_sends,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log", type=Path, help="a candump log (-L format)")
    parser.add_argument("--tick-s", type=float, default=TICK_S, help="burst period per bus")
    args = parser.parse_args(argv)
    frames = parse_candump(args.log.read_text().splitlines())
    if frames.rejects:
        raise FirmwareError(f"e2e player: lines of {args.log} not frames: {dict(frames.rejects)}")
    result = play(frames, tick_s=args.tick_s)
    json.dump(dataclasses.asdict(result), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
