"""Reading flight logs front to back, through damage: what is readable is read, the rest counted.

The reader never seeks to MCAP's summary (a killed recorder writes none): it walks the records
from the start. A chunk whose CRC or compression is broken is skipped whole and reading goes
on with the next record; where the record framing itself is lost (a truncated tail, a broken
length) it searches forward for the next chunk that passes its CRC. ``LogReader.report`` says
what was skipped, in bytes, chunks and messages by reason. Every item it yields
comes from a chunk that passed its CRC (the recorder writes messages in chunks only, and
always with a CRC). The only errors are ``RecordingError`` (cannot open) and
``NotARecordingError`` (not MCAP at all).

Items come in file order, which is the order they were recorded; ``in_time_order`` merges
them by their original timestamps (CAN batches split into frames) for a replayer.
"""

from __future__ import annotations

import heapq
import io
import itertools
import mmap
import re
import struct
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mcap.data_stream import ReadDataStream
from mcap.exceptions import McapError
from mcap.records import Channel, Metadata

from edge.recording.errors import NotARecordingError, RecordingError
from edge.recording.log_format import (
    NS_PER_S,
    ChannelSpec,
    Kind,
    decode_can_batch,
    decode_mqtt_message,
)
from hal.can.frames import FrameBatch

MAGIC = b"\x89MCAP0\r\n"
MAX_CHUNK_BYTES = 256 * 1024 * 1024
"""A chunk claiming to expand to more than this is damaged (the writer makes ~1 MiB ones)."""
MAX_DAMAGE_NOTES = 20

_RECORD_HEADER = struct.Struct("<BQ")
_MESSAGE_HEADER = struct.Struct("<HIQQ")
_CHUNK_FIXED = struct.Struct("<QQQII")  # start, end, uncompressed size, crc, compression len
_OP_HEADER, _OP_FOOTER, _OP_CHANNEL, _OP_MESSAGE, _OP_CHUNK = 0x01, 0x02, 0x04, 0x05, 0x06
_OP_METADATA, _OP_LAST_KNOWN, _OP_PRIVATE = 0x0C, 0x0F, 0x80
_CHUNK_CANDIDATE = re.compile(
    rb"\x06.{8}.{28}(?:\x04\x00\x00\x00zstd|\x03\x00\x00\x00lz4|\x00\x00\x00\x00)", re.DOTALL
)
_DECODE_ERRORS = (McapError, struct.error, ValueError, UnicodeDecodeError, IndexError)


@dataclass(frozen=True, slots=True)
class CanItem:
    """Frames of one bus (``channel.source``) as one read returned them."""

    channel: ChannelSpec
    timestamp: float
    frames: FrameBatch


@dataclass(frozen=True, slots=True)
class LineItem:
    """One serial line (without CR/LF)."""

    channel: ChannelSpec
    timestamp: float
    line: bytes


@dataclass(frozen=True, slots=True)
class DatagramItem:
    """One datagram: V2X heard or sent, or SPaT from the signal controller."""

    channel: ChannelSpec
    timestamp: float
    payload: bytes


@dataclass(frozen=True, slots=True)
class EnvelopeItem:
    """One published Envelope's bytes; its MQTT topic is ``channel.source``."""

    channel: ChannelSpec
    timestamp: float
    payload: bytes


@dataclass(frozen=True, slots=True)
class MqttItem:
    """One MQTT message the box received (client ``channel.source``), before it checked it:
    its ``topic`` and ``message`` (the MQTT payload); ``payload`` is the log's own bytes
    (``roadgate.mqtt-message.v1``), so a cut writes it back unchanged."""

    channel: ChannelSpec
    timestamp: float
    payload: bytes
    topic: str
    message: bytes


LogItem = CanItem | LineItem | DatagramItem | EnvelopeItem | MqttItem


@dataclass
class ReadReport:
    """What reading one file found: messages read, and what was skipped and why."""

    path: Path
    size: int = 0
    messages: int = 0
    complete: bool = False
    """The file ends with MCAP's footer (closed normally)."""
    skipped_bytes: int = 0
    skipped_chunks: int = 0
    skipped_messages: Counter[str] = field(default_factory=Counter)
    damage: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def damaged(self) -> bool:
        return bool(self.skipped_bytes or self.skipped_chunks or self.skipped_messages)

    def note(self, offset: int, what: str) -> None:
        if len(self.damage) < MAX_DAMAGE_NOTES:
            self.damage.append(f"offset {offset}: {what}")

    def summary(self) -> str:
        """One line: complete or not, and what was skipped."""
        state = "complete" if self.complete else "no footer (recording was cut short)"
        if not self.damaged:
            return f"{self.messages} messages, {state}"
        skipped = ", ".join(f"{count} {reason}" for reason, count in self.skipped_messages.items())
        return (
            f"{self.messages} messages, {state}; skipped {self.skipped_bytes} bytes, "
            f"{self.skipped_chunks} damaged chunks, messages: {skipped or 'none'}"
        )


