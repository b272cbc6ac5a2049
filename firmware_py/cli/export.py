"""``roadgate export``: a flight log (or a time window of it) to the usual tools' formats.

* ``candump``, ``asc``, ``blf``: CAN frames, through python-can's writers (``hal.can.log_files``),
  one file per bus when the log has several (``OUT`` with the bus before the suffix).
* ``nmea``: the serial lines as text, one per line with CR LF.
* ``pcap``: V2X and SPaT datagrams as IPv4/UDP packets (LINKTYPE_RAW) from dpkt, with their
  receive times. The log keeps payloads, not addresses: a datagram heard comes from 192.0.2.1
  (TEST-NET-1) to 127.0.0.1, one sent goes the other way, and each channel has its own UDP
  port, 40000 upwards, listed on standard error.
* ``jsonl``: the published envelopes and the MQTT messages received, decoded with the v1
  protobuf schema, one JSON object a line: ``{"t", "topic", "envelope"}``, a received one
  with ``"received_by"`` (the box's subscriber, e.g. ``state-feed``); bytes that are not an
  Envelope as ``payload_hex``.
* ``mcap``: the window as a flight log of its own (what an incident report uploads).

``--around EVENT_ID --seconds S`` keeps S seconds before and after the event's time (the
events stream's envelope with that ``event_id``); ``--start``/``--end`` take Unix seconds or
ISO 8601 times (UTC unless they say otherwise).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from firmware_py.cli.record import log_files
from firmware_py.errors import FirmwareError

if TYPE_CHECKING:
    from edge.recording.reader import LogItem, ReadReport

FORMATS = ("candump", "asc", "blf", "nmea", "pcap", "jsonl", "mcap")
CAN_SUFFIX = {"candump": ".log", "asc": ".asc", "blf": ".blf"}
PEER, BOX = "192.0.2.1", "127.0.0.1"
FIRST_UDP_PORT = 40000
LINKTYPE_RAW = 101


def instant(text: str) -> float:
    """``--start``/``--end``: Unix seconds, or an ISO 8601 time (UTC when it has no zone)."""
    from edge.recording.instant import parse_instant

    try:
        return parse_instant(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def register(commands: Any) -> None:
    """Add ``export`` to the top-level subparsers ``commands``."""
    export = commands.add_parser(
        "export",
        help="convert a flight log to candump, ASC, BLF, NMEA, pcap or JSON lines",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("logs", type=Path, nargs="+", metavar="LOG", help="files or directories")
    export.add_argument("--to", choices=FORMATS, required=True, help="the output format")
    export.add_argument("-o", "--out", type=Path, required=True, help="the output file")
    export.add_argument("--source", help="only this bus, serial port or datagram port")
    export.add_argument("--around", metavar="EVENT_ID", help="cut around this event")
    export.add_argument(
        "--seconds", type=float, default=30.0, help="with --around: seconds each side (30)"
    )
    export.add_argument("--start", type=instant, help="from this time")
    export.add_argument("--end", type=instant, help="to this time")
    export.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    if args.around is not None and (args.start is not None or args.end is not None):
        raise FirmwareError("give --around or --start/--end, not both")
    if not (math.isfinite(args.seconds) and args.seconds >= 0):
        raise FirmwareError("--seconds must be finite and >= 0")
    files = log_files(args.logs)
    start, end = _window(files, args.around, args.seconds, args.start, args.end)
    written = run_export(files, args.to, args.out, start, end, args.source, sys.stderr)
    print(f"roadgate export: {written} written", file=sys.stderr)
    return 0


def _window(
    files: list[Path], around: str | None, seconds: float, start: float | None, end: float | None
) -> tuple[float, float]:
    if around is None:
        return (-math.inf if start is None else start), (math.inf if end is None else end)
    from edge.recording.cut import window_around

    window = window_around(files, around, seconds)
    if window is None:
        raise FirmwareError(f"event {around!r} is not in the events stream of the log")
    return window


def run_export(
    files: list[Path],
    fmt: str,
    out: Path,
    start: float,
    end: float,
    source: str | None,
    notes: TextIO,
) -> str:
    """Write the items of ``files`` in ``[start, end]`` (of ``source`` only, if given) to
    ``out`` as ``fmt``; returns what was written, in words. Damage met in the log is reported
    on ``notes``."""
    from edge.recording.reader import read_logs
    from edge.recording.window import within

    reports: list[ReadReport] = []
    items: Iterable[LogItem] = within(read_logs(files, reports), start, end)
    if source is not None:
        items = (item for item in items if item.channel.source == source)
    try:
        if fmt in CAN_SUFFIX:
            written = _can(items, fmt, out)
        elif fmt == "nmea":
            written = _nmea(items, out)
        elif fmt == "pcap":
            written = _pcap(items, out, notes)
        elif fmt == "mcap":
            written = _mcap(items, out, files)
        else:
            written = _jsonl(items, out)
    except OSError as err:
        raise FirmwareError(f"cannot write {out}: {err.strerror or err}") from err
    for report in reports:
        if report.damaged:
            notes.write(f"roadgate export: {report.path}: {report.summary()}\n")
    return written


def _can(items: Iterable[LogItem], fmt: str, out: Path) -> str:
    import numpy as np

    from edge.recording.reader import CanItem
    from hal.can.log_files import write_can_log

    suffix = CAN_SUFFIX[fmt]
    if out.suffix != suffix:
        raise FirmwareError(f"a {fmt} file must end in {suffix}: {out}")
    buses: dict[str, list[Any]] = {}
    for item in items:
        if isinstance(item, CanItem):
            buses.setdefault(item.channel.source, []).append(item.frames)
    if not buses:
        raise FirmwareError("no CAN frames in the log (or in the window)")
    parts = []
    for bus, batches in buses.items():
        frames = np.concatenate(batches)
        frames = frames[np.argsort(frames["timestamp"], kind="stable")]
        path = out if len(buses) == 1 else out.with_suffix(f".{bus}{suffix}")
        count = write_can_log(path, frames)
        parts.append(f"{count} frames of {bus} to {path}")
    return "; ".join(parts)


def _nmea(items: Iterable[LogItem], out: Path) -> str:
    from edge.recording.reader import LineItem

    count = 0
    with out.open("wb") as file:
        for item in items:
            if isinstance(item, LineItem):
                file.write(item.line + b"\r\n")
                count += 1
    return f"{count} lines to {out}"


def _pcap(items: Iterable[LogItem], out: Path, notes: TextIO) -> str:
    import socket

    import dpkt

    from edge.recording.log_format import Kind
    from edge.recording.reader import DatagramItem

    ports: dict[str, int] = {}
    count = 0
    with out.open("wb") as file:
        writer = dpkt.pcap.Writer(file, snaplen=65535, linktype=LINKTYPE_RAW, nano=True)
        for item in items:
            if not isinstance(item, DatagramItem):
                continue
            topic = item.channel.topic
            if topic not in ports:
                ports[topic] = FIRST_UDP_PORT + len(ports)
                notes.write(f"roadgate export: {topic} is UDP port {ports[topic]}\n")
            port = ports[topic]
            sent = item.channel.kind is Kind.V2X_TX
            src, dst = (BOX, PEER) if sent else (PEER, BOX)
            udp = dpkt.udp.UDP(sport=port, dport=port, data=item.payload)
            udp.ulen = len(udp)
            packet = dpkt.ip.IP(
                src=socket.inet_aton(src),
                dst=socket.inet_aton(dst),
                p=dpkt.ip.IP_PROTO_UDP,
                ttl=64,
                data=udp,
            )
            packet.len = len(packet)
            writer.writepkt(bytes(packet), ts=item.timestamp)
            count += 1
    return f"{count} datagrams to {out}"


def _mcap(items: Iterable[LogItem], out: Path, files: list[Path]) -> str:
    from edge.recording.cut import cut_metadata
    from edge.recording.window import write_log

    if out.resolve() in {path.resolve() for path in files}:
        raise FirmwareError(f"{out} is one of the logs read: write the cut elsewhere")
    # The metadata of edge.recording.cut: a box's ``record upload`` writes the same file.
    count = write_log(out, items, cut_metadata(files))
    return f"{count} messages to {out}"


def _jsonl(items: Iterable[LogItem], out: Path) -> str:
    from google.protobuf.json_format import MessageToDict
    from google.protobuf.message import DecodeError

    from edge.recording.reader import EnvelopeItem, MqttItem
    from protocols.schema.v1 import roadgate_pb2 as pb

    count = received = undecodable = 0
    with out.open("w") as file:
        for item in items:
            line: dict[str, Any]
            if isinstance(item, EnvelopeItem):
                line, payload = {"t": item.timestamp, "topic": item.channel.source}, item.payload
            elif isinstance(item, MqttItem):
                line = {
                    "t": item.timestamp,
                    "topic": item.topic,
                    "received_by": item.channel.source,
                }
                payload = item.message
                received += 1
            else:
                continue
            try:
                envelope = pb.Envelope.FromString(payload)
                line["envelope"] = MessageToDict(envelope, preserving_proto_field_name=True)
                count += 1
            except DecodeError as err:
                line["error"] = f"not a v1 Envelope: {err}"
                line["payload_hex"] = payload.hex()
                undecodable += 1
            file.write(json.dumps(line) + "\n")
    bad = f" ({undecodable} undecodable, kept as hex)" if undecodable else ""
    heard = f" ({received} lines are MQTT messages the box received)" if received else ""
    return f"{count} envelopes{bad} to {out}{heard}"
