"""Cutting a recording in time (around an event the box published, or between two instants),
and writing a cut as a flight log of its own."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from google.protobuf.message import DecodeError

from edge.recording.log_file import LogFile
from edge.recording.log_format import encode_can_batch, to_ns
from edge.recording.reader import CanItem, EnvelopeItem, LineItem, LogItem, read_logs
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import Stream

EVENTS_SUFFIX = f"/{Stream.EVENTS.value}"
CUT_CHUNK_BYTES = 1024 * 1024


def event_time(paths: Iterable[Path], event_id: str) -> float | None:
    """When the event ``event_id`` happened: the capture time of the first envelope on an
    ``events`` stream carrying it (its publish time when it has none), or None."""
    for item in read_logs(paths):
        if not isinstance(item, EnvelopeItem) or not item.channel.source.endswith(EVENTS_SUFFIX):
            continue
        try:
            envelope = pb.Envelope.FromString(item.payload)
        except DecodeError:
            continue
        if envelope.WhichOneof("body") == "event" and envelope.event.event_id == event_id:
            capture = envelope.capture_time_ns
            return capture / 1e9 if capture > 0 else item.timestamp
    return None


def within(items: Iterable[LogItem], start: float, end: float) -> Iterator[LogItem]:
    """The items (CAN frames one by one) timed in ``[start, end]``."""
    for item in items:
        if isinstance(item, CanItem):
            times = item.frames["timestamp"]
            keep = (times >= start) & (times <= end)
            if keep.all():
                yield item
            elif keep.any():
                frames = item.frames[keep]
                yield CanItem(item.channel, float(frames["timestamp"][0]), frames)
        elif start <= item.timestamp <= end:
            yield item


def write_log(path: Path, items: Iterable[LogItem], metadata: Mapping[str, str]) -> int:
    """Write ``items`` (a cut, say) into a new, complete flight log at ``path``; returns the
    number of messages. Raises ``OSError`` when the file cannot be written."""
    count = 0
    with path.open("wb") as stream:
        log = LogFile(stream, CUT_CHUNK_BYTES, metadata)
        for item in items:
            if isinstance(item, CanItem):
                times = item.frames["timestamp"]
                data = encode_can_batch(item.frames)
                log.add(item.channel, data, to_ns(float(times[0])), to_ns(float(times[-1])))
            else:
                at = to_ns(item.timestamp)
                log.add(
                    item.channel, item.line if isinstance(item, LineItem) else item.payload, at, at
                )
            count += 1
        log.finish()
    return count