class LogReader:
    """Iterates one flight log's items in file order; ``report`` fills in as it goes.

    Raises ``RecordingError`` when the file cannot be opened and ``NotARecordingError`` when
    it does not start with MCAP's magic (an empty file, or a cut-short magic, is an empty
    log, not an error).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.report = ReadReport(path)
        try:
            with path.open("rb") as file:
                self._data = _map(file)
        except OSError as err:
            raise RecordingError(f"cannot read {path}: {err.strerror or err}") from err
        self.report.size = len(self._data)
        head = bytes(self._data[: len(MAGIC)])
        if not MAGIC.startswith(head):
            raise NotARecordingError(f"{path} is not an MCAP flight log (wrong magic bytes)")
        if len(head) < len(MAGIC):
            self.report.skipped_bytes = len(head)
            if head:
                self.report.note(0, "file ends inside the magic bytes")
        self._channels: dict[int, ChannelSpec | None] = {}
        self._verified: set[int] = set()

    def __iter__(self) -> Iterator[LogItem]:
        return self._records(self._data, len(MAGIC), top_level=True)

    def _records(self, data: bytes | mmap.mmap, pos: int, *, top_level: bool) -> Iterator[LogItem]:
        end = len(data)
        report = self.report
        while pos < end:
            if end - pos < _RECORD_HEADER.size:
                pos = self._damaged(data, pos, "record header cut short", top_level)
                continue
            opcode, length = _RECORD_HEADER.unpack_from(data, pos)
            body_start = pos + _RECORD_HEADER.size
            if length > end - body_start:
                pos = self._damaged(
                    data, pos, f"record of {length} bytes runs past the end", top_level
                )
                continue
            if opcode == 0 or _OP_LAST_KNOWN < opcode < _OP_PRIVATE:
                pos = self._damaged(data, pos, f"invalid opcode {opcode:#x}", top_level)
                continue
            body = data[body_start : body_start + length]
            next_pos = body_start + length
            try:
                if opcode == _OP_MESSAGE and top_level:
                    # The recorder writes messages in chunks only: one out here is damage
                    # that happens to look like a record, not something recorded.
                    report.skipped_messages["outside_chunks"] += 1
                elif opcode == _OP_MESSAGE:
                    item = self._message(bytes(body))
                    if item is not None:
                        yield item
                elif opcode == _OP_CHUNK:
                    inner = self._chunk(bytes(body), pos)
                    if inner is not None:
                        yield from self._records(inner, 0, top_level=False)
                elif opcode == _OP_CHANNEL:
                    self._channel(bytes(body), verified=not top_level)
                elif opcode == _OP_METADATA:
                    metadata = Metadata.read(_stream(bytes(body)))
                    report.metadata.update(metadata.metadata)
                elif opcode == _OP_FOOTER and top_level:
                    report.complete = True
                    return
            except _DECODE_ERRORS as err:
                report.skipped_bytes += next_pos - pos
                report.note(pos, f"unreadable record {opcode:#x}: {err}")
            pos = next_pos

    def _damaged(self, data: bytes | mmap.mmap, pos: int, what: str, top_level: bool) -> int:
        """Skip from ``pos`` to the next chunk that passes its checks (or the end)."""
        end = len(data)
        found = _CHUNK_CANDIDATE.search(data, pos + 1) if top_level else None
        while found is not None and self._chunk_at(data, found.start()) is None:
            found = _CHUNK_CANDIDATE.search(data, found.start() + 1)
        resume = found.start() if found is not None else end
        self.report.skipped_bytes += resume - pos
        where = f"resumed at {resume}" if found is not None else "nothing readable after it"
        self.report.note(pos, f"{what}; skipped {resume - pos} bytes, {where}")
        return resume

    def _chunk_at(self, data: bytes | mmap.mmap, pos: int) -> bytes | None:
        """The records of a chunk that starts at ``pos`` and passes its CRC, else None."""
        (length,) = struct.unpack_from("<Q", data, pos + 1)
        body_start = pos + _RECORD_HEADER.size
        if length > len(data) - body_start:
            return None
        return _unpack_chunk(bytes(data[body_start : body_start + length]))[0]

    def _chunk(self, body: bytes, offset: int) -> bytes | None:
        records, problem = _unpack_chunk(body)
        if records is None:
            self.report.skipped_chunks += 1
            self.report.skipped_bytes += _RECORD_HEADER.size + len(body)
            self.report.note(offset, f"damaged chunk skipped: {problem}")
        return records

    def _channel(self, body: bytes, *, verified: bool) -> None:
        """A channel definition; one read in a CRC-checked chunk wins over copies outside."""
        channel = Channel.read(_stream(body))
        if channel.id in self._verified:
            return
        self._channels[channel.id] = ChannelSpec.from_channel(channel.topic, channel.metadata)
        if verified:
            self._verified.add(channel.id)

    def _message(self, body: bytes) -> LogItem | None:
        report = self.report
        channel_id, _, log_time, _ = _MESSAGE_HEADER.unpack_from(body)
        data = body[_MESSAGE_HEADER.size :]
        if channel_id not in self._channels:
            report.skipped_messages["unknown_channel"] += 1
            return None
        spec = self._channels[channel_id]
        if spec is None:
            report.skipped_messages["foreign_channel"] += 1
            return None
        timestamp = log_time / NS_PER_S
        report.messages += 1
        if spec.kind is Kind.CAN:
            try:
                frames = decode_can_batch(data)
            except ValueError:
                report.messages -= 1
                report.skipped_messages["bad_can_batch"] += 1
                return None
            first = float(frames["timestamp"][0]) if len(frames) else timestamp
            return CanItem(spec, first, frames)
        if spec.kind is Kind.SERIAL:
            return LineItem(spec, timestamp, data)
        if spec.kind is Kind.ENVELOPE:
            return EnvelopeItem(spec, timestamp, data)
        if spec.kind is Kind.MQTT_IN:
            try:
                topic, message = decode_mqtt_message(data)
            except ValueError:
                report.messages -= 1
                report.skipped_messages["bad_mqtt_message"] += 1
                return None
            return MqttItem(spec, timestamp, data, topic, message)
        return DatagramItem(spec, timestamp, data)


def _map(file: io.BufferedReader) -> bytes | mmap.mmap:
    try:
        return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    except ValueError:  # an empty file cannot be mapped
        return b""


def _stream(body: bytes) -> ReadDataStream:
    return ReadDataStream(io.BytesIO(body))


def _unpack_chunk(body: bytes) -> tuple[bytes | None, str]:
    """A chunk record's body to its uncompressed records, or None and what is wrong."""
    try:
        _, _, size, crc, name_length = _CHUNK_FIXED.unpack_from(body)
        offset = _CHUNK_FIXED.size + name_length
        compression = body[_CHUNK_FIXED.size : offset].decode()
        (data_length,) = struct.unpack_from("<Q", body, offset)
    except (struct.error, UnicodeDecodeError):
        return None, "chunk header cut short"
    payload = body[offset + 8 :]
    if data_length != len(payload):
        return None, f"chunk data of {len(payload)} bytes, header says {data_length}"
    if size > MAX_CHUNK_BYTES:
        return None, f"chunk claims {size} uncompressed bytes"
    try:
        records = _decompress(compression, payload, size)
    except Exception as err:  # each codec fails its own way on bad input
        return None, f"{compression} data does not decompress: {err}"
    if len(records) != size:
        return None, f"chunk expands to {len(records)} bytes, header says {size}"
    if zlib.crc32(records) != crc:  # the recorder always writes one: 0 is damage too
        return None, "chunk CRC mismatch"
    return records, ""


