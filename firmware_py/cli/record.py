"""``roadgate record``: a bench capture of live interfaces into a flight log, without the pipeline;
``roadgate record info LOG``: what a flight log holds.

Each CAN bus, serial port and UDP port is read on a thread of its own through the project's
ports (``hal``) and written by ``edge.recording.FlightRecorder``, in the format the daemon's
recorder writes (``edge/recording/__init__.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from firmware_py.cli.arguments import duration, host_port, positive_int
from firmware_py.errors import FirmwareError

if TYPE_CHECKING:
    from edge.recording.log_format import Kind
    from edge.recording.summary import LogSummary
    from edge.recording.writer import FlightRecorder
    from hal.can.port import CanPort
    from hal.net.port import DatagramPort
    from hal.serial.port import SerialLinePort

MiB = 1024 * 1024
POLL_S = 0.1


@dataclass(frozen=True)
class CanSource:
    name: str
    interface: str
    channel: str


@dataclass(frozen=True)
class SerialSource:
    name: str
    url: str
    baudrate: int


@dataclass(frozen=True)
class UdpSource:
    kind: str  # "spat" or "v2x"
    name: str
    host: str
    port: int


def can_source(text: str) -> CanSource:
    """``[NAME=][INTERFACE:]CHANNEL``: ``can0``, ``vehicle=socketcan:can0``,
    ``bench=virtual:test``. The interface defaults to socketcan, the name to the channel."""
    name, _, spec = text.rpartition("=")
    interface, _, channel = spec.rpartition(":")
    if not channel:
        raise argparse.ArgumentTypeError(f"no CAN channel in {text!r}")
    return CanSource(name or channel, interface or "socketcan", channel)


def serial_source(text: str) -> SerialSource:
    """``[NAME=]PATH[@BAUD]``: ``/dev/ttyACM0``, ``gnss=/dev/gnss@115200``."""
    name, _, spec = text.partition("=") if "=" in text else ("", "", text)
    url, _, baud = spec.rpartition("@") if "@" in spec else (spec, "", "")
    if not url:
        raise argparse.ArgumentTypeError(f"no serial device in {text!r}")
    try:
        baudrate = positive_int(baud) if baud else 9600
    except argparse.ArgumentTypeError as err:
        raise argparse.ArgumentTypeError(f"bad baud rate in {text!r}: {err}") from None
    return SerialSource(name or Path(url).name or url, url, baudrate)


def _udp_source(kind: str, default_name: str) -> Callable[[str], UdpSource]:
    def parse(text: str) -> UdpSource:
        name, _, spec = text.partition("=") if "=" in text else ("", "", text)
        return UdpSource(kind, name or default_name, *host_port(spec, "0.0.0.0"))

    return parse


def register(commands: Any) -> None:
    """Add ``record`` (and ``record info``) to the top-level subparsers ``commands``."""
    record = commands.add_parser(
        "record",
        help="capture CAN, serial and UDP interfaces into a flight log (MCAP)",
        description="Record live interfaces into rotating MCAP flight logs, as the daemon's "
        "recorder does, without running the pipeline. Stops after --duration or on Ctrl-C. "
        "'roadgate record info LOG' summarises a log.",
    )
    record.add_argument(
        "--can",
        type=can_source,
        action="append",
        default=[],
        metavar="[NAME=][IFACE:]CHANNEL",
        help="a CAN bus (interface: socketcan by default, or any python-can interface)",
    )
    record.add_argument(
        "--serial",
        type=serial_source,
        action="append",
        default=[],
        metavar="[NAME=]PATH[@BAUD]",
        help="a serial line port (default 9600 baud)",
    )
    record.add_argument(
        "--spat",
        type=_udp_source("spat", "signal-controller"),
        action="append",
        default=[],
        metavar="[NAME=][HOST:]PORT",
        help="the UDP port the signal controller sends SPaT to",
    )
    record.add_argument(
        "--v2x",
        type=_udp_source("v2x", "radio"),
        action="append",
        default=[],
        metavar="[NAME=][HOST:]PORT",
        help="the UDP port the C-V2X radio sends what it hears to",
    )
    record.add_argument(
        "-o", "--out", type=Path, default=Path("recording"), help="directory (default: %(default)s)"
    )
    record.add_argument("--prefix", default="roadgate", help="file name prefix")
    record.add_argument(
        "--duration", type=duration, default=0.0, help="seconds to record (0: until Ctrl-C)"
    )
    record.add_argument("--max-file-mb", type=positive_int, default=64, help="rotate at this size")
    record.add_argument(
        "--max-file-age", type=duration, default=900.0, help="rotate at this age, s"
    )
    record.add_argument(
        "--max-total-mb", type=positive_int, default=1024, help="delete the oldest files beyond"
    )
    record.set_defaults(handler=_record)
    actions = record.add_subparsers(required=False, metavar="ACTION")
    info = actions.add_parser("info", help="summarise a flight log: span, channels, counts, gaps")
    info.add_argument("logs", type=Path, nargs="+", metavar="LOG", help="files or directories")
    info.add_argument(
        "--gap", type=float, default=1.0, help="report silences longer than this, s (default 1)"
    )
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    info.set_defaults(handler=_info)


def log_files(paths: list[Path]) -> list[Path]:
    """Files as given; a directory stands for its ``*.mcap`` files in name order."""
    files: list[Path] = []
    for path in paths:
        files += sorted(path.glob("*.mcap")) if path.is_dir() else [path]
    if not files:
        raise FirmwareError(f"no flight logs (*.mcap) in {', '.join(map(str, paths))}")
    return files


def _record(args: argparse.Namespace) -> int:
    from edge.recording.writer import FlightRecorder, RecorderLimits

    if not (args.can or args.serial or args.spat or args.v2x):
        raise FirmwareError("nothing to record: give --can, --serial, --spat or --v2x")
    if args.max_file_age <= 0:
        raise FirmwareError("--max-file-age must be positive")
    limits = RecorderLimits(
        max_file_bytes=args.max_file_mb * MiB,
        max_file_age_s=args.max_file_age,
        max_total_bytes=max(args.max_total_mb, args.max_file_mb) * MiB,
    )
    metadata = {"recorded_by": "roadgate record", "host": _hostname()}
    recorder = FlightRecorder(args.out, limits, prefix=args.prefix, metadata=metadata)
    stop = threading.Event()
    with _stop_on_signals(stop):
        run_capture(
            recorder,
            args.can,
            args.serial,
            args.spat + args.v2x,
            duration_s=args.duration,
            stop=stop,
            progress=sys.stderr,
        )
    return 0 if not recorder.dropped else 1


def run_capture(
    recorder: FlightRecorder,
    can: list[CanSource],
    serial: list[SerialSource],
    udp: list[UdpSource],
    *,
    duration_s: float,
    stop: threading.Event,
    progress: TextIO,
) -> None:
    """Open every source, record until ``duration_s`` (0: until ``stop``), close everything.

    Raises ``PortOpenError`` (a ``HalError``) when a source cannot be opened, and
    ``RecordingError`` when the first file cannot be created; a port failing later stops
    the capture and is re-raised after the log is closed.
    """
    from hal.can.registry import create_can_port
    from hal.net.udp_port import UdpDatagramPort
    from hal.serial.pyserial_port import PySerialLinePort

    failures: list[BaseException] = []
    with ExitStack() as stack:
        loops: list[Callable[[], None]] = []
        for bus in can:
            can_port = stack.enter_context(create_can_port(bus.name, bus.interface, bus.channel))
            loops.append(_can_loop(can_port, recorder, stop))
        for line in serial:
            serial_port = stack.enter_context(
                PySerialLinePort(line.name, line.url, baudrate=line.baudrate)
            )
            loops.append(_serial_loop(serial_port, recorder, stop))
        for source in udp:
            udp_port = stack.enter_context(UdpDatagramPort(source.name, source.host, source.port))
            loops.append(_udp_loop(udp_port, _udp_kind(source.kind), recorder, stop))
        stack.callback(recorder.close)
        first = recorder.start()
        progress.write(f"roadgate record: {len(loops)} sources into {first.parent}; Ctrl-C stops\n")
        threads = [
            threading.Thread(target=_guarded(loop, stop, failures), name=f"record-{i}")
            for i, loop in enumerate(loops)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + duration_s if duration_s else float("inf")
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                stop.wait(min(POLL_S, max(0.0, deadline - time.monotonic())))
                recorder.tick()
        finally:
            stop.set()
            for thread in threads:
                thread.join()
    counters = recorder.counters
    progress.write(
        f"roadgate record: {counters['messages']} messages in {counters['files_started']} "
        f"files under {first.parent}"
        + (f"; dropped {dict(recorder.dropped)}" if recorder.dropped else "")
        + "\n"
    )
    if failures:
        raise failures[0]


def _udp_kind(kind: str) -> Kind:
    from edge.recording.log_format import Kind

    return Kind.SPAT if kind == "spat" else Kind.V2X_RX


def _can_loop(port: CanPort, recorder: FlightRecorder, stop: threading.Event) -> Callable[[], None]:
    def loop() -> None:
        while not stop.is_set():
            batch = port.receive(4096, POLL_S)
            if len(batch):
                recorder.can_frames(port.name, batch)

    return loop


def _serial_loop(
    port: SerialLinePort, recorder: FlightRecorder, stop: threading.Event
) -> Callable[[], None]:
    def loop() -> None:
        while not stop.is_set():
            lines = port.read_lines(POLL_S)
            if lines:
                recorder.serial_lines(port.name, lines, time.time())

    return loop


def _udp_loop(
    port: DatagramPort, kind: Kind, recorder: FlightRecorder, stop: threading.Event
) -> Callable[[], None]:
    def loop() -> None:
        while not stop.is_set():
            datagrams = port.receive(POLL_S)
            if datagrams:
                recorder.datagrams(kind, port.name, datagrams)

    return loop


def _guarded(
    loop: Callable[[], None], stop: threading.Event, failures: list[BaseException]
) -> Callable[[], None]:
    def run() -> None:
        try:
            loop()
        except Exception as err:  # a port failing stops the capture; the caller re-raises it
            failures.append(err)
            stop.set()

    return run


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` (the main thread only: tests call from threads)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _hostname() -> str:
    import socket

    return socket.gethostname()


def _info(args: argparse.Namespace) -> int:
    from edge.recording.summary import summarize

    if not (math.isfinite(args.gap) and args.gap > 0):
        raise FirmwareError("--gap must be finite seconds > 0")
    summary = summarize(log_files(args.logs), args.gap)
    if args.json:
        print(json.dumps(summary.as_json(), indent=2))
    else:
        sys.stdout.write(format_summary(summary))
    return 0


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


def format_summary(summary: LogSummary) -> str:
    """The human-readable ``record info`` text."""
    reports = summary.reports
    complete = sum(report.complete for report in reports)
    lines = [f"files: {len(reports)} ({complete} complete, {len(reports) - complete} cut short)"]
    if summary.first is not None and summary.last is not None:
        lines.append(
            f"span: {_utc(summary.first)} .. {_utc(summary.last)} ({summary.duration:.3f} s)"
        )
    else:
        lines.append("span: no messages")
    lines.append("channels:")
    for stats in summary.channels.values():
        unit = "frames" if stats.kind == "can" else "messages"
        lines.append(
            f"  {stats.topic}: {stats.frames} {unit}"
            + (f" in {stats.messages} batches" if stats.kind == "can" else "")
            + f", {stats.rate:.1f}/s"
        )
    gappy = [stats for stats in summary.channels.values() if stats.gap_count]
    lines.append(f"gaps over {summary.gap_s:g} s:" + ("" if gappy else " none"))
    for stats in gappy:
        start, length = stats.gaps[0]
        lines.append(
            f"  {stats.topic}: {stats.gap_count}, longest {length:.3f} s from {_utc(start)}"
        )
    damaged = [report for report in reports if report.damaged]
    lines.append("damage:" + ("" if damaged else " none"))
    for report in damaged:
        lines.append(f"  {report.path}: {report.summary()}")
        lines += [f"    {note}" for note in report.damage]
    return "\n".join(lines) + "\n"