def _decompress(compression: str, payload: bytes, size: int) -> bytes:
    if compression == "":
        return payload
    if compression == "zstd":
        import zstandard

        with zstandard.ZstdDecompressor().stream_reader(payload) as reader:
            out: bytes = reader.read(size + 1)
            return out
    if compression == "lz4":
        import lz4.frame  # type: ignore[import-untyped]

        decompressor = lz4.frame.LZ4FrameDecompressor()
        lz4_out: bytes = decompressor.decompress(payload, max_length=size + 1)
        return lz4_out
    raise ValueError(f"unknown compression {compression!r}")


def read_logs(paths: Iterable[Path], reports: list[ReadReport] | None = None) -> Iterator[LogItem]:
    """The items of several logs (say, one recording's rotated files, in name order), one file
    after the other; each file's report is appended to ``reports`` when it is opened."""
    for path in paths:
        reader = LogReader(path)
        if reports is not None:
            reports.append(reader.report)
        yield from reader


def in_time_order(items: Iterable[LogItem], window_s: float = 2.0) -> Iterator[LogItem]:
    """``items`` sorted by their original timestamps, CAN batches split into single frames.

    The recorder writes items as they arrive, so an item is never much older than those
    written before it; holding ``window_s`` of items is enough to sort them. An item older
    than one already yielded by more than that comes out late rather than being dropped.
    """
    heap: list[tuple[float, int, LogItem]] = []
    order = itertools.count()
    newest = float("-inf")
    for item in items:
        if isinstance(item, CanItem):
            frames, channel = item.frames, item.channel
            times: list[float] = frames["timestamp"].tolist()
            for i, at in enumerate(times):
                frame = CanItem(channel, at, frames[i : i + 1])
                heapq.heappush(heap, (at, next(order), frame))
            if times:
                newest = max(newest, max(times))
        else:
            heapq.heappush(heap, (item.timestamp, next(order), item))
            newest = max(newest, item.timestamp)
        while heap and heap[0][0] <= newest - window_s:
            yield heapq.heappop(heap)[2]
    while heap:
        yield heapq.heappop(heap)[2]
